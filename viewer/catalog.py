"""The viewer's catalog: captures, media and the replay index, in one SQLite file.

Derived data only. It is built from the captures topic (``streams.clients.feed``):
for each event the manifest and the CDXJ index are read from S3 and written
here in one transaction together with the event's offset, so a restart resumes
exactly where it stopped and deleting the file rebuilds it all from the log.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from archivers.errors import Retryable
from archivers.manifests.manifest import Manifest, MediaManifest
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
"""
EVENT_KEPT = 64 * 1024
"""Most characters of a quarantined event kept (to apply it again later)."""


class CatalogPart(Protocol):
    """Tables another module keeps in the catalog, written with each manifest."""

    schema: str

    def prepare(self, table: str, manifest: dict[str, Any], store) -> Any:
        """What to write for one manifest of ``table`` (``captures`` or ``media``):
        any reading from ``store`` happens here, outside the catalog's lock."""

    def write(self, db: sqlite3.Connection, prepared: Any) -> None:
        """Write ``prepare``'s answer; ``db`` is in the event's transaction."""


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
        self._lock = threading.Lock()

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
        """Record one captures-topic event (reading its manifest and index from
        ``store``) and the offset after it, atomically. Idempotent. A record that
        is not an event (``problem``), or an event that cannot be applied, is
        quarantined instead; a store that does not answer raises (try again)."""
        rows = None
        if problem is None and event is not None:
            try:
                rows = self._rows_for(event, store)
            except Retryable:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the catalog
                problem = f"{type(exc).__name__}: {exc}"[:2000]
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                if problem is not None:
                    log.warning("catalog: quarantined %d/%d: %s", partition, offset, problem)
                    kept = json.dumps(event)[:EVENT_KEPT] if isinstance(event, dict) else None
                    db.execute(
                        "INSERT OR REPLACE INTO quarantine VALUES (?,?,?,?)",
                        (partition, offset, problem, kept),
                    )
                if rows is not None:
                    self._write_rows(db, rows)
                db.execute("INSERT OR REPLACE INTO offsets VALUES (?, ?)", (partition, offset + 1))
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
            db.execute("INSERT OR REPLACE INTO captures VALUES (?,?,?,?,?,?,?)", record)
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
        if schema.startswith("warcflow.Capture"):
            manifest = Manifest.from_json(data)
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
            media = MediaManifest.from_json(data)
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
        doc = json.loads(data)  # read whole by from_json above: it parses
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
        """Captured URLs whose URL contains ``text`` or whose SURT starts with its
        SURT (a host or path prefix), with their capture count and latest capture."""
        text = text.strip()
        try:
            prefix = warcflow_surt(text if "://" in text else f"https://{text}").rstrip("/")
        except Exception:  # noqa: BLE001 - not URL-like: substring search only
            prefix = None
        sql = (  # constant pieces; every value is a bound parameter
            "SELECT url, surt, COUNT(*), MAX(capture_id) FROM captures "  # noqa: S608
            "WHERE url LIKE ? ESCAPE '\\' "
            + ("OR surt >= ? AND surt < ? " if prefix else "")
            + "GROUP BY surt ORDER BY MAX(capture_id) DESC LIMIT ?"
        )
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params: list[Any] = [like]
        if prefix:
            params += [prefix, prefix + "\uffff"]
        params.append(limit)
        with self._lock:
            rows = list(self._db.execute(sql, params))
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
        with self._lock:
            self._db.close()


def _split(line: str) -> tuple[str, str, str]:
    key, timestamp, _rest = line.split(" ", 2)
    return key, timestamp, line
