"""The viewer's catalog: captures, media and the replay index, in one SQLite file.

Derived data only. It is built from the captures topic (``streams.clients.feed``):
for each event the manifest and the CDXJ index are read from S3 and written
here in one transaction together with the event's offset, so a restart resumes
exactly where it stopped and deleting the file rebuilds it all from the log.
Events come in batches (``apply_batch``: a poll's worth, read by several
threads, written up to ``CHUNK`` to a transaction; decision 0027).

Parts of the catalog kept by other modules (``CatalogPart``: the full-text
index, ``viewer.textindex``; the perceptual hashes, ``viewer.hashindex``) add
their tables to the same file and write their rows in the same transaction,
from the same manifest; they read through ``query``.

An event that cannot be applied — not an event at all, or its manifest deleted
or damaged — is quarantined (table ``quarantine``: where, why, the event) in
the same transaction as its offset, and the catalog goes on with the next
one; ``counts()["quarantined"]`` says how many, and ``retry_quarantined``
(at every start of the viewer) applies again those that can be now. Only a
store that does not answer (``Retryable``) stops the feed, to be waited out.

The replay index is a merged CDXJ index: every line of every capture's
``index/…cdxj`` object in one table keyed by (SURT key, timestamp), which is
what pywb's lookups need (exact URL, prefix, closest to a time). A B-tree
lookup costs O(log n) whatever the number of captures; the limit is the disk
of the machine running the viewer (about 300 bytes a line). See
docs/decisions/0005-replay-index.md.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from archivers.errors import Retryable
from archivers.manifests.manifest import Manifest, MediaManifest, parse_document
from archivers.store import layout
from archivers.urls import surt as warcflow_surt
from archivers.warc.cdxj import pinned

log = logging.getLogger("warcflow.viewer")

SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    capture_id TEXT PRIMARY KEY, url TEXT NOT NULL, surt TEXT NOT NULL, status TEXT NOT NULL,
    submitted_at TEXT NOT NULL, fetched_at TEXT, manifest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS captures_by_surt ON captures (surt, capture_id);
CREATE INDEX IF NOT EXISTS captures_by_time ON captures (capture_id);
CREATE TABLE IF NOT EXISTS media (
    media_id TEXT PRIMARY KEY, parent_capture_id TEXT NOT NULL, status TEXT NOT NULL,
    sha256 TEXT, manifest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS media_by_parent ON media (parent_capture_id);
CREATE INDEX IF NOT EXISTS media_by_digest ON media (sha256);
CREATE TABLE IF NOT EXISTS cdx (key TEXT NOT NULL, timestamp TEXT NOT NULL, line TEXT NOT NULL,
    source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cdx_by_key ON cdx (key, timestamp);
CREATE INDEX IF NOT EXISTS cdx_by_source ON cdx (source);
CREATE TABLE IF NOT EXISTS offsets (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    reason TEXT NOT NULL, event TEXT, PRIMARY KEY (partition, "offset"));
CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY, surt TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL, captures INTEGER NOT NULL, latest TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS url_grams USING fts5(url, content = 'urls',
    content_rowid = 'id', tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS urls_added AFTER INSERT ON urls BEGIN
    INSERT INTO url_grams (rowid, url) VALUES (new.id, new.url); END;
CREATE TRIGGER IF NOT EXISTS urls_renamed AFTER UPDATE OF url ON urls
    WHEN old.url <> new.url BEGIN
    INSERT INTO url_grams (url_grams, rowid, url) VALUES ('delete', old.id, old.url);
    INSERT INTO url_grams (rowid, url) VALUES (new.id, new.url); END;
INSERT INTO urls (surt, url, captures, latest)
    SELECT surt, url, COUNT(*), MAX(capture_id) FROM captures
    WHERE NOT EXISTS (SELECT 1 FROM urls) GROUP BY surt;
"""
"""``urls`` is the search box's table: one row per captured URL (SURT), with its
capture count, latest capture and that capture's URL; ``url_grams`` indexes
its URLs by trigram (FTS5), so ``url LIKE '%text%'`` reads the index, not
every capture. A catalog made before ``urls`` fills it once, at open."""
EVENT_KEPT = 64 * 1024
"""Most characters of a quarantined event kept (to apply it again later)."""
CHUNK = 100
"""Most events applied in one transaction (``apply_batch``)."""
READERS = 16
"""Manifests and indexes read from the store at once while a batch is prepared."""


