"""What every stage does with an attempt's outcome: the agents' shared routing.

A stage (capture, media) turns a message into a ``Job`` — an id that stays
the same on every attempt, the work to run, how to record a failure — and
``Router.attempt`` decides and produces the outcome before returning, because
faust commits the offset once the handler returns:

    stored / failed (recorded)    → the stage's ``on_result`` (events, follow-up work)
    Permanent error               → record the failure, then ``on_result``
    Retryable error               → ``<prefix>.retry.<stage>`` with attempt + 1, until
                                    RetryPolicy.max_attempts; then a recorded failure
                                    (``retries_exhausted:<reason>``) and a dead letter
                                    carrying every attempt's reason. Attempts that met
                                    an S3 outage do not count: they wait it out; nor
                                    do those not sent because their host is on hold
                                    (``archivers.net.holds``): due at the hold's end
    junk / unexpected exception   → ``<prefix>.dead-letter`` with the reason

What a stage produces to an internal topic (``TopicNames.sealed``) is sealed
in ``send`` with the process's own key, and what it consumes from one is
opened (``open``) before any effect: a message without a good seal of a role
that may make it is dead-lettered with the reason (``streams.messages.seal``).

Every entry point of a stage goes through ``shielded``, so a handler is total:
whatever a message holds, it returns after exactly one of stored / failed /
retry / dead-letter was produced, and never raises (faust would ack the
message with no outcome). Producing is retried until the broker accepts it,
except when the broker refuses the message itself (``ProduceRefused``: too
large, corrupt): that is an outcome of its own, a dead letter saying so — and
the dead letter, bounded by ``DeadLetter``, is produced in a smaller form if
even it is refused. The one exception that leaves a handler is ``Draining``:
the worker is stopping, the message is left unacknowledged (``Drain``) and is
redelivered to whichever worker takes its partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from archivers.clock import iso, parse_iso, utc_now
from archivers.errors import (
    CaptureError,
    Permanent,
    Retryable,
    StoreMisconfigured,
    StoreUnavailable,
)
from streams.messages.base import SourceMessage, shorten
from streams.messages.capture import DeadLetter, RetryRequest
from streams.messages.seal import NO_KEYS, Opened, Seals
from streams.metrics import Metrics
from streams.settings import RetryPolicy
from streams.topics import TopicNames

log = logging.getLogger("warcflow.agents")

PRODUCE_BACKOFF_MAX = 30.0
STORE_BACKOFF_MAX = 30.0
MISCONFIGURED_WAIT = 30.0
"""Seconds of backoff a stage without retry topics (custody, ledger, recheck)
waits on a misconfigured store (bad keys, no bucket) before it dead-letters the
message: long enough for a key rotation or a bucket being created, not forever."""
OUTAGE_REASONS = frozenset({"store_unavailable"})
"""Failure reasons that are warcflow's own infrastructure, not the captured site."""
WAIT_REASONS = OUTAGE_REASONS | {"host_held"}
"""Attempts that do not count towards giving up: an outage of ours, or a request
not sent because its host asked every worker to wait (``archivers.net.holds``)."""


class ProduceRefused(Exception):
    """The broker refused this very message (too large, corrupt, invalid):
    sending it again cannot help. Raised by a ``Producer``."""


class Draining(BaseException):
    """The worker is stopping: leave this message unacknowledged (it is
    redelivered). A BaseException, so no handler mistakes it for an outcome."""


class Drain:
    """A worker's stop request, shared by its stages: once ``request``ed, every
    wait of a stage (backoff, a retry's due time, a store or broker outage)
    raises ``Draining`` at once instead of waiting on."""

    def __init__(self) -> None:
        self.requested = False
        self.in_flight = 0
        """Messages being handled now (``began`` … ``ended``)."""
        self.held = 0
        """Messages held unacknowledged since the stop request."""
        self._event: asyncio.Event | None = None

    def request(self) -> None:
        self.requested = True
        if self._event is not None:
            self._event.set()

    def began(self) -> None:
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1

    async def hold(self) -> None:
        """Never return: the message stays unacknowledged until the process exits."""
        self.held += 1
        await asyncio.get_running_loop().create_future()

    async def pause(self, seconds: float, sleep: Callable[[float], Awaitable[Any]]) -> None:
        """Wait ``seconds`` (with ``sleep``, unless it is asyncio's: then woken by
        a stop request); ``Draining`` if a stop was or is requested."""
        if self.requested:
            raise Draining
        if sleep is asyncio.sleep:
            if self._event is None:
                self._event = asyncio.Event()
            try:
                await asyncio.wait_for(self._event.wait(), seconds)
            except TimeoutError:
                return
            raise Draining
        await sleep(seconds)
        if self.requested:
            raise Draining


