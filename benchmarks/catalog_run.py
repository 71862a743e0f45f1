"""One side of the catalog benchmark, in its own process so its peak RSS is its own.

``python -m benchmarks.catalog_run {warcflow,floor} --events N --db PATH``
prints one JSON object: catch-up seconds and rate (the time spent applying
events only, not generating them), the rate in each twentieth of the run,
lookup latencies and the database's size on disk. Progress goes to stderr.

- ``warcflow``: the viewer's own path. Each record value is parsed by
  ``streams.messages.base.parse_json`` (what ``CaptureFeed.poll`` does) and
  the events of one poll (``POLL``: kafka-python's ``max_poll_records``) are
  given to ``Catalog.apply_batch`` with the parts ``viewer.server`` gives it
  (perceptual hashes, full text), reading the manifests and indexes from a
  store that holds the objects of the batch being applied (S3 without the
  network). Lookups are the catalog's own methods, as the Memento routes, the
  replay index (``/cdx``) and the search box call them.
- ``floor``: a plain ``sqlite3`` loop inserting the same rows (captures and
  pinned CDXJ lines, the offset) into minimal tables with the same indexes,
  one transaction per ``POLL`` events in WAL mode with ``synchronous=NORMAL``
  as the catalog does; rows are prepared outside the timed part. Lookups are
  the same SQL without a lock or JSON decoding; its search box is the
  ``LIKE '%…%'`` scan of every capture the catalog had before its URL index.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from archivers.urls import surt as warcflow_surt
from archivers.warc.cdxj import cdx_key, pinned
from benchmarks.catalog_events import Synthetic

T = TypeVar("T")
LOOKUPS = 1000
SEARCHES = 20
"""The floor's search box scans (``LIKE '%…%'``): far fewer samples."""
POLL = 500
"""Events per batch: what one poll of the feed hands the catalog."""

RANGE_SQL = "SELECT line FROM cdx WHERE key >= ? AND key < ? ORDER BY key, timestamp LIMIT 10000"
FLOOR_SCHEMA = """
CREATE TABLE captures (capture_id TEXT PRIMARY KEY, url TEXT NOT NULL, surt TEXT NOT NULL,
    status TEXT NOT NULL, submitted_at TEXT NOT NULL, fetched_at TEXT, manifest TEXT NOT NULL);
CREATE INDEX captures_by_surt ON captures (surt, capture_id);
CREATE TABLE cdx (key TEXT NOT NULL, timestamp TEXT NOT NULL, line TEXT NOT NULL,
    source TEXT NOT NULL);
CREATE INDEX cdx_by_key ON cdx (key, timestamp);
CREATE INDEX cdx_by_source ON cdx (source);
CREATE TABLE offsets (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL);
"""


