"""A watch definition (``Watch``) and the two records that keep watching durable.

    topic                   key                         value
    <prefix>.watches        watch id                    Watch v1; a tombstone (null) removes it
    <prefix>.watch-seen     <watch id>/<sha256 of URL>  WatchSeen v1: an item submitted once

Both topics are compacted: the latest value per key is the state. A watch id
is derived from what is watched (``kind``, URL, pattern), so adding the same
source again updates its period and tags and keeps what it has seen.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archivers.clock import iso, parse_iso
from archivers.errors import InvalidURL
from archivers.urls import validate_url
from streams.watchers.kinds import KINDS

WATCH = "warcflow.Watch"
WATCH_SEEN = "warcflow.WatchSeen"
VERSION = 1
MAX_TAGS = 32
MAX_TAG_LENGTH = 100


class InvalidWatch(ValueError):
    """A watch definition that cannot be used; the message says why."""


@dataclass(frozen=True)
class Watch:
    """What to poll, how often (``every``, seconds, > 0) and how to label what it finds.

    ``pattern`` is required for ``links`` and empty otherwise. ``origin`` is
    ``topic`` (added with ``warcflow watch add``) or ``settings``
    (``WARCFLOW_WATCHES``); it is not part of the record."""

    id: str
    kind: str
    url: str
    every: float
    tags: tuple[str, ...] = ()
    pattern: str = ""
    added_at: datetime | None = None
    origin: str = "topic"

    @property
    def source(self) -> str:
        """The ``source`` of the SubmitRequests this watch makes."""
        return f"watch:{self.id}"

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": WATCH,
            "version": VERSION,
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "every": self.every,
            "tags": list(self.tags),
            "pattern": self.pattern or None,
            "added_at": iso(self.added_at) if self.added_at else None,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def watch_id(kind: str, url: str, pattern: str = "") -> str:
    """``w`` and 12 hex digits of SHA-256 over kind, URL and pattern: stable per source."""
    digest = hashlib.sha256(f"{kind}\0{url}\0{pattern}".encode()).hexdigest()
    return f"w{digest[:12]}"


def new_watch(
    kind: str,
    url: str,
    *,
    every: float,
    tags: tuple[str, ...] = (),
    pattern: str = "",
    added_at: datetime | None = None,
    min_every: float = 0.0,
    origin: str = "topic",
) -> Watch:
    """A validated Watch; InvalidWatch saying what is wrong otherwise."""
    rule = KINDS.get(kind)
    if rule is None:
        raise InvalidWatch(f"unknown kind {kind!r} (use one of {', '.join(KINDS)})")
    try:
        validate_url(url)
    except InvalidURL as exc:
        raise InvalidWatch(f"URL {url!r}: {exc}") from None
    url = rule.canonical_url(url)
    if not isinstance(every, (int, float)) or isinstance(every, bool) or not every > 0:
        raise InvalidWatch(f"every must be a number of seconds greater than 0, not {every!r}")
    if every < min_every:
        raise InvalidWatch(
            f"every is {every:g} s; the least allowed is {min_every:g} s (WARCFLOW_WATCH_MIN_EVERY)"
        )
    if rule.takes_pattern:
        if not pattern:
            raise InvalidWatch(f"a {kind} watch needs a pattern (--pattern REGEX)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidWatch(f"pattern {pattern!r} is not a regular expression: {exc}") from None
    elif pattern:
        takers = ", ".join(name for name, k in KINDS.items() if k.takes_pattern)
        raise InvalidWatch(f"only {takers} watches take a pattern, not {kind}")
    tags = tuple(tags)
    if len(tags) > MAX_TAGS or any(
        not isinstance(t, str) or not t or len(t) > MAX_TAG_LENGTH for t in tags
    ):
        raise InvalidWatch(
            f"tags must be at most {MAX_TAGS} non-empty strings of at most "
            f"{MAX_TAG_LENGTH} characters"
        )
    return Watch(
        watch_id(kind, url, pattern), kind, url, float(every), tags, pattern, added_at, origin
    )


def decode_watch(value: bytes) -> Watch:
    """A Watch record's value; InvalidWatch if it is not a valid Watch v1."""
    try:
        doc = json.loads(value)
    except RecursionError:  # any client can write to the topic: nesting is refused too
        raise InvalidWatch("not JSON: nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise InvalidWatch(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != WATCH or doc.get("version") != VERSION:
        raise InvalidWatch("not a warcflow.Watch version 1")
    try:
        added_at = parse_iso(doc["added_at"]) if doc.get("added_at") else None
        watch = new_watch(
            doc["kind"],
            doc["url"],
            every=doc["every"],
            tags=tuple(doc.get("tags") or ()),
            pattern=doc.get("pattern") or "",
            added_at=added_at,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidWatch(f"malformed Watch: {exc}") from None
    if watch.id != doc.get("id"):
        raise InvalidWatch(f"Watch id {doc.get('id')!r} does not match its source")
    return watch


def watches_from_setting(text: str, *, min_every: float = 0.0) -> tuple[Watch, ...]:
    """``WARCFLOW_WATCHES``: a JSON array of ``{"kind", "url", "every"?, "tags"?,
    "pattern"?}`` objects (``every`` defaults to 300 s). Empty text: no watches.
    InvalidWatch naming the entry otherwise."""
    if not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise InvalidWatch(f"not a JSON array of watches: {exc}") from None
    if not isinstance(entries, list):
        raise InvalidWatch("not a JSON array of watches")
    out = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) - {"kind", "url", "every", "tags", "pattern"}:
            raise InvalidWatch(
                f"watch {number}: an object with kind, url and optionally every, tags, pattern"
            )
        try:
            out.append(
                new_watch(
                    str(entry.get("kind")),
                    str(entry.get("url")),
                    every=entry.get("every", 300),
                    tags=tuple(entry.get("tags") or ()),
                    pattern=entry.get("pattern") or "",
                    min_every=min_every,
                    origin="settings",
                )
            )
        except InvalidWatch as exc:
            raise InvalidWatch(f"watch {number}: {exc}") from None
    return tuple(out)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def seen_key(watch: str, url: str) -> bytes:
    """The key of an item's WatchSeen record: one per (watch, item URL)."""
    return f"{watch}/{url_hash(url)}".encode("ascii")


def seen_record(watch: str, url: str, *, request_id: str, submitted_at: datetime) -> bytes:
    """WatchSeen v1: the item ``url`` of ``watch`` was submitted as ``request_id``."""
    return json.dumps(
        {
            "schema": WATCH_SEEN,
            "version": VERSION,
            "watch_id": watch,
            "url": url,
            "request_id": request_id,
            "submitted_at": iso(submitted_at),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
