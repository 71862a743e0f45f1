"""Stage tests without a broker: a recording producer, the event log over it, messages.

``RecordingProducer`` stands in for Kafka in unit tests of one stage;
tests/integration runs the same stages on the real broker.
"""

import asyncio
import json

from archivers.capture.archiver import PageArchiver
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store.memory import MemoryStore
from streams.agents.capture import CaptureStage
from streams.clients.eventlog import is_outcome
from streams.messages.base import SourceMessage
from streams.messages.capture import SubmitRequest
from streams.messages.seal import MacKey, Seals
from streams.settings import RetryPolicy
from streams.topics import TopicNames

NAMES = TopicNames("wf")
KEYS = (
    MacKey("worker", bytes(range(32))),
    MacKey("operator", bytes(range(32, 64))),
    MacKey("viewer", bytes(range(64, 96))),
)
SEALS = Seals(KEYS, "worker")
"""The worker's keys in stage tests: it seals as the worker and opens every role's."""


def sealed(topic: str, value: bytes, role: str = "worker") -> bytes:
    """``value`` sealed by ``role`` for ``topic`` (a message that role made)."""
    return Seals(KEYS, role).seal(topic, value)


class RecordingProducer:
    def __init__(self, takes: float = 0.0):
        self.sent = []
        self.bytes = []
        self.takes = takes  # seconds until the broker's ack (a real send is not instant)

    async def send(self, topic, key, value):
        if self.takes:
            await asyncio.sleep(self.takes)
        self.sent.append((topic, key, json.loads(value)))
        self.bytes.append((topic, value))

    def on(self, topic):
        return [value for t, _, value in self.sent if t == topic]

    def clear(self):
        self.sent.clear()
        self.bytes.clear()

    def raw(self, topic):
        return [value for t, value in self.bytes if t == topic]


class EventsSeen:
    """The redelivery check over what the recording producer sent, with the real
    matching rule (``streams.clients.eventlog.is_outcome``)."""

    def __init__(self, producer, takes: float = 0.0):
        self.producer = producer
        self.takes = takes  # seconds a look takes (the real one reads the topic in a thread)

    async def contains(self, schemas, work_id, since):
        if self.takes:
            await asyncio.sleep(self.takes)
        return any(
            is_outcome(SourceMessage(NAMES.captures, 0, n, 0, None, value), schemas, work_id, SEALS)
            for n, value in enumerate(self.producer.raw(NAMES.captures))
        )


async def no_sleep(_seconds):
    return None


def make_stage(site, attempts=3, *, store=None, check_takes: float = 0.0, send_takes: float = 0.0):
    store = store if store is not None else MemoryStore()
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        agent={"name": "warcflow", "version": "test"},
    )
    producer = RecordingProducer(send_takes)
    stage = CaptureStage(
        archiver,
        producer,
        NAMES,
        RetryPolicy(attempts, 0.01, 0.05),
        EventsSeen(producer, check_takes),
        sleep=no_sleep,
        seals=SEALS,
    )
    return stage, producer, store


def make_media_stage(site, attempts=3):
    from archivers.media.archiver import MediaArchiver, MediaSettings
    from streams.agents.media import MediaStage

    store = MemoryStore()
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    archiver = MediaArchiver(fetcher, store, MediaSettings(), agent={"name": "warcflow"})
    producer = RecordingProducer()
    stage = MediaStage(
        archiver,
        producer,
        NAMES,
        RetryPolicy(attempts, 0.01, 0.05),
        EventsSeen(producer),
        sleep=no_sleep,
        seals=SEALS,
    )
    return stage, producer, store


def ingest(value: bytes, offset=0) -> SourceMessage:
    return SourceMessage(NAMES.ingest, 0, offset, int(utc_now().timestamp() * 1000), b"k", value)


def submit(url: str) -> bytes:
    return SubmitRequest.new(url, submitted_at=utc_now(), tags=("t",)).to_json()


def as_message(topic, value: dict, offset=0, role: str | None = "worker") -> SourceMessage:
    """``value`` as a message on ``topic``: sealed by ``role`` (None: unsealed)
    if the topic is an internal one, as the stages expect."""
    data = json.dumps(value).encode()
    if role is not None and topic in NAMES.sealed():
        data = sealed(topic, data, role)
    return SourceMessage(topic, 0, offset, int(utc_now().timestamp() * 1000), b"k", data)


class Crash(BaseException):
    """The worker process dying at this point (nothing in a stage catches it)."""


class KafkaSend:
    """A stage's producer on the real broker (kafka-python, acks=all); with
    ``crash_on``, the first send to that topic is the process dying (``Crash``)."""

    def __init__(self, access, crash_on: str | None = None) -> None:
        from kafka import KafkaProducer

        self._producer = KafkaProducer(**access.client_kwargs(), acks="all")
        self.crash_on = crash_on

    async def send(self, topic, key, value):
        import asyncio

        if topic == self.crash_on:
            self.crash_on = None
            raise Crash(f"died before producing to {topic}")
        await asyncio.to_thread(lambda: self._producer.send(topic, key=key, value=value).get(30))
