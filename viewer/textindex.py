"""Full-text search over the captured posts: their text, URL, author, tags, case.

An SQLite FTS5 table in the catalog's file, tokenised by ``unicode61`` (Unicode
word boundaries and case folding, so Cyrillic works as Latin does; Latin
diacritics folded; ``ё`` folded to ``е`` here, as Russian writers do), written
in the catalog's transaction with the event it comes from (``TextRows``, a
``viewer.catalog.CatalogPart``). One row per page capture, with the columns a
query can name:

    url      the page URL, its final URL and the post's own URL
    author   the post's author, as the page or extractor claims
    tags     the submission's tags
    case_id  the submission's case
    note     the submitter's note
    body     the post's own text (``post.text``: what the page's JSON-LD or
             description meta says the post is; docs/formats.md)
    page     the page's readable text as captured (``page_text`` of the
             manifest: title and body text, its first 8,000 characters;
             ``archivers.extract.text``)

Not indexed (yet): OCR of screenshots and keyframes. A catalog made before
this index existed has no rows for older captures: delete ``catalog.sqlite``
and the viewer rebuilds it from the topic; one made before the ``page``
column gets it at the viewer's start (``TextRows.upgrade``), from the
manifests it holds.

Queries (``parse_query``): words are ANDed; ``"a phrase"``; a trailing ``*`` is
a prefix (``казарм*``); ``field:word`` looks in one column (``url``,
``author``, ``tag``, ``case``, ``note``, ``text``, ``page``). Every term reaches FTS5
quoted, so no query is a syntax error. Results are ranked by BM25, each with a
snippet whose matched terms are marked (``marks``: [start, end) offsets).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

TEXTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(capture_id UNINDEXED, url, author, tags,
    case_id, note, body, page, tokenize = "unicode61 remove_diacritics 2")"""
SCHEMA = (
    TEXTS  # noqa: S608 - constant text, no value in it
    + """;
CREATE TABLE IF NOT EXISTS text_rows (capture_id TEXT PRIMARY KEY, text_row INTEGER NOT NULL);
INSERT OR REPLACE INTO text_rows (capture_id, text_row)
    SELECT capture_id, max(rowid) FROM texts
    WHERE NOT EXISTS (SELECT 1 FROM text_rows) GROUP BY capture_id;
"""
)
"""``texts`` holds the words; ``text_rows`` which row of it is a capture's, so a
capture indexed again replaces its row by rowid — ``capture_id`` is an
unindexed column of ``texts``, and deleting by it read the whole index for
every event (the catalog's catch-up fell with the square of its size:
benchmarks/catalog.py). A catalog made before ``text_rows`` fills it once."""

COLUMNS = {
    "url": "url",
    "author": "author",
    "tag": "tags",
    "tags": "tags",
    "case": "case_id",
    "note": "note",
    "text": "body",
    "page": "page",
}
"""The ``field:`` names a query may use, and their columns."""
MAX_TERMS = 16
SNIPPET_TOKENS = 24

_START, _END = "\x02", "\x03"
_TERM = re.compile(r'(?:(\w+):)?(?:"([^"]*)"|(\S+))')


def normalise(text: str) -> str:
    """What is indexed and searched: ``ё`` as ``е`` (both cases), no NUL (FTS5
    reads a query as a C string: a NUL would end it mid-phrase)."""
    return text.replace("ё", "е").replace("Ё", "Е").replace("\x00", "")


@dataclass(frozen=True)
class Term:
    text: str
    column: str | None = None
    prefix: bool = False

    def fts(self) -> str:
        quoted = '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")
        return f"{self.column} : {quoted}" if self.column else quoted


def parse_query(query: str) -> list[Term]:
    """The terms of a search (see the module docstring); empty when nothing is searchable."""
    terms = []
    for match in _TERM.finditer(normalise(query)):
        name, phrase, word = match.group(1), match.group(2), match.group(3)
        column = COLUMNS.get(name.lower()) if name else None
        if name and column is None:  # "https://…" or "x:y": one word, as typed
            word = f"{name}:{phrase if phrase is not None else word}"
            phrase = None
        text = phrase if phrase is not None else word
        prefix = False
        if phrase is None and text.endswith("*"):
            text, prefix = text.rstrip("*"), True
        text = text.strip()
        if re.search(r"\w", text):
            terms.append(Term(text, column, prefix))
    return terms[:MAX_TERMS]


