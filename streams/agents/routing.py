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
                                    an S3 outage do not count: they wait it out
    junk / unexpected exception   → ``<prefix>.dead-letter`` with the reason

Nothing here raises: producing is retried until the broker accepts it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from archivers.clock import iso, parse_iso, utc_now
from archivers.errors import CaptureError, Permanent, Retryable, StoreUnavailable
from streams.messages.base import SourceMessage
from streams.messages.capture import DeadLetter, RetryRequest
from streams.metrics import Metrics
from streams.settings import RetryPolicy
from streams.topics import TopicNames

log = logging.getLogger("warcflow.agents")

PRODUCE_BACKOFF_MAX = 30.0
STORE_BACKOFF_MAX = 30.0
OUTAGE_REASONS = frozenset({"store_unavailable"})
"""Failure reasons that are warcflow's own infrastructure, not the captured site."""


def collapse_outages(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """Keep a long outage's run of attempts as its first and latest record, the
    latest with ``repeated``: how many attempts it stands for. A retry message
    stays small however long the outage lasts."""
    run = 0
    while run < len(history) and history[-1 - run].get("reason") in OUTAGE_REASONS:
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
    async def contains(self, work_id: str, since: datetime) -> bool:
        """Whether the captures topic holds an event for ``work_id`` since ``since``."""


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
    ) -> None:
        self.metrics = metrics or Metrics()
        self.producer = producer
        self.names = names
        self.retry = retry
        self.events = events
        self.clock = clock
        self.sleep = sleep

    async def on_result(self, job: Job, result: Any) -> str:
        """Produce what follows a recorded outcome; return "stored" or "failed"."""
        raise NotImplementedError

    async def wait_until_due(self, retry: RetryRequest) -> None:
        wait = (retry.not_before - self.clock()).total_seconds()
        if wait > 0:
            await self.sleep(min(wait, self.retry.max_delay * 1.5))

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
            log.error(
                "internal error on %s/%d/%d: %s",
                origin.topic,
                origin.partition,
                origin.offset,
                traceback.format_exc(),
            )
            return await self.dead_letter(
                origin,
                "internal_error",
                f"{type(exc).__name__}: {exc}",
                attempts=[*history, self.attempt_record(attempt, "internal_error", repr(exc))],
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
        spent = sum(1 for record in history if record.get("reason") not in OUTAGE_REASONS)
        if exc.reason in OUTAGE_REASONS or spent < self.retry.max_attempts:
            history = collapse_outages(history)
            delay = self.retry.delay(attempt, random.uniform(-1, 1))
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
                self.clock() + timedelta(seconds=delay),
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
        self, work_id: str, created: bool, since: str | None, key: bytes, event: bytes
    ) -> None:
        """Produce ``event`` unless a redelivery finds it already on the captures topic."""
        if not created and since and await self.events.contains(work_id, parse_iso(since)):
            return
        await self.send(self.names.captures, key, event)

    async def shielded(
        self, message: SourceMessage, handle: Callable[[SourceMessage], Awaitable[str]]
    ) -> str:
        """``handle(message)``; an unexpected error dead-letters the message (the
        traceback logged) instead of ending the agent."""
        try:
            return await handle(message)
        except Exception as exc:  # noqa: BLE001 - an agent must never die on one message
            log.error(
                "internal error on %s/%d/%d: %s",
                message.topic,
                message.partition,
                message.offset,
                traceback.format_exc(),
            )
            return await self.dead_letter(message, "internal_error", f"{type(exc).__name__}: {exc}")

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
        await self.send(self.names.dead_letter, message.key, letter.to_json())
        return "dead-letter"

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        delay = 0.5
        while True:
            try:
                await self.producer.send(topic, key, value)
                return
            except Exception as exc:  # noqa: BLE001 - keep trying: acking without it loses data
                log.error("cannot produce to %s (%s); trying again in %.1f s", topic, exc, delay)
                await self.sleep(delay)
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


async def with_store(work: Callable[[], Any], sleep) -> Any:
    """Run blocking S3 work off the loop; while the store is down, wait and try again
    (the message is not acknowledged until it is done, so nothing is lost)."""
    delay = 0.5
    while True:
        try:
            return await asyncio.to_thread(work)
        except StoreUnavailable as exc:
            log.warning("store unavailable (%s); trying again in %.1f s", exc, delay)
            await sleep(delay)
            delay = min(delay * 2, STORE_BACKOFF_MAX)
