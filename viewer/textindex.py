"""Full-text search over what was captured: pages, posts, OCR, in any language.

An SQLite FTS5 table in the catalog's file, tokenised by ``unicode61`` (Unicode
word boundaries and case folding, so Cyrillic works as Latin does; Latin
diacritics folded; ``ё`` folded to ``е`` here, as Russian writers do), written
in the catalog's transaction with the event it comes from (``TextRows``).
One row per text, with the columns a query can name:

    url      the page URL (and its final URL)
    author   the post's author, as the page or extractor claims
    tags     the submission's tags
    case_id  the submission's case
    title    the page's title
    body     the text: the post's own text and the page's readable text
             (a page row), or what OCR read in a screenshot or keyframe (an
             ``ocr`` row), or a clip's own description (a ``media`` row)

The page's readable text is read from its ``conversion`` record, by range,
from the WARC the manifest names (one GET per capture, at indexing time); OCR
texts come with the media manifest. A catalog made before this index existed
has no rows for older captures: delete ``catalog.sqlite`` and the viewer
rebuilds it all from the captures topic.

Queries (``parse_query``): words are ANDed; ``"a phrase"``; a trailing ``*`` is a
prefix (``казарм*``); ``field:word`` looks in one column (``url``, ``author``,
``tag``, ``case``, ``title``, ``text``). Nothing of FTS5's own syntax reaches
it unquoted, so no query is a syntax error. Results are ranked by BM25, each
with a snippet whose matched terms are marked (``marks``: [start, end) offsets).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from typing import Any

from archivers.errors import CaptureError, Retryable

log = logging.getLogger("warcflow.viewer")

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(url, author, tags, case_id, title, body,
    tokenize = "unicode61 remove_diacritics 2");
CREATE TABLE IF NOT EXISTS text_rows (rowid INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL, capture_id TEXT NOT NULL, media_id TEXT, t REAL, origin TEXT);
CREATE INDEX IF NOT EXISTS text_rows_by_capture ON text_rows (capture_id);
"""

COLUMNS = {
    "url": "url",
    "author": "author",
    "tag": "tags",
    "tags": "tags",
    "case": "case_id",
    "title": "title",
    "text": "body",
}
"""The ``field:`` names a query may use, and their columns."""
MAX_RECORD = 2 * 1024 * 1024
"""Largest text record read back for indexing (its gzip member)."""

_START, _END = "\x02", "\x03"
_TERM = re.compile(r'(?:(\w+):)?(?:"([^"]*)"|(\S+))')


def normalise(text: str) -> str:
    """What is indexed and searched: ``ё`` as ``е`` (both cases)."""
    return text.replace("ё", "е").replace("Ё", "Е")


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
        field, phrase, word = match.group(1), match.group(2), match.group(3)
        column = COLUMNS.get(field.lower()) if field else None
        if field and column is None:  # "http://…" or "x:y": one word, as typed
            word = f"{field}:{phrase if phrase is not None else word}"
        text = phrase if phrase is not None else word
        prefix = False
        if phrase is None and text.endswith("*"):
            text, prefix = text.rstrip("*"), True
        text = text.strip()
        if re.search(r"\w", text):
            terms.append(Term(text, column, prefix))
    return terms


def fts_query(terms: list[Term]) -> str:
    return " AND ".join(term.fts() for term in terms)


# -- writing (inside the catalog's transaction) -----------------------------------


class TextRows:
    """The catalog part that writes the text index (``viewer.catalog.CatalogPart``)."""

    schema = SCHEMA

    def prepare(self, table: str, manifest: dict[str, Any], store) -> list[dict[str, Any]]:
        """The rows of one manifest: reads the page's text record from ``store``."""
        if table == "captures":
            return _page_rows(manifest, store)
        return _media_rows(manifest)

    def write(self, db, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            found = db.execute(
                "SELECT rowid FROM text_rows WHERE source = ?", (row["source"],)
            ).fetchone()
            if found:
                db.execute("DELETE FROM texts WHERE rowid = ?", (found[0],))
                db.execute("DELETE FROM text_rows WHERE rowid = ?", (found[0],))
            rowid = db.execute(
                "INSERT INTO text_rows (source, kind, capture_id, media_id, t, origin) "
                "VALUES (?,?,?,?,?,?)",
                (
                    row["source"],
                    row["kind"],
                    row["capture_id"],
                    row.get("media_id"),
                    row.get("t"),
                    row.get("origin"),
                ),
            ).lastrowid
            db.execute(
                "INSERT INTO texts (rowid, url, author, tags, case_id, title, body) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    rowid,
                    *(
                        normalise(row.get(k) or "")
                        for k in ("url", "author", "tags", "case_id", "title", "body")
                    ),
                ),
            )


def _context(manifest: dict[str, Any]) -> dict[str, str]:
    request = manifest.get("request") or {}
    post = manifest.get("post") or {}
    return {
        "author": str(post.get("author") or ""),
        "tags": " ".join(str(t) for t in request.get("tags") or []),
        "case_id": str(request.get("case_id") or ""),
    }