def collapse_outages(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """Keep a long outage's run of attempts as its first and latest record, the
    latest with ``repeated``: how many attempts it stands for. A retry message
    stays small however long the outage lasts."""
    run = 0
    while run < len(history) and history[-1 - run].get("reason") in WAIT_REASONS:
        run += 1
    if run <= 2:
        return history
    first, rest = history[-run], history[-run + 1 :]
    latest = dict(rest[-1])
    latest["repeated"] = str(sum(int(record.get("repeated", "1")) for record in rest))
    return [*history[:-run], first, latest]


class Producer(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Deliver one message (acks=all) or raise."""


class EventLog(Protocol):
    async def contains(self, schemas: tuple[str, ...], work_id: str, since: datetime) -> bool:
        """Whether the captures topic holds, since ``since``, an event of one of
        ``schemas`` whose ``capture_id`` is ``work_id`` (exactly: not any event
        that merely mentions it)."""


@dataclass
class Job:
    """One unit of work of a stage, independent of which attempt this is."""

    stage: str
    work_id: str
    url: str
    key: bytes
    payload: dict[str, Any]
    run: Callable[[], Awaitable[Any]]
    fail: Callable[[str, str, list[dict[str, str]]], Awaitable[Any]]


PUBLISHED_KEPT = 100_000
"""Work ids a stage remembers having produced the event of (a few MB)."""


class Router:
    """Base of the stages: attempt, retry, give up, dead-letter, produce."""

    stage_name = "agent"

    def __init__(
        self,
        producer: Producer,
        names: TopicNames,
        retry: RetryPolicy,
        events: EventLog,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        metrics: Metrics | None = None,
        seals: Seals = NO_KEYS,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.seals = seals
        """The keys it seals with and opens with (none: it can do neither, so
        every internal message is refused and none is produced)."""
        self.producer = producer
        self.names = names
        self.retry = retry
        self.events = events
        self.clock = clock
        self.sleep = sleep
        self.drain = Drain()
        self._publishing: dict[str, tuple[asyncio.Lock, int]] = {}
        """Per work id being published: its lock and how many tasks hold or await it."""
        self._published: OrderedDict[str, None] = OrderedDict()
        """Work ids whose event this process produced (the latest PUBLISHED_KEPT)."""

    def open(self, message: SourceMessage) -> Opened:
        """The message's verified seal and content (``Seals.open``); ``Undecodable``
        with the reason (``unsealed``, ``forged``, …) otherwise."""
        return self.seals.open(message.topic, message.value)

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``; ``Draining`` once the worker is stopping."""
        await self.drain.pause(seconds, self.sleep)

    async def on_result(self, job: Job, result: Any) -> str:
        """Produce what follows a recorded outcome; return "stored" or "failed"."""
        raise NotImplementedError

    async def wait_until_due(self, retry: RetryRequest) -> None:
        wait = (retry.not_before - self.clock()).total_seconds()
        if wait > 0:
            await self.pause(min(wait, self.retry.max_delay * 1.5))

    async def guarded(
        self,
        origin: SourceMessage,
        build: Callable[[], Job],
        *,
        attempt: int = 1,
        history: list[dict[str, str]] | None = None,
    ) -> str:
        """Build the job and attempt it; nothing escapes (unexpected errors dead-letter)."""
        history = list(history or [])
        try:
            job = build()
            return await self.attempt(origin, job, attempt=attempt, history=history)
        except Exception as exc:  # noqa: BLE001 - an agent must never die on one message
            reason, text = self._unexpected(origin, exc)
            return await self.dead_letter(
                origin,
                reason,
                text,
                attempts=[*history, self.attempt_record(attempt, reason, text)],
            )

    async def attempt(
        self, origin: SourceMessage, job: Job, *, attempt: int, history: list[dict[str, str]]
    ) -> str:
        try:
            result = await job.run()
        except Permanent as exc:
            self.metrics.failure(job.stage, exc.reason)
            log.warning("%s %s of %s failed: %s", job.stage, job.work_id, job.url, exc)
            record = self.attempt_record(attempt, exc.reason, str(exc))
            try:
                result = await job.fail(exc.reason, str(exc), [*history, record])
            except Retryable as store_exc:
                return await self._retry_or_give_up(
                    origin, job, attempt, [*history, record], store_exc
                )
        except Retryable as exc:
            self.metrics.failure(job.stage, exc.reason)
            record = self.attempt_record(attempt, exc.reason, str(exc))
            return await self._retry_or_give_up(origin, job, attempt, [*history, record], exc)
        return await self.on_result(job, result)

    async def _retry_or_give_up(
        self,
        origin: SourceMessage,
        job: Job,
        attempt: int,
        history: list[dict[str, str]],
        exc: CaptureError,
    ) -> str:
        # Our own store being down says nothing about the URL, and giving up could
        # not even be recorded: such attempts wait (backoff capped at max_delay)
        # as long as the outage lasts, and only the others count towards giving up.
        # A request not sent because its host is on hold is no attempt either.
        spent = sum(1 for record in history if record.get("reason") not in WAIT_REASONS)
        if exc.reason in WAIT_REASONS or spent < self.retry.max_attempts:
            history = collapse_outages(history)
            delay = self.retry.delay(attempt, random.uniform(-1, 1))
            due = self.clock() + timedelta(seconds=delay)
            if isinstance(exc, Retryable) and exc.retry_at is not None and exc.retry_at > due:
                due = exc.retry_at  # the host's hold ends then: not a moment before
                delay = (due - self.clock()).total_seconds()
            log.warning(
                "%s %s of %s: attempt %d failed (%s); retry in %.1f s",
                job.stage,
                job.work_id,
                job.url,
                attempt,
                exc,
                delay,
            )
            retry = RetryRequest(
                job.stage,
                job.work_id,
                job.payload,
                origin.coordinates(),
                attempt + 1,
                due,
                tuple(history),
            )
            await self.send(self.names.retry(job.stage), job.key, retry.to_json())
            return "retry"
        log.error(
            "%s %s of %s failed %d times; giving up: %s",
            job.stage,
            job.work_id,
            job.url,
            attempt,
            exc,
        )
        reason = f"retries_exhausted:{exc.reason}"
        text = f"gave up after {attempt} attempts; last error: {exc}"
        try:
            result = await job.fail(reason, text, history)
            await self.on_result(job, result)
        except CaptureError as store_exc:
            # The store is down too: the dead letter below is the record.
            log.error("could not record the failure of %s: %s", job.work_id, store_exc)
        await self.dead_letter(origin, reason, text, attempts=history, stage=job.stage)
        return "failed"

    async def publish_once(
        self,
        schemas: tuple[str, ...],
        work_id: str,
        created: bool,
        since: str | None,
        key: bytes,
        event: bytes,
    ) -> None:
        """Produce ``event`` unless a redelivery finds its outcome (an event of
        ``schemas`` for ``work_id``) already on the captures topic.

        One work id at a time per process: after a crash the redelivered ingest
        message and its retries arrive together on different partitions, and
        each would find no event on the topic yet and produce one (the fault
        soak saw three). So they queue on a per-id lock, and an id this process
        has produced the event of is not looked up again."""
        lock, users = self._publishing.get(work_id) or (asyncio.Lock(), 0)
        self._publishing[work_id] = (lock, users + 1)
        try:
            async with lock:
                if work_id in self._published:
                    return
                if not (
                    not created
                    and since
                    and await self.events.contains(schemas, work_id, parse_iso(since))
                ):
                    await self.send(self.names.captures, key, event)
                self._published[work_id] = None
                while len(self._published) > PUBLISHED_KEPT:
                    self._published.popitem(last=False)
        finally:
            lock, users = self._publishing[work_id]
            if users == 1:
                del self._publishing[work_id]
            else:
                self._publishing[work_id] = (lock, users - 1)

    async def shielded(
        self, message: SourceMessage, handle: Callable[[SourceMessage], Awaitable[str]]
    ) -> str:
        """``handle(message)``, total: any error dead-letters the message (a
        capture error with its reason, anything else as ``internal_error`` with
        the traceback logged) instead of ending the agent with no outcome."""
        try:
            return await handle(message)
        except Exception as exc:  # noqa: BLE001 - an agent must never die on one message
            reason, text = self._unexpected(message, exc)
            return await self.dead_letter(message, reason, text)

    def _unexpected(self, message: SourceMessage, exc: Exception) -> tuple[str, str]:
        """(reason, text) of an error that ends a message's handling."""
        if isinstance(exc, ProduceRefused):
            return "produce_refused", f"the broker refused an outcome of it: {shorten(str(exc))}"
        if isinstance(exc, CaptureError):
            return exc.reason, shorten(str(exc), 2000)
        log.error(
            "internal error on %s/%d/%d: %s",
            message.topic,
            message.partition,
            message.offset,
            traceback.format_exc(),
        )
        return "internal_error", shorten(f"{type(exc).__name__}: {exc}", 2000)

    async def dead_letter(
        self,
        message: SourceMessage,
        reason: str,
        text: str,
        *,
        attempts: list[dict[str, str]] | None = None,
        stage: str | None = None,
    ) -> str:
        log.warning(
            "dead-letter: %s at %s/%d/%d: %s",
            reason,
            message.topic,
            message.partition,
            message.offset,
            text,
        )
        self.metrics.dead_letter(stage or self.stage_name, reason)
        letter = DeadLetter(
            stage or self.stage_name, reason, text, message, self.clock(), tuple(attempts or ())
        )
        try:
            await self.send(self.names.dead_letter, message.key, letter.to_json())
        except ProduceRefused as exc:
            # Even the bounded letter was refused (a broker whose limit is lower
            # than ours, a key or headers it will not take): the smallest letter
            # that still says what and why, without the message's bytes.
            log.error("dead letter refused (%s); producing it without the message", exc)
            bare = SourceMessage(
                message.topic, message.partition, message.offset, message.timestamp_ms, None, b""
            )
            small = DeadLetter(
                stage or self.stage_name,
                reason,
                f"{text[:500]} [the message itself was not kept: {shorten(str(exc))}]",
                bare,
                self.clock(),
            )
            await self.send(
                self.names.dead_letter, None, small.to_json(), refused_is_retryable=True
            )
        return "dead-letter"

    async def send(
        self, topic: str, key: bytes | None, value: bytes, *, refused_is_retryable: bool = False
    ) -> None:
        """Produce (sealed, if ``topic`` is an internal one), retrying until the
        broker accepts (a stop request ends the wait: ``Draining``).
        ``ProduceRefused`` when the broker refuses this message itself, unless
        ``refused_is_retryable`` (a message small enough that only the broker's
        configuration can be at fault: keep trying)."""
        if topic in self.names.sealed():
            value = self.seals.seal(topic, value)
        delay = 0.5
        while True:
            try:
                await self.producer.send(topic, key, value)
                return
            except ProduceRefused as exc:
                if not refused_is_retryable:
                    raise
                log.error("the broker refuses %s (%s); trying again in %.1f s", topic, exc, delay)
            except Exception as exc:  # noqa: BLE001 - keep trying: acking without it loses data
                log.error("cannot produce to %s (%s); trying again in %.1f s", topic, exc, delay)
            await self.pause(delay)
            delay = min(delay * 2, PRODUCE_BACKOFF_MAX)

    def attempt_record(self, attempt: int, reason: str, text: str) -> dict[str, str]:
        return {"attempt": str(attempt), "at": iso(self.clock()), "reason": reason, "message": text}


def origin_message(retry: RetryRequest, message: SourceMessage) -> SourceMessage:
    """The message that started the work, rebuilt from a retry's ``origin``,
    so a dead letter after retries points at (and replays) the original."""
    origin = retry.origin
    try:
        timestamp_ms = int(parse_iso(origin["timestamp"]).timestamp() * 1000)
        return SourceMessage(
            origin["topic"],
            int(origin["partition"]),
            int(origin["offset"]),
            timestamp_ms,
            message.key,
            json.dumps(retry.payload, sort_keys=True).encode("utf-8"),
        )
    except (KeyError, TypeError, ValueError):
        return message


async def with_store(
    work: Callable[[], Any],
    pause: Callable[[float], Awaitable[Any]],
    *,
    misconfigured_for: float = MISCONFIGURED_WAIT,
) -> Any:
    """Run blocking S3 work off the loop; while the store is down, wait and try again
    (the message is not acknowledged until it is done, so nothing is lost). A
    misconfigured store (``StoreMisconfigured``: bad keys, no bucket) is waited
    on for ``misconfigured_for`` seconds of backoff, then raised: the caller's
    message is dead-lettered naming the setting to fix."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            return await asyncio.to_thread(work)
        except StoreMisconfigured as exc:
            if waited >= misconfigured_for:
                raise
            log.warning("store misconfigured (%s); trying again in %.1f s", exc, delay)
        except StoreUnavailable as exc:
            log.warning("store unavailable (%s); trying again in %.1f s", exc, delay)
        await pause(delay)
        waited += delay
        delay = min(delay * 2, STORE_BACKOFF_MAX)
