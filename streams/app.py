"""The faust app: topics bound to the stage logic of ``streams.agents``.

Each agent is a thin loop — take the raw message, hand it to the stage, which
decides and produces every outcome before returning; faust then acks. Topic
values are raw bytes (``value_serializer="raw"``) so that junk from any Kafka
client reaches our decoder, and the dead-letter topic, instead of failing in
faust's own deserialisation.

Stopping (``drain_and_exit``, on SIGTERM or Ctrl-C): every stage's ``Drain``
is requested, so no agent starts another message and every wait (backoff, a
retry's due time, an outage) ends at once; the messages that are being
captured get ``drain_seconds`` to finish. Then the offsets of what is done are
committed, the consumer leaves its group, and the process exits at once,
without the rest of faust's shutdown — which would ack the messages still in
flight as if they were done. Those are left
unacknowledged, so whichever worker takes their partition does them again
(under the same capture ids: nothing is stored twice). A worker therefore
stops within ``drain_seconds`` + 2 × ``COMMIT_TIMEOUT`` whatever it is doing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import faust

from streams import stackdump
from streams.agents.capture import CaptureStage
from streams.agents.custody import CustodyFeed, LedgerStage
from streams.agents.liveness import RecheckStage
from streams.agents.media import MediaStage
from streams.agents.routing import Drain, Draining, ProduceRefused
from streams.canary import run_canary
from streams.messages.base import SourceMessage
from streams.messages.custody import head_request_json
from streams.metrics import Metrics
from streams.offsets import install as install_offset_rule
from streams.settings import SASL_MECHANISM, KafkaAccess, StreamSettings
from streams.topics import TopicNames

log = logging.getLogger("warcflow.worker")

COMMIT_TIMEOUT = 2.5
"""Seconds a stopping worker waits for its last offset commit, and again for
leaving its consumer group (5 s in all after the drain)."""
REFUSED = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "CorruptRecordException",
        "InvalidTimestampError",
        "RecordListTooLargeError",
    }
)
"""aiokafka errors about the message itself: sending it again cannot help. Every
other error (no broker, no leader, a timeout) is worth waiting out."""
_STOPPING: dict[int, tuple[Drain, float]] = {}
"""id(app) → the app's Drain and its drain time (``build_app``)."""


class FaustProducer:
    """``Producer`` on faust's own (aiokafka) producer; waits for the broker's ack.
    Raises ``ProduceRefused`` when the broker (or the client's own size check)
    refuses the message itself, any other error as it is."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        producer = await self.app.maybe_start_producer()
        try:
            await producer.send_and_wait(
                topic, key, value, partition=None, timestamp=None, headers=None
            )
        except Exception as exc:
            if type(exc).__name__ in REFUSED:
                raise ProduceRefused(f"{type(exc).__name__}: {exc}") from exc
            raise


def faust_credentials(access: KafkaAccess):
    """faust's form of ``KafkaAccess.client_kwargs``: SCRAM when a user is set."""
    if not access.user:
        return None
    return faust.SASLCredentials(
        username=access.user, password=access.password, mechanism=SASL_MECHANISM
    )


def _source(message) -> SourceMessage:
    headers = tuple((k, v) for k, v in (message.headers or []))
    stamp = message.timestamp
    return SourceMessage(
        message.topic,
        message.partition,
        message.offset,
        # faust gives seconds (a float), or None when the record has none
        round(stamp * 1000) if isinstance(stamp, (int, float)) else -1,
        message.key,
        message.value,
        headers,
    )


@dataclass(frozen=True)
class CustodyParts:
    """The custody side's stages, and the fixity run (blocking; returns a summary)."""

    feed: CustodyFeed
    ledger: LedgerStage
    recheck: RecheckStage
    fixity: Callable[[], Awaitable[str]]