def _page_rows(manifest: dict[str, Any], store) -> list[dict[str, Any]]:
    if not manifest.get("warc_key"):
        return []
    post = manifest.get("post") or {}
    text = manifest.get("text") or {}
    body = [str(post.get("text") or "")]
    if text.get("offset") is not None and text.get("length"):
        try:
            body.append(read_text_record(store, manifest, text))
        except Retryable:
            raise  # the store does not answer: the feed tries the event again
        except (CaptureError, ValueError, KeyError, OSError) as exc:
            log.warning("indexing %s without its page text: %s", manifest["capture_id"], exc)
    urls = list(
        dict.fromkeys(
            u for u in (manifest.get("url"), manifest.get("final_url"), post.get("url")) if u
        )
    )
    return [
        {
            "source": f"page:{manifest['capture_id']}",
            "kind": "page",
            "capture_id": manifest["capture_id"],
            "url": " ".join(urls),
            "title": text.get("title") or "",
            "body": "\n".join(b for b in body if b),
            **_context(manifest),
        }
    ]


def read_text_record(store, manifest: dict[str, Any], text: dict[str, Any]) -> str:
    """The page's readable text: its ``conversion`` record, read by range from the
    version of the WARC the manifest recorded; checked against the digest the
    manifest gives (ValueError if it is not that record)."""
    from warcio.archiveiterator import ArchiveIterator

    offset, length = int(text["offset"]), int(text["length"])
    if length > MAX_RECORD:
        raise ValueError(f"the text record of {manifest['capture_id']} is {length} bytes")
    with store.open(
        manifest["warc_key"], (offset, offset + length - 1), manifest.get("warc_version_id")
    ) as stream:
        member = stream.read(length)
    for record in ArchiveIterator(io.BytesIO(member)):
        if record.rec_headers.get_header("WARC-Record-ID") != text.get("record_id"):
            break
        data = record.content_stream().read()
        if text.get("sha256") and hashlib.sha256(data).hexdigest() != text["sha256"]:
            break
        return data.decode("utf-8", "replace")
    raise ValueError(
        f"{manifest['warc_key']} has no text record {text.get('record_id')} at {offset}"
    )


def _media_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    if manifest.get("status") != "stored":
        return []
    common = {
        "capture_id": manifest["parent_capture_id"],
        "media_id": manifest["media_id"],
        "url": str(manifest.get("page_url") or ""),
        **_context(manifest),
    }
    rows = []
    for n, ocr in enumerate(manifest.get("ocr") or []):
        if ocr.get("text"):
            rows.append(
                {
                    **common,
                    "source": f"ocr:{manifest['media_id']}:{n}",
                    "kind": "ocr",
                    "t": ocr.get("t"),
                    "origin": ocr.get("source"),
                    "body": ocr["text"],
                }
            )
    post = manifest.get("post") or {}
    title = (manifest.get("info") or {}).get("title")
    if post.get("text") or title:
        rows.append(
            {
                **common,
                "source": f"media:{manifest['media_id']}",
                "kind": "media",
                "title": str(title or ""),
                "body": str(post.get("text") or ""),
            }
        )
    return rows


# -- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class TextHit:
    kind: str
    capture_id: str
    media_id: str | None
    t: float | None
    origin: str | None
    url: str
    snippet: str
    marks: list[tuple[int, int]]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "capture_id": self.capture_id,
            "media_id": self.media_id,
            "t": self.t,
            "ocr_of": self.origin,
            "url": self.url,
            "snippet": self.snippet,
            "marks": [list(m) for m in self.marks],
            "score": round(self.score, 4),
        }


def _marked(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet without its markers, and where they were."""
    out, marks, start = [], [], None
    size = 0
    for char in snippet:
        if char == _START:
            start = size
        elif char == _END and start is not None:
            marks.append((start, size))
            start = None
        else:
            out.append(char)
            size += 1
    return "".join(out), marks


class TextIndex:
    """Searches the catalog's text index (``Catalog.query``)."""

    def __init__(self, query) -> None:
        self._query = query

    def search(self, text: str, limit: int = 50) -> list[TextHit]:
        terms = parse_query(text)
        if not terms:
            return []
        rows = self._query(
            "SELECT r.kind, r.capture_id, r.media_id, r.t, r.origin, texts.url, "
            "snippet(texts, -1, char(2), char(3), '…', 24), bm25(texts) "
            "FROM texts JOIN text_rows r ON r.rowid = texts.rowid "
            "WHERE texts MATCH ? ORDER BY bm25(texts) LIMIT ?",
            (fts_query(terms), int(limit)),
        )
        hits = []
        for kind, capture_id, media_id, t, origin, url, snippet, score in rows:
            plain, marks = _marked(snippet)
            hits.append(
                TextHit(
                    kind, capture_id, media_id, t, origin, url.split(" ")[0], plain, marks, score
                )
            )
        return hits

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM text_rows", ())[0][0])
