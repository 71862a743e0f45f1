"""The capture agent's routing (decode → capture → produce), without a broker.

A unit test of one module, ``streams.agents.capture``: ``RecordingProducer``
stands in for Kafka and ``MemoryStore`` for S3 (its conditional put is atomic,
it keeps no versions), only to feed and watch the stage. The same flows on the
real broker and S3 server: tests/integration/test_pipeline.py (redelivery,
retries, dead letters), test_faults.py (kills, an S3 outage, a broker
restart), test_error_paths.py (poison, a crash before the page event, a
misconfigured store, SIGTERM).
"""

import asyncio
from datetime import timedelta

import pytest

from archivers.clock import utc_now
from archivers.store import layout
from archivers.store.memory import MemoryStore
from streams.keys import owner
from streams.messages.base import SourceMessage
from streams.messages.capture import SubmitRequest
from tests.support.site import Route
from tests.support.stages import (
    NAMES,
    RecordingProducer,
    as_message,
    ingest,
    make_stage,
    submit,
)


def test_stored_capture_produces_one_event(site):
    stage, producer, store = make_stage(site)
    assert asyncio.run(stage.on_ingest(ingest(submit(site.url("/post/1"))))) == "stored"
    [event] = producer.on(NAMES.captures)
    assert event["schema"] == "warcflow.CaptureStored"
    assert event["http_status"] == 200 and event["warc_key"] in store.objects
    assert event["manifest_key"] in store.objects


def test_junk_goes_to_the_dead_letter_topic_and_nothing_else(site):
    stage, producer, store = make_stage(site)
    assert asyncio.run(stage.on_ingest(ingest(b"\xff\x00junk", offset=5))) == "dead-letter"
    [letter] = producer.on(NAMES.dead_letter)
    assert letter["reason"] == "not_utf8" and letter["source"]["offset"] == 5
    assert producer.on(NAMES.captures) == [] and store.objects == {}


def test_redelivery_produces_no_second_event(site):
    stage, producer, store = make_stage(site)
    message = ingest(submit(site.url("/post/1")), offset=9)
    asyncio.run(stage.on_ingest(message))
    asyncio.run(stage.on_ingest(message))
    assert len(producer.on(NAMES.captures)) == 1
    assert sum(1 for k in store.objects if k.startswith("warc/")) == 1


def test_redelivery_after_a_lost_event_produces_it(site):
    stage, producer, store = make_stage(site)
    message = ingest(submit(site.url("/post/1")), offset=9)
    asyncio.run(stage.on_ingest(message))
    producer.clear()  # the crash happened before the event reached the broker
    restarted, producer, _ = make_stage(site, store=store)  # a new worker process
    asyncio.run(restarted.on_ingest(message))
    assert len(producer.on(NAMES.captures)) == 1


def test_redeliveries_arriving_together_produce_one_event(site):
    """After a crash between the recorded outcome and its event, the ingest
    message and its retries come back at once on different partitions; each
    looked, found no event yet, and produced one (the fault soak: three)."""
    stage, producer, store = make_stage(site)
    message = ingest(submit(site.url("/post/1")), offset=9)
    asyncio.run(stage.on_ingest(message))
    producer.clear()  # the crash: the outcome is in S3, its event never left
    restarted, producer, _ = make_stage(site, store=store, check_takes=0.05, send_takes=0.05)

    async def together():
        await asyncio.gather(*(restarted.on_ingest(message) for _ in range(3)))

    asyncio.run(together())
    assert len(producer.on(NAMES.captures)) == 1


def test_transient_failure_is_retried_with_the_same_capture_id(site):
    site.routes["/flaky"] = Route(b"<p>finally</p>", fail_first=1)
    stage, producer, _store = make_stage(site)
    assert asyncio.run(stage.on_ingest(ingest(submit(site.url("/flaky"))))) == "retry"
    [retry] = producer.on(NAMES.retry("capture"))
    assert retry["attempt"] == 2 and retry["attempts"][0]["reason"] == "http_503"
    assert asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry))) == "stored"
    [event] = producer.on(NAMES.captures)
    assert event["capture_id"] == retry["work_id"]


def test_exhausted_retries_end_in_failure_and_dead_letter_with_history(site):
    site.routes["/down"] = Route(b"down", status=503)
    stage, producer, _store = make_stage(site, attempts=3)
    outcome = asyncio.run(stage.on_ingest(ingest(submit(site.url("/down")), offset=3)))
    while outcome == "retry":
        retry = producer.on(NAMES.retry("capture"))[-1]
        outcome = asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry)))
    assert outcome == "failed"
    [event] = producer.on(NAMES.captures)
    assert event["schema"] == "warcflow.CaptureFailed"
    assert event["reason"] == "retries_exhausted:http_503"
    [letter] = producer.on(NAMES.dead_letter)
    assert [a["reason"] for a in letter["attempts"]] == ["http_503"] * 3
    assert letter["source"]["offset"] == 3  # the original ingest message, for replay
    assert site.count("/down") == 3


def test_permanent_failure_is_recorded_on_the_timeline(site):
    stage, producer, _store = make_stage(site)
    outcome = asyncio.run(stage.on_ingest(ingest(submit("http://127.0.0.1:1/private"))))
    assert outcome == "failed"
    [event] = producer.on(NAMES.captures)
    assert event["status"] == "failed" and event["reason"] == "policy_refused"
    assert producer.on(NAMES.dead_letter) == []