class Item(Protocol):
    """One record of the captures topic, as the feed hands it over."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def event(self) -> dict | None: ...
    @property
    def problem(self) -> str | None: ...


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    event: dict | None
    problem: str | None = None


class CatalogPart(Protocol):
    """Tables another module keeps in the catalog, written with each manifest."""

    schema: str

    def prepare(self, table: str, manifest: dict[str, Any], store) -> Any:
        """What to write for one manifest of ``table`` (``captures`` or ``media``):
        any reading from ``store`` happens here, outside the catalog's lock."""

    def write(self, db: sqlite3.Connection, prepared: Any) -> None:
        """Write ``prepare``'s answer; ``db`` is in the event's transaction."""

    def upgrade(self, db: sqlite3.Connection) -> None:
        """Bring the part's tables of a catalog made by an earlier release up to
        ``schema`` (after it ran; a catalog that needs nothing: nothing done)."""


class Catalog:
    """Thread-safe: one connection, serialised by a lock (writes are short)."""

    def __init__(self, path: Path, parts: tuple[CatalogPart, ...] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.parts = parts
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for part in parts:
            self._db.executescript(part.schema)
            part.upgrade(self._db)
        self._lock = threading.Lock()
        self._readers: ThreadPoolExecutor | None = None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of one read (for the catalog's parts)."""
        with self._lock:
            return list(self._db.execute(sql, params))

    # -- writing (the feed) -------------------------------------------------------

    def offsets(self) -> dict[int, int]:
        with self._lock:
            return dict(self._db.execute("SELECT partition, next_offset FROM offsets"))

    def apply(
        self, partition: int, offset: int, event: dict | None, store, problem: str | None = None
    ) -> None:
        """Record one captures-topic event: ``apply_batch`` of one."""
        self.apply_batch([Record(partition, offset, event, problem)], store)

    def apply_batch(self, items: Sequence[Item], store) -> None:
        """Record captures-topic events (reading their manifests and indexes from
        ``store``, ``READERS`` at once) and the offset after each, in order, in
        transactions of up to ``CHUNK`` events: each event with its offset, or
        neither. Idempotent. A record that is not an event (``problem``), or an
        event that cannot be applied, is quarantined instead. A store that does
        not answer (``Retryable``) for one event: the events before it are
        recorded, then it raises (try again from it).

        The next chunk is read and parsed by the reader threads while this one
        is written (SQLite lets go of the GIL as it writes): catch-up costs
        about the larger of the two, not their sum."""
        chunks = [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]
        pending = self._prepare(chunks[0], store) if chunks else []
        for n, chunk in enumerate(chunks):
            outcomes = [future.result() for future in pending]
            pending = self._prepare(chunks[n + 1], store) if n + 1 < len(chunks) else []
            prepared: list[tuple[Item, Any, str | None]] = []
            waiting: Retryable | None = None
            for item, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, Retryable):
                    waiting = outcome
                    break
                rows, problem = outcome
                prepared.append((item, rows, problem))
            self._commit(prepared)
            if waiting is not None:
                for future in pending:  # read ahead for nothing: the feed gives them again
                    future.cancel()
                raise waiting

    def _prepare(self, items: Sequence[Item], store) -> list[Future]:
        """Futures, in order, of each item's (rows or None, problem or None), or
        of the Retryable it met."""

        def one(item: Item) -> Any:
            if item.problem is not None or item.event is None:
                return None, item.problem
            try:
                return self._rows_for(item.event, store), None
            except Retryable as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the catalog
                return None, f"{type(exc).__name__}: {exc}"[:2000]

        if len(items) == 1:  # one event (``apply``): no thread
            done: Future = Future()
            done.set_result(one(items[0]))
            return [done]
        if self._readers is None:  # one pool for the catalog's life: threads start once
            self._readers = ThreadPoolExecutor(READERS, "catalog-read")
        return [self._readers.submit(one, item) for item in items]

    def _commit(self, prepared: Sequence[tuple[Item, Any, str | None]]) -> None:
        if not prepared:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                offsets: dict[int, int] = {}
                for item, rows, problem in prepared:
                    if problem is not None:
                        log.warning(
                            "catalog: quarantined %d/%d: %s", item.partition, item.offset, problem
                        )
                        event = item.event
                        kept = json.dumps(event)[:EVENT_KEPT] if isinstance(event, dict) else None
                        db.execute(
                            "INSERT OR REPLACE INTO quarantine VALUES (?,?,?,?)",
                            (item.partition, item.offset, problem, kept),
                        )
                    if rows is not None:
                        self._write_rows(db, rows)
                    offsets[item.partition] = item.offset + 1
                db.executemany("INSERT OR REPLACE INTO offsets VALUES (?, ?)", offsets.items())
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _write_rows(self, db, rows) -> None:
        if rows is None:
            return
        table, record, cdx_source, cdx_lines, extra = rows
        for part, prepared in zip(self.parts, extra, strict=True):
            part.write(db, prepared)
        if table == "captures":
            known = db.execute(
                "SELECT 1 FROM captures WHERE capture_id = ?", (record[0],)
            ).fetchone()
            db.execute("INSERT OR REPLACE INTO captures VALUES (?,?,?,?,?,?,?)", record)
            if known is None:  # a capture applied again is not counted again
                capture_id, url, key = record[0], record[1], record[2]
                db.execute(
                    "INSERT INTO urls (surt, url, captures, latest) VALUES (?, ?, 1, ?) "
                    "ON CONFLICT (surt) DO UPDATE SET captures = captures + 1, "
                    "url = CASE WHEN excluded.latest > latest THEN excluded.url ELSE url END, "
                    "latest = max(latest, excluded.latest)",
                    (key, url, capture_id),
                )
        else:
            db.execute("INSERT OR REPLACE INTO media VALUES (?,?,?,?,?)", record)
        if cdx_lines is not None:
            db.execute("DELETE FROM cdx WHERE source = ?", (cdx_source,))
            db.executemany(
                "INSERT INTO cdx VALUES (?,?,?,?)",
                [(*_split(line), cdx_source) for line in cdx_lines],
            )

    def _rows_for(self, event: dict, store):
        schema = event.get("schema", "")
        manifest_key = event.get("manifest_key")
        if not manifest_key or schema not in (
            "warcflow.CaptureStored",
            "warcflow.CaptureFailed",
            "warcflow.MediaStored",
            "warcflow.MediaFailed",
        ):
            return None
        data = store.get_bytes(manifest_key)
        doc = parse_document(data)  # parsed once: the parts read the same document
        if schema.startswith("warcflow.Capture"):
            manifest = Manifest.from_document(doc)
            record: tuple[Any, ...] = (
                manifest.capture_id,
                manifest.url,
                manifest.surt or warcflow_surt(manifest.url),
                manifest.status,
                manifest.submitted_at,
                manifest.fetched_at,
                data.decode(),
            )
            source, table = manifest.capture_id, "captures"
            has_warc = manifest.warc_key is not None
            version = manifest.warc_version_id
        else:
            media = MediaManifest.from_document(doc)
            record = (
                media.media_id,
                media.parent_capture_id,
                media.status,
                media.sha256,
                data.decode(),
            )
            source, table = media.media_id, "media"
            has_warc = media.warc_key is not None
            version = media.warc_version_id
        lines = None
        if has_warc:
            try:
                lines = store.get_bytes(layout.index_key(source)).decode().splitlines()
                # replay reads the WARC version the manifest recorded (archivers.warc.cdxj)
                lines = [pinned(line, version) for line in lines]
            except KeyError:
                lines = []
        extra = [part.prepare(table, doc, store) for part in self.parts]
        return table, record, source, lines, extra

    # -- reading ------------------------------------------------------------------

    def captures_of(self, url: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Manifests (as dicts) of every capture of ``url``, newest first."""
        key = warcflow_surt(url)
        query = "SELECT manifest FROM captures WHERE surt = ? ORDER BY capture_id DESC"
        with self._lock:
            rows = self._db.execute(query + (f" LIMIT {int(limit)}" if limit else ""), (key,))
            return [json.loads(row[0]) for row in rows]

    def capture(self, capture_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT manifest FROM captures WHERE capture_id = ?", (capture_id.upper(),)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def media_of(self, capture_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT manifest FROM media WHERE parent_capture_id = ? ORDER BY media_id",
                (capture_id.upper(),),
            )
            return [json.loads(row[0]) for row in rows]

    def media_by_digest(self, sha256: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT manifest FROM media WHERE sha256 = ? LIMIT 1", (sha256,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def search(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """Captured URLs that ``text`` names, with their capture count and latest
        capture, latest first; both ways are index reads (decision 0027):

        - a URL, or a host with or without a path (``x.com/kazan_front``,
          ``127.0.0.1``: a dot before any slash, no space): the URLs under it,
          by their SURT (``www.`` and the scheme do not matter; a host without
          a path includes its ports and subdomains); when nothing is under it
          and it has no scheme (``index.html``), as other text;
        - any other text: the URLs that contain it, case-insensitively, from
          the trigram index of ``urls`` (text shorter than three characters
          reads every captured URL once)."""
        text = text.replace("\x00", "").strip()  # FTS5 reads its query as a C string
        head = text.split("://", 1)[-1].split("/", 1)[0]
        if "://" in text or ("." in head and not any(c.isspace() for c in text)):
            try:
                url = text if "://" in text else f"https://{text}"
                prefix = warcflow_surt(url)
            except Exception:  # noqa: BLE001 - not a URL after all: search it as text
                prefix = None
            if prefix is not None:
                if "/" not in text.split("://", 1)[-1].rstrip("/") and prefix.endswith(")/"):
                    host = prefix[:-2]  # a host alone: its ports and subdomains too
                    starts = [host + ")", host + ":", host + ","]
                else:
                    starts = [prefix.rstrip("/")]
                under = self._urls(
                    " OR ".join(["surt >= ? AND surt < ?"] * len(starts)),
                    [bound for start in starts for bound in (start, start + "\uffff")],
                    limit,
                )
                if under or "://" in text:
                    return under
                # nothing under it as a host: a file name (``index.html``, ``v1.2``)
                # is looked for as text
        if len(text) >= 3:  # a quoted phrase of trigrams: the substring, from the index
            return self._urls(
                "id IN (SELECT rowid FROM url_grams WHERE url_grams MATCH ?)",
                ['"' + text.replace('"', '""') + '"'],
                limit,
            )
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._urls("url LIKE ? ESCAPE '\\'", [like], limit)

    def _urls(self, where: str, params: list[Any], limit: int) -> list[dict[str, Any]]:
        sql = (  # constant pieces; every value is a bound parameter
            "SELECT url, surt, captures, latest FROM urls WHERE "  # noqa: S608
            + where
            + " ORDER BY latest DESC LIMIT ?"
        )
        with self._lock:
            rows = list(self._db.execute(sql, [*params, limit]))
        return [
            {"url": url, "surt": key, "captures": count, "latest_capture_id": latest}
            for url, key, count, latest in rows
        ]

    def recent(self, limit: int = 30) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT manifest FROM captures ORDER BY capture_id DESC LIMIT ?", (limit,)
            )
            return [json.loads(row[0]) for row in rows]

    def cdx(self, key: str, end_key: str | None = None, *, limit: int = 10000) -> Iterator[str]:
        """CDXJ lines whose key is in ``[key, end_key)`` (exactly ``key`` when no end),
        in key and time order."""
        with self._lock:
            if end_key is None:
                rows = list(
                    self._db.execute(
                        "SELECT line FROM cdx WHERE key = ? ORDER BY key, timestamp LIMIT ?",
                        (key, limit),
                    )
                )
            else:
                rows = list(
                    self._db.execute(
                        "SELECT line FROM cdx WHERE key >= ? AND key < ? ORDER BY key, timestamp "
                        "LIMIT ?",
                        (key, end_key, limit),
                    )
                )
        return iter(row[0] for row in rows)

    def counts(self) -> dict[str, int]:
        with self._lock:
            found = {
                table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
                for table in ("captures", "media", "cdx", "quarantine")
            }
        found["quarantined"] = found.pop("quarantine")
        return found

    def quarantined(self) -> list[dict[str, Any]]:
        """The records the catalog could not apply: partition, offset, reason."""
        with self._lock:
            rows = list(
                self._db.execute('SELECT partition, "offset", reason FROM quarantine ORDER BY 1, 2')
            )
        return [{"partition": p, "offset": o, "reason": r} for p, o, r in rows]

    def retry_quarantined(self, store) -> int:
        """Apply again every quarantined event that can be applied now (its
        manifest restored, say); how many left the quarantine."""
        with self._lock:
            rows = list(
                self._db.execute(
                    'SELECT partition, "offset", event FROM quarantine WHERE event IS NOT NULL'
                )
            )
        done = 0
        for partition, offset, kept in rows:
            try:
                event = json.loads(kept)
                applied = self._rows_for(event, store)
            except Retryable:
                raise
            except Exception:  # noqa: BLE001, S112 - still cannot be applied: it stays
                continue
            with self._lock:
                db = self._db
                db.execute("BEGIN")
                try:
                    self._write_rows(db, applied)
                    db.execute(
                        'DELETE FROM quarantine WHERE partition = ? AND "offset" = ?',
                        (partition, offset),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            done += 1
        return done

    def close(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(cancel_futures=True)  # read-ahead nobody will write
        with self._lock:
            self._db.close()


def _split(line: str) -> tuple[str, str, str]:
    key, timestamp, _rest = line.split(" ", 2)
    return key, timestamp, line
