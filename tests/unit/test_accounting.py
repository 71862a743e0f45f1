"""Dead letters as operators see them, and the accounting of ingest messages."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.deadletters import DeadLetterEntry, parse
from streams.messages.base import SourceMessage as Record
from streams.reconcile import reconcile
from streams.topics import TopicNames
from warcflow.commands.dlq import parse_when

NAMES = TopicNames()
SUBMIT = {
    "schema": "warcflow.SubmitRequest",
    "version": 1,
    "url": "https://example.org/p/1",
    "submitted_at": "2026-11-25T10:00:00Z",
    "request_id": "r1",
    "source": "cli",
    "tags": [],
    "note": None,
}


def ingest(offset: int, value: bytes, partition: int = 0, ts: int = 1000) -> Record:
    return Record("warcflow.ingest", partition, offset, ts, b"k", value)


def event(offset: int, schema: str = "warcflow.CaptureStored", capture_id: str = "C1") -> Record:
    doc = {
        "schema": schema,
        "capture_id": capture_id,
        "source": {"topic": "warcflow.ingest", "partition": 0, "offset": offset},
    }
    return Record("warcflow.captures", 0, 100 + offset, 2000, b"k", json.dumps(doc).encode())


def letter(offset: int, value: bytes, reason: str, stage: str = "capture") -> DeadLetterEntry:
    return DeadLetterEntry(
        0,
        50 + offset,
        {
            "stage": stage,
            "reason": reason,
            "message": "m",
            "source": {"topic": "warcflow.ingest", "partition": 0, "offset": offset},
            "key_b64": base64.b64encode(b"k").decode(),
            "value_b64": base64.b64encode(value).decode(),
            "value_text": value.decode("utf-8", "replace"),
        },
    )


def test_every_message_is_matched_to_its_outcome():
    good = json.dumps(SUBMIT).encode()
    report = reconcile(
        [ingest(0, good), ingest(1, good), ingest(2, b"not json"), ingest(3, good)],
        [event(0), event(1, "warcflow.CaptureFailed", "C2")],
        [letter(2, b"not json", "invalid_json")],
    )
    assert [a.outcome for a in report.accounts] == ["stored", "failed", "dead-letter", "pending"]
    assert report.counts == {"stored": 1, "failed": 1, "dead-letter": 1, "pending": 1}
    assert not report.complete and report.pending[0].offset == 3
    assert report.pending[0].url == "https://example.org/p/1"


def test_a_second_event_for_one_message_is_reported():
    report = reconcile([ingest(0, json.dumps(SUBMIT).encode())], [event(0), event(0)], [])
    assert report.accounts[0].outcome == "stored"
    assert [a.offset for a in report.duplicates] == [0]
    assert not report.complete


def test_messages_after_the_range_are_not_counted():
    report = reconcile(
        [ingest(0, b"{}", ts=1000), ingest(1, b"{}", ts=5000)], [], [], until_ms=2000
    )
    assert [a.offset for a in report.accounts] == [0]


def test_dead_letters_replay_only_what_can_succeed():
    good = letter(0, json.dumps(SUBMIT).encode(), "retries_exhausted:http_503")
    bad = letter(1, b"\xff\xfe", "invalid_json")
    assert good.replay_target(NAMES) == ("warcflow.ingest", "ok")
    assert good.original() == (b"k", json.dumps(SUBMIT).encode())
    assert good.url == "https://example.org/p/1"
    topic, why = bad.replay_target(NAMES)
    assert topic is None and "invalid" in why
    assert bad.summary(NAMES)["replayable"] is False


def test_records_that_are_not_dead_letters_are_shown_not_dropped():
    entries = parse([Record("warcflow.dead-letter", 0, 7, 0, None, b"junk")])
    assert entries[0].id == "0:7" and entries[0].reason == "not_a_dead_letter"


def test_when_is_an_iso_time_or_an_age():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_when("6h", now) == now - timedelta(hours=6)
    assert parse_when("90s", now) == now - timedelta(seconds=90)
    assert parse_when("2026-11-25T10:00:00", now) == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_when("2026-11-25T10:00:00+02:00", now).utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError):
        parse_when("yesterday", now)