class FailingProducer(RecordingProducer):
    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    async def send(self, topic, key, value):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        await super().send(topic, key, value)


def test_produce_failures_are_retried_until_the_broker_accepts(site):
    stage, _, _ = make_stage(site)
    stage.producer = FailingProducer(failures=3)
    assert asyncio.run(stage.on_ingest(ingest(submit(site.url("/post/1"))))) == "stored"
    assert len(stage.producer.on(NAMES.captures)) == 1


def test_retry_waits_until_it_is_due(site):
    stage, _producer, _store = make_stage(site)
    waits = []

    async def record_sleep(seconds):
        waits.append(seconds)

    now = utc_now()
    stage.sleep = record_sleep
    stage.clock = lambda: now  # a fixed clock: the wait is exact, whatever the machine's speed
    request = SubmitRequest.new(site.url("/post/1"), submitted_at=utc_now())
    retry = {
        "schema": "warcflow.RetryRequest",
        "version": 1,
        "stage": "capture",
        "payload": request.to_dict(),
        # the id the ingest message at its origin started (it must be, to continue it)
        "work_id": layout.capture_id(NAMES.ingest, 0, 1, 1795603393000),
        "attempt": 2,
        "attempts": [],
        "origin": {
            "topic": NAMES.ingest,
            "partition": 0,
            "offset": 1,
            "timestamp": "2026-11-25T10:43:13.000000Z",
        },
        "not_before": (now + timedelta(seconds=0.04)).isoformat(),
    }
    assert asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry))) == "stored"
    assert waits == [pytest.approx(0.04)]
    waits.clear()  # due long after the longest backoff: waits no longer than that
    retry["not_before"] = (now + timedelta(days=1)).isoformat()
    assert asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry))) == "stored"
    assert waits == [pytest.approx(stage.retry.max_delay * 1.5)]


class DownStore(MemoryStore):
    """An S3 server that is unreachable for the first ``outage`` writes."""

    def __init__(self, outage: int):
        super().__init__()
        self.outage = outage

    def put_if_absent(self, *args, **kwargs):
        from archivers.errors import StoreUnavailable

        if self.outage > 0:
            self.outage -= 1
            raise StoreUnavailable("S3 not reachable (test)", reason="store_unavailable")
        return super().put_if_absent(*args, **kwargs)


def test_an_s3_outage_is_waited_out_not_counted_as_failed_attempts(site):
    site.routes["/flaky"] = Route(b"<p>up</p>", fail_first=1)
    stage, producer, _ = make_stage(site, attempts=3)
    stage.archiver.store = store = DownStore(outage=12)  # longer than 3 attempts
    outcome = asyncio.run(stage.on_ingest(ingest(submit(site.url("/flaky")))))
    while outcome == "retry":
        retry = producer.on(NAMES.retry("capture"))[-1]
        outcome = asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry)))
    assert outcome == "stored" and producer.on(NAMES.dead_letter) == []
    [event] = producer.on(NAMES.captures)
    assert event["warc_key"] in store.objects
    history = producer.on(NAMES.retry("capture"))[-1]["attempts"]
    assert [h["reason"] for h in history] == ["http_503", "store_unavailable", "store_unavailable"]
    assert history[-1]["repeated"] == "11"  # 12 attempts met the outage: the first, and 11 more
    assert len(producer.on(NAMES.retry("capture"))) == 13


def _on_partition(value: bytes, partition: int, offset: int = 7) -> SourceMessage:
    return SourceMessage(
        NAMES.ingest, partition, offset, int(utc_now().timestamp() * 1000), b"any key", value
    )


def test_a_message_off_its_sites_partition_is_forwarded_to_the_owner_before_any_fetch(site):
    """kcat, a script, a bare URL line: keyed otherwise, on any partition. The
    capture happens on the partition that owns the site, with the capture id of
    the message as submitted (streams.keys)."""
    stage, producer, store = make_stage(site)
    stage.partitions_of = lambda topic: 4
    url = site.url("/post/1")
    home = owner(NAMES.key(url), 4)
    message = _on_partition(url.encode(), (home + 1) % 4)
    assert asyncio.run(stage.on_ingest(message)) == "forwarded"
    assert site.count("/post/1") == 0 and store.objects == {}
    [(topic, key, retry)] = producer.sent
    assert topic == NAMES.retry("capture") and key == NAMES.key(url) == b"127.0.0.1"
    expected = layout.capture_id(
        message.topic, message.partition, message.offset, message.timestamp_ms
    )
    assert retry["work_id"] == expected and retry["attempt"] == 1 and retry["attempts"] == []
    assert retry["origin"]["partition"] == message.partition

    # the owner takes it (twice, as a redelivered forward would be): one capture
    for _ in range(2):
        done = asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry)))
        assert done == "stored"
    [event] = producer.on(NAMES.captures)
    assert event["capture_id"] == expected


def test_a_message_on_its_sites_partition_is_captured_there(site):
    stage, producer, _store = make_stage(site)
    stage.partitions_of = lambda topic: 4
    url = site.url("/post/1")
    message = _on_partition(submit(url), owner(NAMES.key(url), 4))
    assert asyncio.run(stage.on_ingest(message)) == "stored"
    assert producer.on(NAMES.retry("capture")) == []