class EventObjects:
    """The store as the catalog reads it, holding the objects of one event."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        return self.objects[key]  # KeyError for a missing object, as every store


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p95 (milliseconds) of ``samples`` (seconds)."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 3),
        "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "samples": len(ordered),
    }


def timed(queries: list, run: Callable) -> dict[str, float]:
    took = []
    found = 0
    for query in queries:
        start = time.perf_counter()
        found += len(run(query))
        took.append(time.perf_counter() - start)
    return {**percentiles(took), "rows_per_query": round(found / max(1, len(queries)), 1)}


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Windows:
    """Catch-up rate over each ``step`` events (a twentieth of the run), with progress."""

    def __init__(self, step: int) -> None:
        self.step, self.done, self.events, self.seconds = step, 0, 0, 0.0
        self.rates: list[float] = []

    def add(self, events: int, seconds: float) -> None:
        self.done, self.events, self.seconds = (
            self.done + events,
            self.events + events,
            self.seconds + seconds,
        )
        if self.events >= self.step:
            self.rates.append(self.events / self.seconds)
            print(f"  {self.done:,} events, {self.rates[-1]:,.0f}/s", file=sys.stderr, flush=True)
            self.events, self.seconds = 0, 0.0


S3_SIDES = ("s3-one-by-one", "s3-batched")
"""The catch-up reading manifests and indexes from a real S3 server (versitygw on
loopback): one event at a time as the feed did before (``Catalog.apply``: read
the manifest, then the index, then write), and as it does now
(``Catalog.apply_batch`` on each poll)."""


def s3_side(args: argparse.Namespace) -> dict:
    """Catch-up from the S3 server of ``--s3-env``'s stack (its bucket holds the
    events' objects: ``--upload`` puts them first, untimed)."""
    from concurrent.futures import ThreadPoolExecutor

    from streams.messages.base import parse_json
    from tests.support.stack import settings_of
    from viewer.catalog import Catalog, Record
    from viewer.phashes import HashRows
    from viewer.textindex import TextRows
    from warcflow import wiring

    env = json.loads(args.s3_env.read_text())
    store = wiring.store(settings_of(env, "admin", local_stack=True))
    items = list(Synthetic(args.events).events())
    if args.upload:
        store.ensure_bucket()
        objects = [(k, v) for item in items for k, v in item.objects.items()]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda kv: store.put_state(kv[0], kv[1]), objects))
    catalog = Catalog(args.db, parts=(HashRows(), TextRows()))
    windows = Windows(max(1, args.events // 20))
    busy = 0.0
    for batch in batched(iter(items), POLL):
        records = [Record(0, item.offset, parse_json(item.value)) for item in batch]
        start = time.perf_counter()
        if args.side == "s3-batched":
            catalog.apply_batch(records, store)
        else:
            for record in records:
                catalog.apply(record.partition, record.offset, record.event, store)
        spent = time.perf_counter() - start
        busy += spent
        windows.add(len(batch), spent)
    counts = catalog.counts()
    catalog.close()
    return {
        "side": args.side,
        "events": args.events,
        "counts": counts,
        "catch_up_seconds": round(busy, 2),
        "events_per_s": round(args.events / busy, 1),
        "events_per_s_by_twentieth": [round(r, 1) for r in windows.rates],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_run")
    parser.add_argument("side", choices=("warcflow", "floor", *S3_SIDES))
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--s3-env", type=Path, help="S3 sides: the stack's environment (JSON)")
    parser.add_argument(
        "--upload", action="store_true", help="S3 sides: put the events' objects first"
    )
    args = parser.parse_args(argv)
    if args.side in S3_SIDES:
        print(json.dumps(s3_side(args)))
        return 0
    synthetic = Synthetic(args.events)
    step = max(1, args.events // 20)
    windows = Windows(step)
    busy = 0.0
    if args.side == "warcflow":
        from streams.messages.base import Undecodable, parse_json
        from viewer.catalog import Catalog, Record
        from viewer.phashes import HashRows
        from viewer.textindex import TextRows

        catalog = Catalog(args.db, parts=(HashRows(), TextRows()))
        store = EventObjects()
        for batch in batched(synthetic.events(), POLL):
            store.objects = {k: v for item in batch for k, v in item.objects.items()}
            start = time.perf_counter()
            records = []
            for item in batch:
                try:
                    records.append(Record(0, item.offset, parse_json(item.value)))
                except Undecodable as exc:
                    records.append(Record(0, item.offset, None, str(exc)))
            catalog.apply_batch(records, store)
            spent = time.perf_counter() - start
            busy += spent
            windows.add(len(batch), spent)
        counts = catalog.counts()

        def exact(url: str) -> list:
            return catalog.captures_of(url)

        def exact_cdx(key: str) -> list:
            return list(catalog.cdx(key, key + "!"))

        def prefix_cdx(key: str) -> list:
            return list(catalog.cdx(key, key + "\uffff"))

        def search(text: str) -> list:
            return catalog.search(text)

    else:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(args.db), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(FLOOR_SCHEMA)
        for batch in batched(synthetic.events(), POLL):
            rows = []
            for item in batch:
                manifest_text = next(
                    v for k, v in item.objects.items() if k.startswith("manifests/")
                )
                doc = json.loads(manifest_text)
                row = (
                    doc["capture_id"],
                    doc["url"],
                    doc["surt"],
                    doc["status"],
                    doc["submitted_at"],
                    doc["fetched_at"],
                    manifest_text.decode(),
                )
                index = next((v for k, v in item.objects.items() if k.startswith("index/")), b"")
                version = doc["warc_version_id"]
                cdx = [
                    (*line.split(" ", 2)[:2], line, doc["capture_id"])
                    for line in (pinned(x, version) for x in index.decode().splitlines())
                ]
                rows.append((row, cdx))
            start = time.perf_counter()
            db.execute("BEGIN")
            for row, cdx in rows:
                db.execute("INSERT OR REPLACE INTO captures VALUES (?,?,?,?,?,?,?)", row)
                db.executemany("INSERT INTO cdx VALUES (?,?,?,?)", cdx)
            db.execute("INSERT OR REPLACE INTO offsets VALUES (0, ?)", (batch[-1].offset + 1,))
            db.execute("COMMIT")
            spent = time.perf_counter() - start
            busy += spent
            windows.add(len(batch), spent)
        counts = {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("captures", "cdx")
        }

        def exact(url: str) -> list:
            return db.execute(
                "SELECT manifest FROM captures WHERE surt = ? ORDER BY capture_id DESC",
                (warcflow_surt(url),),
            ).fetchall()

        def exact_cdx(key: str) -> list:
            return db.execute(
                RANGE_SQL,
                (key, key + "!"),
            ).fetchall()

        def prefix_cdx(key: str) -> list:
            return db.execute(
                RANGE_SQL,
                (key, key + "\uffff"),
            ).fetchall()

        def search(text: str) -> list:
            prefix = warcflow_surt(f"https://{text}").rstrip("/")
            return db.execute(
                "SELECT url, surt, COUNT(*), MAX(capture_id) FROM captures WHERE url LIKE ? "
                "OR surt >= ? AND surt < ? GROUP BY surt ORDER BY MAX(capture_id) DESC LIMIT 50",
                (f"%{text}%", prefix, prefix + "\uffff"),
            ).fetchall()

    rng = random.Random(22)
    urls = [synthetic.url(rng.randrange(synthetic.distinct)) for _ in range(LOOKUPS)]
    prefixes = [url.rsplit("/status/", 1)[0] + "/" for url in urls]
    result = {
        "side": args.side,
        "events": args.events,
        "distinct_urls": synthetic.distinct,
        "hosts": synthetic.hosts,
        "counts": counts,
        "catch_up_seconds": round(busy, 2),
        "events_per_s": round(args.events / busy, 1),
        "events_per_s_by_twentieth": [round(r, 1) for r in windows.rates],
        "lookups": {
            "exact_url_captures": timed(urls, exact),
            "exact_url_cdx": timed([cdx_key(u) for u in urls], exact_cdx),
            "prefix_cdx": timed([cdx_key(p) for p in prefixes], prefix_cdx),
            "search_prefix": timed([p.split("://", 1)[1] for p in prefixes[:SEARCHES]], search),
        },
        "db_bytes": sum(
            p.stat().st_size for p in args.db.parent.glob(args.db.name + "*") if p.is_file()
        ),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
