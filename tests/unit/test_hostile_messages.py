"""Whatever a message holds, each stage ends it in exactly one outcome and returns.

Error-path review F1 and F2 (../shared/reviews/error-paths-2026-12.md): nested
JSON raised RecursionError out of the capture and media handlers, and a broker
timestamp of -1 or 2^48 ms raised ValueError (in the capture id, and in the
dead letter itself); faust then acked the message with no outcome at all. A
430 KB junk message made a dead letter over the producer's 1,000,000-byte
limit, retried for ever. Here each of them, at the size that hurt, reaches a
dead letter that names the reason, and the handler returns.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest

from streams.agents.routing import ProduceRefused
from streams.messages.base import SourceMessage
from streams.messages.capture import KEPT_VALUE_BYTES, DeadLetter
from tests.support import hostile
from tests.support.stages import (
    NAMES,
    RecordingProducer,
    ingest,
    make_media_stage,
    make_stage,
    submit,
)

MAX_REQUEST = 1_000_000
"""faust's producer_max_request_size: aiokafka refuses a bigger message."""


class GaveUp(BaseException):
    """The stage kept sending a message the broker refuses (the old, endless loop)."""


class LimitedProducer(RecordingProducer):
    """Refuses what aiokafka refuses (over ``MAX_REQUEST`` bytes), as FaustProducer
    reports it; a stage that sends it again and again is stopped by ``GaveUp``."""

    def __init__(self, limit: int = MAX_REQUEST) -> None:
        super().__init__()
        self.limit = limit
        self.refused = 0

    async def send(self, topic, key, value):
        if len(value) > self.limit:
            self.refused += 1
            if self.refused > 20:
                raise GaveUp(f"{self.refused} sends of a {len(value)}-byte message to {topic}")
            raise ProduceRefused(f"MessageSizeTooLargeError: {len(value)} bytes")
        await super().send(topic, key, value)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def letter_of(producer) -> dict:
    [letter] = producer.on(NAMES.dead_letter)
    return letter


@pytest.mark.parametrize(
    "value",
    [hostile.NESTED, hostile.NESTED_ARRAY, hostile.NESTED_UNCLOSED, hostile.HUGE_INTEGER],
    ids=["nested-2kb", "nested-array", "unclosed-100k", "huge-integer"],
)
def test_nested_or_unreadable_json_on_ingest_is_dead_lettered(site, value):
    stage, producer, store = make_stage(site)
    assert run(stage.on_ingest(ingest(value, offset=4))) == "dead-letter"
    letter = letter_of(producer)
    assert letter["reason"] in ("bad_json", "invalid_url"), letter["reason"]
    assert letter["source"]["offset"] == 4 and letter["value_size"] == len(value)
    assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert producer.on(NAMES.captures) == [] and store.objects == {}


@pytest.mark.parametrize("timestamp", [-1, 2**48, 2**63 - 1], ids=["-1", "2^48", "2^63-1"])
@pytest.mark.parametrize("kind", ["bare-url", "submit-json"])
def test_a_timestamp_that_is_no_time_is_dead_lettered_with_the_reason(site, timestamp, kind):
    stage, producer, store = make_stage(site)
    value = site.url("/post/1").encode() if kind == "bare-url" else submit(site.url("/post/1"))
    message = SourceMessage(NAMES.ingest, 0, 11, timestamp, b"k", value)
    assert run(stage.on_ingest(message)) == "dead-letter"
    letter = letter_of(producer)
    assert letter["reason"] == "bad_timestamp" and str(timestamp) in letter["message"]
    assert letter["source"] == {
        "topic": NAMES.ingest,
        "partition": 0,
        "offset": 11,
        "timestamp": None,
    }
    assert letter["timestamp_ms"] == timestamp
    assert base64.b64decode(letter["value_b64"]) == value  # replayable: the bytes are kept
    assert producer.on(NAMES.captures) == [] and store.objects == {}


def test_a_430_kb_junk_message_gets_a_bounded_dead_letter_and_the_stage_moves_on(site):
    stage, _, _ = make_stage(site)
    stage.producer = producer = LimitedProducer()
    value = hostile.JUNK_TEXT_430K
    assert len(value) == 430_037
    assert run(stage.on_ingest(ingest(value, offset=2))) == "dead-letter"
    assert producer.refused == 0  # the letter fits at once
    letter = letter_of(producer)
    assert letter["reason"] == "invalid_url"
    assert (letter["value_size"], letter["value_truncated"]) == (430_037, True)
    assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert base64.b64decode(letter["value_b64"]) == value[:KEPT_VALUE_BYTES]
    assert letter["value_text"] is None
    # ... and the next message of the partition is captured
    assert run(stage.on_ingest(ingest(submit(site.url("/post/1")), offset=3))) == "stored"


@pytest.mark.parametrize("size", [430_037, 750_000, 5_000_000])
def test_a_dead_letter_stays_far_below_the_producer_limit(size):
    for value in (b"x" * size, hostile.junk_binary(size)):
        source = SourceMessage(NAMES.ingest, 1, 9, 1_764_000_000_000, b"k" * 100_000, value)
        source = SourceMessage(
            source.topic, 1, 9, source.timestamp_ms, source.key, value, (("h", b"v" * 50_000),) * 5
        )
        data = DeadLetter("capture", "bad_json", "m" * 100_000, source, _now()).to_json()
        assert len(data) < MAX_REQUEST // 2, len(data)
        doc = json.loads(data)
        assert doc["value_size"] == size and doc["key_size"] == 100_000
        assert doc["headers_truncated"] and len(doc["message"]) <= 4000


