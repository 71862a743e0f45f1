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


def media_event(media_id: str, parent: str = "C1", schema="warcflow.MediaStored") -> Record:
    doc = {
        "schema": schema,
        "capture_id": media_id,
        "parent_capture_id": parent,
        "manifest_key": f"manifests/x/{parent}/media/{media_id}.json",  # names the page too
    }
    return Record("warcflow.captures", 0, 300, 3000, b"k", json.dumps(doc).encode())


def page_with_media(offset: int, capture_id: str, media_ids: list[str]) -> Record:
    doc = {
        "schema": "warcflow.CaptureStored",
        "capture_id": capture_id,
        "media_ids": media_ids,
        "source": {"topic": "warcflow.ingest", "partition": 0, "offset": offset},
    }
    return Record("warcflow.captures", 0, 200 + offset, 2000, b"k", json.dumps(doc).encode())


def test_every_media_request_of_a_stored_page_is_accounted_for():
    """Review F6: a page was "stored" and the report "complete" though its media
    request had no outcome."""
    good = json.dumps(SUBMIT).encode()
    media_letter = letter(9, b"", "retries_exhausted:http_503", stage="media")
    media_letter.doc["value_b64"] = base64.b64encode(
        json.dumps({"schema": "warcflow.MediaRequest", "media_id": "M3"}).encode()
    ).decode()
    report = reconcile(
        [ingest(0, good)],
        [page_with_media(0, "C1", ["M1", "M2", "M3", "M4"]), media_event("M1")],
        [media_letter],
        media=[
            Record(
                "warcflow.media",
                0,
                5,
                2500,
                b"k",
                json.dumps(
                    {
                        "schema": "warcflow.MediaRequest",
                        "media_id": "M2",
                        "parent_capture_id": "C1",
                        "media_url": "https://example.org/v.mp4",
                    }
                ).encode(),
            )
        ],
    )
    assert report.counts["stored"] == 1
    assert {m.media_id: m.outcome for m in report.media} == {
        "M1": "stored",
        "M2": "pending",
        "M3": "dead-letter",
        "M4": "pending",
    }
    assert report.media_counts == {"stored": 1, "failed": 0, "dead-letter": 1, "pending": 2}
    assert [m.url for m in report.media_pending] == ["https://example.org/v.mp4", None]
    assert not report.complete
    done = reconcile(
        [ingest(0, good)],
        [page_with_media(0, "C1", ["M1"]), media_event("M1"), media_event("M1")],
        [],
    )
    assert [m.media_id for m in done.media_duplicates] == ["M1"] and not done.complete


def test_a_media_event_never_stands_for_its_page():
    report = reconcile([ingest(0, json.dumps(SUBMIT).encode())], [media_event("M1", "C1")], [])
    assert report.counts["pending"] == 1  # the page's own event is what is missing


def test_poison_on_any_topic_is_counted_and_named_never_a_crash():
    nested = b"[" * 1000 + b"]" * 1000
    unclosed = b'{"a":' + b"[" * 100_000
    report = reconcile(
        [ingest(0, nested), ingest(1, unclosed), ingest(2, b"\xff")],
        [
            Record("warcflow.captures", 0, 7, 0, None, nested),
            Record("warcflow.captures", 0, 8, 0, None, b"[1]"),
            event(0),
        ],
        [
            *parse([Record("warcflow.dead-letter", 1, 3, 0, None, unclosed)]),
            letter(1, unclosed, "bad_json"),
        ],
    )
    assert [a.outcome for a in report.accounts] == ["stored", "dead-letter", "pending"]
    assert report.unreadable == {
        "warcflow.captures": ["0:7", "0:8"],
        "warcflow.dead-letter": ["1:3"],
    }
    entry = parse([Record("warcflow.dead-letter", 1, 3, 0, None, nested)])[0]
    assert entry.summary(NAMES)["replayable"] is False and entry.url is None


def test_a_message_whose_timestamp_is_no_time_is_in_every_range():
    report = reconcile(
        [ingest(0, b"x", ts=2**48), ingest(1, b"x", ts=-1), ingest(2, b"x", ts=9_000)],
        [],
        [letter(0, b"x", "bad_timestamp"), letter(1, b"x", "bad_timestamp")],
        until_ms=5_000,
    )
    assert [(a.offset, a.outcome) for a in report.accounts] == [
        (1, "dead-letter"),
        (0, "dead-letter"),
    ]
