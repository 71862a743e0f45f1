"""Accounting: does every ingest message of a time range have a terminal outcome?

An ingest message ends in one of: a ``stored`` capture event, a ``failed``
capture event (a refusal, a 4xx, retries exhausted — all on the URL's
timeline), or a dead letter without an event (a message that could not even be
decoded, or a failure the store could not record). Capture events and dead
letters name the ingest message they answer (``source``: topic, partition,
offset), which is what this matches on. Anything else is ``pending``: still
queued, being captured, or waiting for a retry — or lost, if it stays so.

Also reported: ingest messages with more than one capture event (a redelivery
that published twice), which the capture agent is built never to do.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.deadletters import DeadLetterEntry
from streams.messages.base import SourceMessage
from streams.messages.capture import CAPTURE_FAILED, CAPTURE_STORED

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
class Reconciliation:
    accounts: list[Account]

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(a.outcome for a in self.accounts)
        return {name: counted.get(name, 0) for name in (*TERMINAL, "pending")}

    @property
    def pending(self) -> list[Account]:
        return [a for a in self.accounts if a.outcome == "pending"]

    @property
    def duplicates(self) -> list[Account]:
        return [a for a in self.accounts if a.events > 1]

    @property
    def complete(self) -> bool:
        return not self.pending and not self.duplicates


def _key(coords: Any) -> tuple[str, int, int] | None:
    try:
        return (str(coords["topic"]), int(coords["partition"]), int(coords["offset"]))
    except (KeyError, TypeError, ValueError):
        return None


def reconcile(
    ingest: Iterable[SourceMessage],
    events: Iterable[SourceMessage],
    dead: Iterable[DeadLetterEntry],
    *,
    until_ms: int | None = None,
) -> Reconciliation:
    """Match ``ingest`` records (those up to ``until_ms``) with ``events`` from the
    captures topic and ``dead`` letters."""
    accounts: dict[tuple[str, int, int], Account] = {}
    for record in ingest:
        if until_ms is not None and record.timestamp_ms > until_ms:
            continue
        try:
            url = json.loads(record.value or b"").get("url")
        except (ValueError, AttributeError):
            url = None
        accounts[(record.topic, record.partition, record.offset)] = Account(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp_ms,
            url if isinstance(url, str) else None,
        )
    outcomes: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    for record in events:
        try:
            doc = json.loads(record.value or b"")
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("schema") not in (CAPTURE_STORED, CAPTURE_FAILED):
            continue
        key = _key(doc.get("source"))
        if key in accounts:
            account = accounts[key]
            account.events += 1
            if doc.get("capture_id"):
                account.capture_ids.add(str(doc["capture_id"]))
            outcomes[key].add("stored" if doc["schema"] == CAPTURE_STORED else "failed")
    for letter in dead:
        key = _key(letter.source)
        if key in accounts and letter.stage in ("capture", "?"):
            accounts[key].dead_letters.append(letter.id)
            outcomes[key].add("dead-letter")
    for key, account in accounts.items():
        found = outcomes.get(key, set())
        account.outcome = next((name for name in TERMINAL if name in found), "pending")
    return Reconciliation(
        sorted(accounts.values(), key=lambda a: (a.timestamp_ms, a.partition, a.offset))
    )