def test_a_dead_letter_of_a_message_with_no_time_can_still_be_written():
    for timestamp in (-1, 2**48, 2**63 - 1):
        source = SourceMessage(NAMES.ingest, 0, 1, timestamp, None, b"https://e.org/p")
        doc = json.loads(DeadLetter("capture", "bad_timestamp", "no", source, _now()).to_json())
        assert doc["source"]["timestamp"] is None and doc["timestamp_ms"] == timestamp


def test_when_even_the_dead_letter_is_refused_a_bare_one_is_written(site):
    stage, _, _ = make_stage(site)
    stage.producer = producer = LimitedProducer(limit=50_000)  # a broker with a lower limit
    assert run(stage.on_ingest(ingest(hostile.JUNK_TEXT_430K, offset=6))) == "dead-letter"
    letter = letter_of(producer)
    assert letter["reason"] == "invalid_url" and "not kept" in letter["message"]
    assert letter["source"]["offset"] == 6 and letter["value_b64"] == ""


def test_an_outcome_the_broker_refuses_ends_in_a_dead_letter_not_a_loop(site):
    stage, _, _ = make_stage(site)
    stage.producer = producer = LimitedProducer()

    original = producer.send

    async def refuse_events(topic, key, value):
        if topic == NAMES.captures:
            raise ProduceRefused("RecordTooLargeError: the broker's limit")
        await original(topic, key, value)

    producer.send = refuse_events
    assert run(stage.on_ingest(ingest(submit(site.url("/post/1")), offset=8))) == "dead-letter"
    letter = letter_of(producer)
    assert letter["reason"] == "produce_refused" and "RecordTooLargeError" in letter["message"]


@pytest.mark.parametrize(
    "name, value", hostile.other_topic_poison(), ids=[n for n, _ in hostile.other_topic_poison()]
)
@pytest.mark.parametrize("topic", ["retry.capture", "media", "retry.media"])
def test_poison_on_the_retry_and_media_topics_is_dead_lettered(site, topic, name, value):
    if topic == "retry.capture":
        stage, producer, _ = make_stage(site)
        handle = stage.on_retry
    else:
        stage, producer, _ = make_media_stage(site)
        handle = stage.on_media if topic == "media" else stage.on_retry
    message = SourceMessage(f"{NAMES.prefix}.{topic}", 0, 3, 1_764_000_000_000, b"k", value)
    assert run(handle(message)) == "dead-letter"
    letter = letter_of(producer)
    assert letter["source"]["topic"] == message.topic and letter["reason"]
    assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()


def _now():
    from archivers.clock import utc_now

    return utc_now()


def test_a_stopping_worker_leaves_a_message_stuck_on_the_broker_unacknowledged(site):
    """A message whose outcome cannot be produced (the broker away) held the
    worker for ever on SIGTERM; once a stop is requested every wait ends with
    ``Draining``, which no handler takes for an outcome (the message stays
    unacknowledged and is redelivered)."""
    from streams.agents.routing import Draining

    stage, _, _ = make_stage(site)
    sends = []

    class Away(RecordingProducer):
        async def send(self, topic, key, value):
            sends.append(topic)
            if len(sends) == 3:
                stage.drain.request()  # SIGTERM arrives while it waits for the broker
            raise ConnectionError("cannot reach the broker")

    stage.producer = Away()
    with pytest.raises(Draining):
        run(stage.on_ingest(ingest(submit(site.url("/post/1")))))
    assert len(sends) == 3


def test_the_faust_producer_says_which_refusals_are_about_the_message():
    """aiokafka's own size check (and the broker's RecordTooLarge) are about the
    message: ProduceRefused; a broker that is away is worth waiting out."""
    from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

    from streams.app import FaustProducer

    class Raising:
        def __init__(self, error):
            self.error = error

        async def send_and_wait(self, *args, **kwargs):
            raise self.error

    class App:
        def __init__(self, error):
            self.producer = Raising(error)

        async def maybe_start_producer(self):
            return self.producer

    refused = FaustProducer(App(MessageSizeTooLargeError("1003789 bytes")))
    with pytest.raises(ProduceRefused, match="MessageSizeTooLargeError"):
        run(refused.send("t", None, b"x"))
    away = FaustProducer(App(KafkaConnectionError("no broker")))
    with pytest.raises(KafkaConnectionError):
        run(away.send("t", None, b"x"))


def test_the_watchers_book_ignores_poison_on_the_watch_topics():
    """The watchers' log reads compacted topics any client can write to: a nested
    record is ignored like any other bad one (it raised RecursionError)."""
    from streams.watchers.book import WatchBook

    book = WatchBook()
    for value in (hostile.NESTED_ARRAY, hostile.NESTED_UNCLOSED, hostile.HUGE_INTEGER, b"[1]"):
        book.apply_watch(b"w0123456789ab", value)
        book.apply_seen(b"w0123456789ab/" + value[:64], value)
    assert book.watches() == []
