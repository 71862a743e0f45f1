"""Synthetic captures-topic events for the catalog benchmark, with what S3 would hold.

``Synthetic(n).events()`` yields, for offsets 0 … n-1, the event's wire bytes
(``streams.messages.capture.capture_event`` of a ``Manifest``) and the objects
the catalog reads for it (the manifest JSON, the CDXJ index of a stored
capture) under their ``archivers.store.layout`` keys. Deterministic: the same
``n`` and ``seed`` give the same bytes, so two runs feed the same rows.

The shape, meant to look like a month of captures of social-media posts:

- URL ``u`` (numbered in order of first capture) is
  ``https://www.site<h>.example/<user>/status/<u>``: many hosts (one per 1,000
  events, at least 10), skewed so the first hosts are the big platforms (host
  ``h = ⌊H·x³⌋`` for a uniform ``x``), many users per host, one path per post;
- ``RECAPTURED`` of the events capture again a URL already captured (any
  earlier one, uniformly), so some URLs have several captures;
- ``FAILED`` of the events are failed captures (no WARC, no index lines);
- a stored capture's index has five lines, as the worker writes them: the
  page, its host's stylesheet and script (shared by every page of the host,
  so their keys collect many lines), the post's image, and the ``urn:``
  metadata record; filenames are pinned to an S3 version, as in a versioned
  bucket.

Times: capture ``i`` is fetched at ``START`` + i × ``SPACING_MS`` (30 days for 10 M).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from archivers.manifests.manifest import FAILED, STORED, Manifest
from archivers.store import layout
from archivers.urls import surt
from archivers.warc.cdxj import IndexEntry, cdxj
from streams.messages.capture import capture_event

RECAPTURED = 0.2
FAILED_SHARE = 0.05
START = datetime(2026, 11, 1, tzinfo=UTC)
SPACING_MS = 259  # 10 M events ≈ 30 days
TOPIC = "warcflow.captures"
USERS_PER_HOST = 5000


@dataclass(frozen=True)
class Event:
    offset: int
    value: bytes
    """The record's value on the captures topic."""
    objects: dict[str, bytes]
    """What the store holds for it: manifest and (stored) CDXJ index, by key."""
    url: str


def _unit(u: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{salt}|{u}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Synthetic:
    def __init__(self, events: int, seed: int = 21) -> None:
        self.n = events
        self.seed = seed
        self.hosts = max(10, events // 1000)

    def host(self, u: int) -> str:
        return f"www.site{int(self.hosts * _unit(u, 'host') ** 3)}.example"

    def user(self, u: int) -> str:
        return f"user{int(USERS_PER_HOST * _unit(u, 'user'))}"

    def url(self, u: int) -> str:
        """URL number ``u`` (``0 ≤ u <`` the number of distinct URLs so far)."""
        return f"https://{self.host(u)}/{self.user(u)}/status/{u}"

    def events(self) -> Iterator[Event]:
        rng = random.Random(self.seed)
        distinct = 0
        for offset in range(self.n):
            if distinct and rng.random() < RECAPTURED:
                u = rng.randrange(distinct)
            else:
                u, distinct = distinct, distinct + 1
            failed = rng.random() < FAILED_SHARE
            yield self._event(offset, u, failed)
        self.distinct = distinct

    def _event(self, offset: int, u: int, failed: bool) -> Event:
        fetched = START + timedelta(milliseconds=offset * SPACING_MS)
        submitted = fetched - timedelta(milliseconds=350)
        cid = layout.capture_id(TOPIC, 0, offset, int(fetched.timestamp() * 1000))
        url, host, user = self.url(u), self.host(u), self.user(u)
        iso = fetched.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        common: dict[str, Any] = {
            "capture_id": cid,
            "url": url,
            "surt": surt(url),
            "submitted_at": submitted.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "fetched_at": iso,
            "finished_at": iso,
            "request": {
                "request_id": f"req-{offset}",
                "source": "cli",
                "tags": ["bench", host.split(".")[1]],
                "note": None,
                "operator": "bench",
                "case_id": f"CASE-{u % 97}",
                "purpose": "catalog benchmark",
                "mode": "auto",
            },
            "provenance": {"topic": "warcflow.ingest", "partition": offset % 64, "offset": offset},
            "agent": {"name": "warcflow", "version": "bench"},
            "attempts": [{"at": iso, "outcome": "failed" if failed else "stored"}],
        }
        key = layout.manifest_key(url, cid)
        if failed:
            manifest = Manifest(
                status=FAILED,
                reason="timeout",
                message=f"no answer from {host} within 30 s",
                outcome="failed",
                **common,
            )
            data = manifest.to_json()
            return Event(offset, capture_event(manifest, key), {key: data}, url)
        warc = layout.warc_key(cid)
        version = hashlib.blake2b(cid.encode(), digest_size=12).hexdigest()
        digest = hashlib.sha256(cid.encode()).hexdigest()
        record_id = hashlib.blake2b(cid.encode(), digest_size=16).digest()
        static = f"https://{host}/static/app.{(offset // 100_000) % 10}"
        records = [
            (url, "response", "text/html", "200", 0, 21_874),
            (f"{static}.css", "response", "text/css", "200", 21_874, 8_311),
            (f"{static}.js", "response", "application/javascript", "200", 30_185, 96_450),
            (f"https://{host}/media/{u}.jpg", "response", "image/jpeg", "200", 126_635, 88_012),
            (f"urn:warcflow:metadata:{cid}", "metadata", "application/json", None, 214_647, 2_318),
        ]
        index = cdxj(
            (
                IndexEntry(
                    url=target,
                    warc_date=iso,
                    rec_type=rec_type,
                    mime=mime,
                    status=status,
                    digest="sha256:" + hashlib.sha256(f"{target}|{cid}".encode()).hexdigest(),
                    offset=at,
                    length=length,
                )
                for target, rec_type, mime, status, at, length in records
            ),
            warc,
        )
        manifest = Manifest(
            status=STORED,
            canonical_url=url,
            final_url=url,
            http_status=200,
            stored_at=fetched.strftime("%Y-%m-%dT%H:%M:%SZ"),
            warc_key=warc,
            sha256=digest,
            size=216_965,
            warc_version_id=version,
            requisites={"fetched": 3},
            page_record_id=f"<urn:uuid:{uuid.UUID(bytes=record_id)}>",
            outcome="complete",
            post={"url": url, "author": f"@{user}", "text": f"post {u} by {user} on {host}"},
            network={"local_address": "10.0.0.5:40112", "remote_address": "203.0.113.7:443"},
            **common,
        )
        objects = {key: manifest.to_json(), layout.index_key(cid): index}
        return Event(offset, capture_event(manifest, key), objects, url)