class TextRows:
    """The catalog part that writes the text index (``viewer.catalog.CatalogPart``)."""

    schema = SCHEMA

    def prepare(self, table: str, manifest: dict[str, Any], store) -> tuple | None:
        if table != "captures" or not manifest.get("warc_key"):
            return None
        post = manifest.get("post") or {}
        request = manifest.get("request") or {}
        urls = dict.fromkeys(
            u for u in (manifest.get("url"), manifest.get("final_url"), post.get("url")) if u
        )
        return (
            str(manifest["capture_id"]),
            " ".join(urls),
            str(post.get("author") or ""),
            " ".join(str(t) for t in request.get("tags") or []),
            str(request.get("case_id") or ""),
            str(request.get("note") or ""),
            str(post.get("text") or ""),
            str(manifest.get("page_text") or ""),
        )

    def upgrade(self, db) -> None:
        """A catalog whose ``texts`` predates the ``page`` column gets it: the
        index is made again from the manifests in ``captures``, once, in one
        transaction (at the viewer's start)."""
        if "page" in {row[1] for row in db.execute("PRAGMA table_info(texts)")}:
            return
        db.execute("BEGIN")
        try:
            db.execute("DROP TABLE texts")
            db.execute("DELETE FROM text_rows")
            db.execute(TEXTS)
            after = -1
            while rows := db.execute(
                "SELECT rowid, manifest FROM captures WHERE rowid > ? ORDER BY rowid LIMIT 1000",
                (after,),
            ).fetchall():
                for rowid, text in rows:
                    after = rowid
                    try:
                        self.write(db, self.prepare("captures", json.loads(text), None))
                    except (ValueError, TypeError, KeyError):
                        continue  # a row the catalog could not read before either
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def write(self, db, row: tuple | None) -> None:
        if row is None:
            return
        known = db.execute(
            "SELECT text_row FROM text_rows WHERE capture_id = ?", (row[0],)
        ).fetchone()
        if known is not None:
            db.execute("DELETE FROM texts WHERE rowid = ?", (known[0],))
        added = db.execute(
            "INSERT INTO texts (capture_id, url, author, tags, case_id, note, body, page) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (row[0], *(normalise(v) for v in row[1:])),
        )
        db.execute(
            "INSERT OR REPLACE INTO text_rows (capture_id, text_row) VALUES (?, ?)",
            (row[0], added.lastrowid),
        )


@dataclass(frozen=True)
class Hit:
    capture_id: str
    snippet: str
    marks: list[tuple[int, int]]
    rank: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "snippet": self.snippet,
            "marks": [list(m) for m in self.marks],
            "rank": round(self.rank, 4),
        }


def _marked(raw: str) -> tuple[str, list[tuple[int, int]]]:
    """A snippet without FTS5's markers, and where the marked terms are."""
    out, marks, at = [], [], 0
    for part in re.split(f"([{_START}{_END}])", raw):
        if part == _START:
            start = at
        elif part == _END:
            marks.append((start, at))
        else:
            out.append(part)
            at += len(part)
    return "".join(out), marks


class TextIndex:
    """Searches the ``texts`` table through ``query(sql, params)`` (``Catalog.query``)."""

    def __init__(self, query) -> None:
        self._query = query

    def search(self, q: str, limit: int = 50) -> list[Hit]:
        terms = parse_query(q)
        if not terms:
            return []
        try:
            rows = self._query(
                "SELECT capture_id, snippet(texts, -1, ?, ?, '…', ?), bm25(texts) FROM texts "
                "WHERE texts MATCH ? ORDER BY bm25(texts) LIMIT ?",
                (_START, _END, SNIPPET_TOKENS, " AND ".join(t.fts() for t in terms), int(limit)),
            )
        except sqlite3.OperationalError as exc:  # a catalog opened without this part
            if "no such table" in str(exc):
                return []
            raise
        hits = []
        for capture_id, raw, rank in rows:
            snippet, marks = _marked(raw or "")
            snippet = self._as_written(capture_id, snippet)
            hits.append(Hit(capture_id, snippet, marks, float(rank)))
        return hits

    def _as_written(self, capture_id: str, snippet: str) -> str:
        """The snippet in the characters the post wrote: the index holds
        ``normalise``d text (``ё`` as ``е``), and evidence is quoted as it was.
        ``normalise`` maps one character to one, so the snippet's span is found
        in the normalised original and the same span taken from the original
        (the marks' offsets stay right)."""
        found = self._query("SELECT manifest FROM captures WHERE capture_id = ?", (capture_id,))
        if not found:
            return snippet
        try:
            row = TextRows().prepare("captures", json.loads(found[0][0]), None)
        except (ValueError, TypeError, KeyError):
            return snippet
        head = "…" if snippet.startswith("…") else ""
        tail = "…" if snippet.endswith("…") and len(snippet) > len(head) else ""
        core = snippet[len(head) : len(snippet) - len(tail)]
        for value in row[1:] if row else ():
            at = normalise(value).find(core)
            if at >= 0:
                return head + value[at : at + len(core)] + tail
        return snippet
