"""Hostile messages: what anyone who can reach the broker may write to a topic.

Every kind the reviews reproduced (docs: ../shared/reviews/error-paths-2026-12.md
F1, F2, F10; security F5), at the sizes that hurt, for the unit tests, the
integration tests on the real broker and the fault soak. Each is (name, value,
broker timestamp in ms or None for "now").
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.settings import KafkaAccess

NESTED = b'{"schema":"warcflow.SubmitRequest","url":' + b"[" * 1000 + b"]" * 1000 + b"}"
"""2,042 bytes: 1,000 nested arrays inside an object (json.loads: RecursionError)."""
NESTED_ARRAY = b"[" * 1000 + b"]" * 1000
"""2,000 bytes of nesting with no object around it."""
NESTED_UNCLOSED = b'{"a":' + b"[" * 100_000
"""The security review's form: 100,000 open arrays."""
HUGE_INTEGER = b'{"schema":"warcflow.SubmitRequest","version":' + b"9" * 5000 + b"}"
"""An integer json.loads refuses to convert (ValueError, not JSONDecodeError)."""
JUNK_TEXT_430K = (b"not a url " * 43_004)[:430_037]
"""430,037 bytes of text: its old dead letter was 1,003,789 bytes (over 1,000,000)."""
BAD_TIMESTAMP_URL = b"http://127.0.0.1:9/post/bad-timestamp"
"""A valid URL line (on a port nothing answers): only its broker timestamp is hostile."""
YEAR_10889_MS = 2**48
"""A broker timestamp (ms) in the year 10889: past the ULID range and datetime's."""


def junk_binary(size: int = 750_000) -> bytes:
    """Random bytes, not UTF-8 (a binary dead letter grows by 4/3)."""
    return b"\xff\xfe" + os.urandom(size - 2)


def captures_poison(url: str) -> list[tuple[str, bytes]]:
    """Values that are not capture events, for the captures topic (the viewer's
    catalog and the custody feed read it). The one that looks like an event
    names ``url`` (a test site's: its liveness record gets rechecked)."""
    missing = {
        "schema": "warcflow.CaptureStored",
        "version": 1,
        "capture_id": "01KZZZZZZZZZZZZZZZZZZZZZZZ",
        "manifest_key": "manifests/none/01KZZZZZZZZZZZZZZZZZZZZZZZ.json",
        "url": url,
    }
    return [
        ("json-array", b"[1]"),
        ("nested", NESTED_ARRAY),
        ("unclosed", NESTED_UNCLOSED),
        ("not-json", b"\xff\x00junk"),
        ("missing-manifest", json.dumps(missing).encode()),
    ]


def ingest_poison() -> list[tuple[str, bytes, int | None]]:
    """(name, value, timestamp_ms) for the ingest topic; None: the producer's now."""
    return [
        ("nested", NESTED, None),
        ("nested-array", NESTED_ARRAY, None),
        ("unclosed", NESTED_UNCLOSED, None),
        ("huge-integer", HUGE_INTEGER, None),
        ("junk-430k", JUNK_TEXT_430K, None),
        ("binary-750k", junk_binary(), None),
        ("timestamp-2^48", BAD_TIMESTAMP_URL, YEAR_10889_MS),
        ("timestamp--1", BAD_TIMESTAMP_URL, -1),
        ("empty", b"", None),
    ]


def other_topic_poison() -> list[tuple[str, bytes]]:
    """Values for the media, retry, custody and recheck topics."""
    return [
        ("nested", NESTED),
        ("nested-array", NESTED_ARRAY),
        ("huge-integer", HUGE_INTEGER),
        ("json-array", b"[1]"),
        ("not-json", b"\xff\x00junk"),
    ]


def produce(
    access: KafkaAccess,
    topic: str,
    items: list[tuple[bytes, int | None]],
    *,
    key: bytes | None = None,
) -> list[tuple[int, int]]:
    """Produce (value, timestamp_ms) items to ``topic`` as a Kafka client with
    ``access`` may (kafka-python, acks=all); their (partition, offset)s. Outside
    clients (the submitter's credentials) may write only ingest; hostile values
    on the other topics come with a worker's credentials (a leaked one)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**access.client_kwargs(), acks="all", max_request_size=4_000_000)
    try:
        sent = [
            producer.send(topic, key=key, value=value, timestamp_ms=stamp) for value, stamp in items
        ]
        producer.flush(30)
        return [(m.partition, m.offset) for m in (f.get(30) for f in sent)]
    finally:
        producer.close(10)
