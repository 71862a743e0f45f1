"""Accounting: does every submission, and every media request, have exactly one outcome?

An ingest message ends in one of: a ``stored`` capture event, a ``failed``
capture event (a refusal, a 4xx, retries exhausted — all on the URL's
timeline), or a dead letter without an event (a message that could not even be
decoded, or a failure the store could not record). Capture events and dead
letters name the ingest message they answer (``source``: topic, partition,
offset), which is what this matches on. Anything else is ``pending``: still
queued, being captured, or waiting for a retry — or lost, if it stays so.

A stored page sends a media request for each media item found in it, and
each of those ends in a ``MediaStored`` or ``MediaFailed`` event (its
``capture_id`` is the media id) or a dead letter of the media stage (whose
original message is the request, naming the media id). The media a page asked
for are the ``media_ids`` of its ``CaptureStored`` event, and the requests on
the media topic naming it as their parent (for events written before
``media_ids``); each is accounted like a submission.

A message whose broker timestamp is no time (-1, or past the year 9999: the
capture agent dead-letters it as ``bad_timestamp``) belongs to every range.

Also reported: submissions with more than one capture event, and media with
more than one media event (a redelivery that published twice, which the
agents are built never to do), and every record of the captures or
dead-letter topic that is not what that topic carries (``unreadable``: any
client can write there), by position — counted and named, never a crash.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.deadletters import DeadLetterEntry
from streams.messages.base import SourceMessage, loads, timestamp_problem
from streams.messages.capture import (
    CAPTURE_EVENTS,
    CAPTURE_STORED,
    MEDIA_EVENTS,
    MEDIA_REQUEST,
    MEDIA_STORED,
)

TERMINAL = ("stored", "failed", "dead-letter")


@dataclass
class Account:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    url: str | None
    outcome: str = "pending"
    capture_ids: set[str] = field(default_factory=set)
    events: int = 0
    dead_letters: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "url": self.url,
            "outcome": self.outcome,
            "capture_ids": sorted(self.capture_ids),
            "events": self.events,
            "dead_letters": self.dead_letters,
        }


@dataclass
class MediaAccount:
    """One media request of a stored page, and what became of it."""

    media_id: str
    parent_capture_id: str
    url: str | None = None
    outcome: str = "pending"
    events: int = 0
    dead_letters: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "parent_capture_id": self.parent_capture_id,
            "url": self.url,
            "outcome": self.outcome,
            "events": self.events,
            "dead_letters": self.dead_letters,
        }


@dataclass
class Reconciliation:
    accounts: list[Account]
    media: list[MediaAccount] = field(default_factory=list)
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    """Topic → positions (``PARTITION:OFFSET``) of records that are not what it carries."""

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(a.outcome for a in self.accounts)
        return {name: counted.get(name, 0) for name in (*TERMINAL, "pending")}

    @property
    def media_counts(self) -> dict[str, int]:
        counted = Counter(m.outcome for m in self.media)
        return {name: counted.get(name, 0) for name in (*TERMINAL, "pending")}

    @property
    def pending(self) -> list[Account]:
        return [a for a in self.accounts if a.outcome == "pending"]

    @property
    def media_pending(self) -> list[MediaAccount]:
        return [m for m in self.media if m.outcome == "pending"]

    @property
    def duplicates(self) -> list[Account]:
        return [a for a in self.accounts if a.events > 1]

    @property
    def media_duplicates(self) -> list[MediaAccount]:
        return [m for m in self.media if m.events > 1]

    @property
    def complete(self) -> bool:
        return not (self.pending or self.duplicates or self.media_pending or self.media_duplicates)


def _key(coords: Any) -> tuple[str, int, int] | None:
    try:
        return (str(coords["topic"]), int(coords["partition"]), int(coords["offset"]))
    except (KeyError, TypeError, ValueError):
        return None


def _position(record: SourceMessage) -> str:
    return f"{record.partition}:{record.offset}"


def _url(record: SourceMessage) -> str | None:
    doc = loads(record.value)
    url = doc.get("url") if isinstance(doc, dict) else None
    if isinstance(url, str):
        return url[:2000]
    text = (record.value or b"")[:2000].decode("utf-8", "replace").strip()
    return text if text.startswith(("http://", "https://")) and "\n" not in text else None


def reconcile(
    ingest: Iterable[SourceMessage],
    events: Iterable[SourceMessage],
    dead: Iterable[DeadLetterEntry],
    *,
    media: Iterable[SourceMessage] = (),
    until_ms: int | None = None,
) -> Reconciliation:
    """Match ``ingest`` records (those up to ``until_ms``) with ``events`` from the
    captures topic and ``dead`` letters; the media requests of the pages they
    stored (named by their events, and by the ``media`` topic's requests) with
    their media events and dead letters. Total over any record."""
    accounts: dict[tuple[str, int, int], Account] = {}
    for record in ingest:
        # a broker timestamp that is no time (-1, the year 10889) is in every range
        timely = timestamp_problem(record.timestamp_ms) is None
        if until_ms is not None and timely and record.timestamp_ms > until_ms:
            continue
        accounts[(record.topic, record.partition, record.offset)] = Account(
            record.topic, record.partition, record.offset, record.timestamp_ms, _url(record)
        )
    unreadable: dict[str, list[str]] = defaultdict(list)
    outcomes: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    stored_pages: dict[str, list[str]] = {}  # capture id of a page in range → its media ids
    media_events: dict[str, list[str]] = defaultdict(list)  # media id → outcomes
    for record in events:
        doc = loads(record.value)
        schema = doc.get("schema") if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or schema not in (*CAPTURE_EVENTS, *MEDIA_EVENTS):
            unreadable[record.topic].append(_position(record))
            continue
        if schema in MEDIA_EVENTS:
            if isinstance(doc.get("capture_id"), str):
                media_events[doc["capture_id"]].append(
                    "stored" if schema == MEDIA_STORED else "failed"
                )
            continue
        key = _key(doc.get("source"))
        if key not in accounts:
            continue
        account = accounts[key]
        account.events += 1
        capture_id = doc.get("capture_id")
        if isinstance(capture_id, str):
            account.capture_ids.add(capture_id)
        stored = schema == CAPTURE_STORED
        outcomes[key].add("stored" if stored else "failed")
        if stored and isinstance(capture_id, str):
            ids = doc.get("media_ids")
            found = stored_pages.setdefault(capture_id, [])
            if isinstance(ids, list):
                found.extend(i for i in ids if isinstance(i, str) and i not in found)
    expected: dict[str, MediaAccount] = {}
    for page, asked in stored_pages.items():
        for media_id in asked:
            expected.setdefault(media_id, MediaAccount(media_id, page))
    for record in media:
        doc = loads(record.value)
        if not isinstance(doc, dict) or doc.get("schema") != MEDIA_REQUEST:
            continue  # junk on the media topic: its dead letter accounts for it
        requested, parent = doc.get("media_id"), doc.get("parent_capture_id")
        if isinstance(requested, str) and isinstance(parent, str) and parent in stored_pages:
            account_m = expected.setdefault(requested, MediaAccount(requested, parent))
            if isinstance(doc.get("media_url"), str):
                account_m.url = doc["media_url"][:2000]
    media_dead: dict[str, list[str]] = defaultdict(list)
    for letter in dead:
        if letter.reason == "not_a_dead_letter":
            unreadable[letter.topic].append(letter.id)
            continue
        if letter.stage == "media":
            original = loads(letter.original()[1])
            if isinstance(original, dict) and isinstance(original.get("media_id"), str):
                media_dead[original["media_id"]].append(letter.id)
            continue
        key = _key(letter.source)
        if key in accounts and letter.stage in ("capture", "?"):
            accounts[key].dead_letters.append(letter.id)
            outcomes[key].add("dead-letter")
    for key, account in accounts.items():
        found_outcomes = outcomes.get(key, set())
        account.outcome = next((name for name in TERMINAL if name in found_outcomes), "pending")
    for media_id, account_m in expected.items():
        seen = media_events.get(media_id, [])
        account_m.events = len(seen)
        account_m.dead_letters = media_dead.get(media_id, [])
        if seen:
            account_m.outcome = "stored" if "stored" in seen else "failed"
        elif account_m.dead_letters:
            account_m.outcome = "dead-letter"
    return Reconciliation(
        sorted(accounts.values(), key=lambda a: (a.timestamp_ms, a.partition, a.offset)),
        sorted(expected.values(), key=lambda m: (m.parent_capture_id, m.media_id)),
        dict(unreadable),
    )
