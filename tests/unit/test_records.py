"""Decoding of ingest messages: good ones pass, everything else says why."""

import base64
import json
from datetime import UTC, datetime

import pytest

from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import (
    DeadLetter,
    SubmitRequest,
    decode_retry,
    decode_submit,
    submit_requests,
)


def message(value, offset=7):
    return SourceMessage("warcflow.ingest", 1, offset, 1764000000123, b"key", value)


def test_submit_request_round_trips():
    request = SubmitRequest.new(
        "https://example.com/p/1",
        submitted_at=datetime(2026, 11, 25, 10, 0, 0, 123456, UTC),
        tags=("kazan",),
        note="shared by @tracker",
    )
    decoded = decode_submit(message(request.to_json()))
    assert decoded == request
    assert json.loads(request.to_json())["submitted_at"] == "2026-11-25T10:00:00.123456Z"


def test_submission_context_round_trips_into_the_capture_record():
    request = SubmitRequest.new(
        "https://example.com/p/1",
        submitted_at=datetime.now(UTC),
        operator="anna",
        case_id="KZN-17",
        purpose="mobilisation protests, Kazan",
    )
    decoded = decode_submit(message(request.to_json()))
    assert decoded == request
    described = decoded.describe()
    assert (described["operator"], described["case_id"], described["purpose"]) == (
        "anna",
        "KZN-17",
        "mobilisation protests, Kazan",
    )


def test_a_message_from_before_the_submission_context_still_decodes():
    old = (
        b'{"schema": "warcflow.SubmitRequest", "version": 1, "url": "https://e.com/p", '
        b'"submitted_at": "2026-11-25T10:00:00Z", "request_id": "r", "source": "cli", '
        b'"tags": ["kazan"], "note": null}'
    )
    decoded = decode_submit(message(old))
    assert decoded.tags == ("kazan",)
    assert (decoded.operator, decoded.case_id, decoded.purpose) == (None, None, None)
    assert decoded.describe()["operator"] is None


@pytest.mark.parametrize(
    "field, value",
    [("operator", ""), ("case_id", "x" * 201), ("purpose", ["a list"]), ("operator", 7)],
)
def test_bad_submission_context_is_refused(field, value):
    doc = {
        "schema": "warcflow.SubmitRequest",
        "version": 1,
        "url": "https://e.com/p",
        "submitted_at": "2026-11-25T10:00:00Z",
        "request_id": "r",
        field: value,
    }
    with pytest.raises(Undecodable) as caught:
        decode_submit(message(json.dumps(doc).encode()))
    assert caught.value.reason == "bad_field" and field in str(caught.value)
    requests, problems = submit_requests(
        [("argument 1", "https://e.com/p")],
        submitted_at=datetime.now(UTC),
        source="cli",
        **{field: value},
    )
    assert requests == [] and field in problems[0]


def test_bare_url_line_from_any_client_is_accepted():
    decoded = decode_submit(message(b"  https://example.com/post/9\n"))
    assert decoded.url == "https://example.com/post/9"
    assert decoded.source == "kafka"
    assert decoded.request_id == "kafka:warcflow.ingest:1:7"
    assert decoded.submitted_at == datetime.fromtimestamp(1764000000.123, UTC)


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"", "empty"),
        (None, "empty"),
        (b"\x00\xff\xfe binary", "not_utf8"),
        (b"{not json", "bad_json"),
        (b"[1, 2]", "invalid_url"),
        (b'{"schema": "something.else", "version": 1}', "unknown_schema"),
        (
            b'{"schema": "warcflow.SubmitRequest", "version": 99, "url": "https://e.com/"}',
            "unknown_version",
        ),
        (b'{"schema": "warcflow.SubmitRequest", "version": 1}', "missing_field"),
        (
            b'{"schema": "warcflow.SubmitRequest", "version": 1, "url": "ftp://e.com/", '
            b'"submitted_at": "2026-11-25T10:00:00Z", "request_id": "r"}',
            "invalid_url",
        ),
        (
            b'{"schema": "warcflow.SubmitRequest", "version": 1, "url": "https://e.com/", '
            b'"submitted_at": "yesterday", "request_id": "r"}',
            "bad_field",
        ),
        (
            b'{"schema": "warcflow.SubmitRequest", "version": 1, "url": "https://e.com/", '
            b'"submitted_at": "2026-11-25T10:00:00Z", "request_id": "r", "tags": "x"}',
            "bad_field",
        ),
        (b"https://a.example/1\nhttps://b.example/2", "multiple_lines"),
        (b"not a url", "invalid_url"),
        (b"mailto:someone@example.com", "invalid_url"),
    ],
)
def test_junk_is_refused_with_a_reason(value, reason):
    with pytest.raises(Undecodable) as caught:
        decode_submit(message(value))
    assert caught.value.reason == reason
    assert str(caught.value)


def test_dead_letter_keeps_the_original_bytes():
    source = message(b"\x00\xff junk")
    letter = DeadLetter("capture", "not_utf8", "binary", source, datetime(2026, 11, 25, tzinfo=UTC))
    doc = json.loads(letter.to_json())
    assert base64.b64decode(doc["value_b64"]) == b"\x00\xff junk"
    assert doc["value_text"] is None
    assert doc["reason"] == "not_utf8"
    assert doc["source"] == {
        "topic": "warcflow.ingest",
        "partition": 1,
        "offset": 7,
        "timestamp": "2025-11-24T16:00:00.123000Z",
    }


def test_retry_request_with_junk_is_undecodable():
    with pytest.raises(Undecodable):
        decode_retry(message(b'{"schema": "warcflow.RetryRequest", "version": 1}'))
