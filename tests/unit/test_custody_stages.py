"""The custody stages without Kafka: capture events become one ledger entry each,
junk and internal errors go to the dead-letter topic, never end the agent."""

import asyncio
import hashlib
import io
import json

from archivers.custody.ledger import Ledger, capture_entries
from archivers.custody.liveness import Schedule
from archivers.store import layout
from archivers.store.memory import MemoryStore
from streams.agents.custody import CustodyFeed, LedgerStage
from streams.messages.base import SourceMessage
from streams.settings import RetryPolicy
from streams.topics import TopicNames
from tests.support.stages import EventsSeen, RecordingProducer, no_sleep

NAMES = TopicNames("t")
CAPTURE = layout.capture_id("t.ingest", 0, 7, 1764064800000)


def message(value: bytes, offset=0, topic="t.captures") -> SourceMessage:
    return SourceMessage(topic, 0, offset, 1764064800000, CAPTURE.encode(), value)


def stages(store):
    producer = RecordingProducer()
    common = (producer, NAMES, RetryPolicy(), EventsSeen(producer))
    feed = CustodyFeed(store, Schedule(), *common, sleep=no_sleep)
    ledger = LedgerStage(Ledger(store), *common, sleep=no_sleep)
    return producer, feed, ledger


def stored_event() -> bytes:
    return json.dumps(
        {
            "schema": "warcflow.CaptureStored",
            "version": 1,
            "capture_id": CAPTURE,
            "url": "https://example.org/p",
            "warc_key": "warc/x.warc.gz",
            "manifest_key": "manifests/x.json",
            "stored_at": "2026-11-25T10:00:01Z",
        }
    ).encode()


def put(store, key, data):
    store.put_new(
        key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/octet-stream",
    )


def test_a_capture_event_is_one_entry_with_the_stored_digests_however_often_it_comes():
    store = MemoryStore()
    put(store, "warc/x.warc.gz", b"warc bytes")
    put(store, "manifests/x.json", b"{}")
    producer, feed, ledger = stages(store)
    for offset in (0, 1):  # delivered twice
        assert asyncio.run(feed.on_capture_event(message(stored_event(), offset))) == "recorded"
    custody = producer.on("t.custody")
    assert len(custody) == 2
    for n, doc in enumerate(custody):
        asyncio.run(ledger.on_custody(message(json.dumps(doc).encode(), n, "t.custody")))
    [entry] = capture_entries(store, CAPTURE)
    assert {o.key: o.sha256 for o in entry.event.objects} == {
        "warc/x.warc.gz": hashlib.sha256(b"warc bytes").hexdigest(),
        "manifests/x.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert "liveness/" in "".join(store.objects)  # its original will be rechecked


def test_junk_and_internal_errors_are_dead_letters():
    class Broken(MemoryStore):
        def head(self, key):
            raise ValueError("disk on fire")

    producer, feed, ledger = stages(Broken())
    assert asyncio.run(feed.on_capture_event(message(b"not json"))) == "dead-letter"
    assert asyncio.run(feed.on_capture_event(message(stored_event()))) == "dead-letter"
    assert (
        asyncio.run(ledger.on_custody(message(b'{"schema": "x"}', 0, "t.custody"))) == "dead-letter"
    )
    reasons = [letter["reason"] for letter in producer.on("t.dead-letter")]
    assert reasons == ["bad_event", "internal_error", "unknown_schema"]