def build_app(
    settings: StreamSettings,
    datadir: Path,
    make_capture_stage: Callable[[FaustProducer], CaptureStage],
    make_media_stage: Callable[[FaustProducer], MediaStage],
    metrics: Metrics | None = None,
    make_custody: Callable[[FaustProducer], CustodyParts] | None = None,
) -> faust.App:
    """A faust app running the capture and media agents and their retry agents,
    and (``make_custody``) the custody feed, the ledger, the recheck agent and
    the leader's timers; each message's outcome and time go to ``metrics``."""
    metrics = metrics or Metrics()
    drain = Drain()
    install_offset_rule()  # agents run concurrently: commit only below the first in flight
    names = TopicNames(settings.topic_prefix, settings.spread_sites)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.servers],
        broker_credentials=faust_credentials(settings.kafka),
        # The workers may not create topics (streams.access): the admin makes
        # every topic, faust's leader topic included (streams.topics), and
        # faust must not try, since the broker checks CREATE before existence.
        topic_allow_declare=False,
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        producer_acks=-1,
        # aiokafka's own default, not faust's 1200 s: a produce or a wait for a
        # topic's metadata that gets no answer ends in an error that ``send``
        # logs ("cannot produce to ...") and tries again, instead of holding
        # every capture that is publishing its outcome for 20 silent minutes
        producer_request_timeout=40.0,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1,
        broker_commit_interval=1.0,
        # A worker killed without leaving the group holds its partitions until
        # the broker gives up on it: 15 s, not faust's 60, so a crashed worker's
        # share moves on (or its restart joins) quickly. Heartbeats come from a
        # background task; captures never block the event loop that long.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
    )
    _STOPPING[id(app)] = (drain, settings.drain_seconds)
    producer = FaustProducer(app)
    stage = make_capture_stage(producer)
    stage.partitions_of = lambda topic: app.consumer.topic_partitions(topic)
    media = make_media_stage(producer)
    stage.drain = media.drain = drain

    def raw(name: str):
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    def agent(
        topic: str,
        name: str,
        stage_name: str,
        concurrency: int,
        handle: Callable[[SourceMessage], Awaitable[str]],
        timed: bool,
    ) -> None:
        """Take each message, let the stage decide and produce its outcome, then
        (on return) faust acks it. Retries are not timed: their wait is backoff.
        Once the worker is stopping, a message is held unacknowledged instead
        (``Drain.hold``): its partition's next owner does it."""

        async def run(stream):
            async for event in stream.events():
                if drain.requested:
                    await drain.hold()
                start = time.monotonic()
                drain.began()
                try:
                    outcome: str | None = await handle(_source(event.message))
                except Draining:
                    outcome = None
                finally:
                    drain.ended()
                if outcome is None:
                    await drain.hold()
                    continue
                metrics.observe(stage_name, outcome, time.monotonic() - start if timed else None)

        run.__name__ = run.__qualname__ = name.replace("-", "_")
        app.agent(raw(topic), name=name, concurrency=concurrency)(run)

    agent(names.ingest, "capture", "capture", settings.concurrency, stage.on_ingest, True)
    agent(
        names.retry("capture"),
        "capture-retry",
        "capture",
        settings.concurrency,
        stage.on_retry,
        False,
    )
    agent(names.media, "media", "media", settings.media_concurrency, media.on_media, True)
    agent(
        names.retry("media"),
        "media-retry",
        "media",
        settings.media_concurrency,
        media.on_retry,
        False,
    )

    if make_custody is not None:
        custody = make_custody(producer)
        custody.feed.drain = custody.ledger.drain = custody.recheck.drain = drain
        agent(
            names.captures,
            "custody-feed",
            "custody",
            settings.concurrency,
            custody.feed.on_capture_event,
            False,
        )
        agent(names.custody, "ledger", "ledger", 1, custody.ledger.on_custody, False)
        agent(
            names.recheck,
            "recheck",
            "recheck",
            settings.concurrency,
            custody.recheck.on_recheck,
            True,
        )

        @app.timer(interval=settings.head_every, on_leader=True, name="ledger-head")
        async def ledger_head():
            try:
                asked = head_request_json(custody.ledger.clock(), "schedule")
                await producer.send(
                    names.custody, b"", custody.ledger.seals.seal(names.custody, asked)
                )
            except Exception:
                log.exception("could not ask for a ledger head")

        tick = min(30.0, max(1.0, settings.recheck_delays[0] / 2))

        @app.timer(interval=tick, on_leader=True, name="recheck-schedule")
        async def recheck_schedule():
            try:
                await custody.recheck.due_rechecks()
            except Exception:
                log.exception("recheck scheduling failed")

        if settings.fixity_every > 0:

            @app.timer(interval=settings.fixity_every, on_leader=True, name="fixity")
            async def fixity():
                try:
                    log.info("scheduled fixity run: %s", await custody.fixity())
                except Exception:
                    log.exception("scheduled fixity run failed")

    if settings.canary_url:

        @app.timer(interval=settings.canary_every, name="extractor-canary")
        async def extractor_canary():
            await run_canary(media.archiver.rehearse, settings.canary_url, metrics)

    return app


async def drain_and_exit(app) -> None:
    """Stop the worker within its drain time, leaving unfinished messages
    unacknowledged (see the module docstring); never returns."""
    drain, seconds = _STOPPING[id(app)]
    if drain.requested:
        return
    drain.request()
    busy = drain.in_flight
    log.info("stopping: %d message(s) in flight get %g s to finish", busy, seconds)
    deadline = time.monotonic() + seconds
    while drain.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    left = drain.in_flight
    try:
        await asyncio.wait_for(app.consumer.commit(), COMMIT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the offsets not committed are redone, not lost
        log.warning("stopping: could not commit the last offsets (%s)", exc)
    try:
        # leave the group now rather than at the session timeout, so the partitions
        # move on at once; the consumer's own last commit obeys the same rule
        # (streams.offsets: never past a message not acknowledged)
        await asyncio.wait_for(app.consumer.stop(), COMMIT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the broker times the member out instead
        log.warning("stopping: could not leave the consumer group (%s)", exc)
    log.info(
        "worker stopped: %d message(s) finished, %d left unacknowledged for redelivery",
        max(0, busy - left),
        left + drain.held,
    )
    logging.shutdown()
    os._exit(0)


def stop_on_signals(app, loop: asyncio.AbstractEventLoop) -> None:
    """SIGTERM and SIGINT drain the worker (``drain_and_exit``); a second one
    exits at once (what is unacknowledged is redone)."""

    def stop() -> None:
        if _STOPPING[id(app)][0].requested:
            os._exit(1)
        loop.create_task(drain_and_exit(app))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


class DrainingWorker(faust.Worker):
    """faust's worker, stopping by ``drain_and_exit`` on SIGTERM and SIGINT;
    SIGUSR1 writes where every task and thread is waiting to stderr
    (``streams.stackdump``: code locations only, where faust's own dump would
    print every frame's locals, credentials included)."""

    def _install_signal_handlers_unix(self) -> None:
        super()._install_signal_handlers_unix()
        stop_on_signals(self.app, self.loop)

    def _on_sigusr1(self) -> None:
        print(stackdump.dump(self.loop), file=sys.stderr, flush=True)
