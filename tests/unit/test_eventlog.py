"""The redelivery check asks a broker that is not answering again before it gives up.

A broker just back from an outage refuses the first reads (offsets by timestamp
time out). Answering "not there" at once made a redelivered capture produce a
second event (the short soak found two). The check asks again for
``patience`` seconds; only past that does it answer "not there"."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from streams.clients import eventlog
from streams.clients.eventlog import CaptureEventLog
from streams.clients.reader import TopicUnavailable
from streams.messages.base import SourceMessage

EVENT = json.dumps({"schema": "warcflow.CaptureStored", "capture_id": "01ABC"}).encode()


class Open:
    """A stand-in for TopicReader that fails ``failures`` times, then reads ``records``."""

    def __init__(self, failures: int, records: list[SourceMessage]) -> None:
        self.failures, self.records, self.opened = failures, records, 0

    def __call__(self, *args, **kwargs):
        self.opened += 1
        if self.opened <= self.failures:
            raise TopicUnavailable("reading: Failed to get offsets by timestamps in 31000 ms")
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read_to_end(self):
        return iter(self.records)


class Unsealed:
    def open(self, topic, value):
        return None


def record() -> SourceMessage:
    return SourceMessage("t.captures", 0, 7, 0, None, EVENT)


def contains(log: CaptureEventLog) -> bool:
    return asyncio.run(log.contains(("warcflow.CaptureStored",), "01ABC", datetime.now(UTC)))


def test_a_broker_that_refuses_the_first_reads_is_asked_again(monkeypatch):
    opened = Open(failures=2, records=[record()])
    monkeypatch.setattr(eventlog, "TopicReader", opened)
    monkeypatch.setattr(eventlog.time, "sleep", lambda seconds: None)
    log = CaptureEventLog(None, "t.captures", Unsealed(), patience=60.0)  # type: ignore[arg-type]
    assert contains(log) is True  # found on the third read: no second event
    assert opened.opened == 3


def test_past_its_patience_the_check_answers_not_there(monkeypatch):
    opened = Open(failures=10**6, records=[])
    monkeypatch.setattr(eventlog, "TopicReader", opened)
    monkeypatch.setattr(eventlog.time, "sleep", lambda seconds: None)
    log = CaptureEventLog(None, "t.captures", Unsealed(), patience=0.0)  # type: ignore[arg-type]
    assert contains(log) is False  # the event is produced: a duplicate beats a loss
