"""The capture agent's logic: decode → capture → produce, never raising.

``CaptureStage`` is faust-free: it takes ``SourceMessage``s and a ``Producer``,
so it is tested without a broker; ``streams.app`` binds it to faust topics.
Faust commits a message's offset after the handler returns, whatever
happened, so every outcome is decided and produced here before returning:

    junk message                  → dead-letter topic (original bytes + reason)
    stored capture                → CaptureStored on the captures topic
    permanent failure (4xx, SSRF) → failed manifest + CaptureFailed
    transient failure             → retry topic, same capture id, attempt + 1,
                                    until RetryPolicy.max_attempts; then failed
                                    manifest + CaptureFailed + dead-letter entry
                                    with every attempt's reason
    bug (unexpected exception)    → dead-letter topic with the traceback's summary

Producing is retried until the broker accepts it: a message is never acked
before its outcome is on a topic (at-least-once). A redelivered message finds
its manifest, and re-produces the event only if the captures topic lacks it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from datetime import datetime, timedelta
from typing import Callable, Protocol

from archivers import keys
from archivers.capture import CaptureRequest, CaptureResult, PageArchiver
from archivers.clock import iso, parse_iso, utc_now
from archivers.errors import CaptureError, Permanent, Retryable
from archivers.urls import surt
from streams.eventlog import CaptureEventLog
from streams.records import (
    DeadLetter,
    RetryRequest,
    SourceMessage,
    SubmitRequest,
    Undecodable,
    capture_event,
    decode_retry,
    decode_submit,
)
from streams.settings import RetryPolicy
from streams.topics import TopicNames

log = logging.getLogger("warcflow.capture")

PRODUCE_BACKOFF_MAX = 30.0


class Producer(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Deliver one message (acks=all) or raise."""


class EventLog(Protocol):
    async def contains(self, capture_id: str, since: datetime) -> bool: ...


class CaptureStage:
    def __init__(self, archiver: PageArchiver, producer: Producer, names: TopicNames,
                 retry: RetryPolicy, events: EventLog | CaptureEventLog, *,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self.archiver = archiver
        self.producer = producer
        self.names = names
        self.retry = retry
        self.events = events
        self.clock = clock
        self.sleep = sleep

    async def on_ingest(self, message: SourceMessage) -> str:
        """Handle one ingest message; return the outcome's name (for logs and tests)."""
        try:
            request = decode_submit(message)
        except Undecodable as exc:
            return await self._dead_letter(message, exc.reason, str(exc))
        capture = CaptureRequest(
            capture_id=keys.capture_id(message.topic, message.partition, message.offset,
                                       message.timestamp_ms),
            url=request.url, submitted_at=request.submitted_at,
            request=request.describe(), provenance=message.coordinates())
        return await self._guarded(message, request, capture, attempt=1, history=[])

    async def on_retry(self, message: SourceMessage) -> str:
        """Handle one retry-topic message: wait until it is due, then try again."""
        try:
            retry = decode_retry(message)
        except Undecodable as exc:
            return await self._dead_letter(message, exc.reason, str(exc))
        wait = (retry.not_before - self.clock()).total_seconds()
        if wait > 0:
            await self.sleep(min(wait, self.retry.max_delay * 1.5))
        capture = CaptureRequest(
            capture_id=retry.capture_id, url=retry.request.url,
            submitted_at=retry.request.submitted_at, request=retry.request.describe(),
            provenance=retry.origin)
        origin = _origin_message(retry, message)
        return await self._guarded(origin, retry.request, capture, attempt=retry.attempt,
                                   history=list(retry.attempts))

    async def _guarded(self, message, request, capture, *, attempt, history) -> str:
        try:
            return await self._attempt(message, request, capture, attempt=attempt, history=history)
        except Exception as exc:  # noqa: BLE001 - the agent must never die on one message
            log.error("internal error on %s: %s", capture.url, traceback.format_exc())
            return await self._dead_letter(
                message, "internal_error", f"{type(exc).__name__}: {exc}",
                attempts=history + [self._attempt_record(attempt, "internal_error", repr(exc))])

    async def _attempt(self, message: SourceMessage, request: SubmitRequest,
                       capture: CaptureRequest, *, attempt: int, history: list[dict]) -> str:
        started = self.clock()
        try:
            result = await self.archiver.capture(capture)
        except Permanent as exc:
            log.warning("capture %s of %s failed: %s", capture.capture_id, capture.url, exc)
            record = self._attempt_record(attempt, exc.reason, str(exc))
            try:
                result = await self.archiver.record_failure(
                    capture, reason=exc.reason, message=str(exc), attempts=history + [record])
            except Retryable as store_exc:
                return await self._retry_or_give_up(message, request, capture, attempt,
                                                    history + [record], store_exc)
        except Retryable as exc:
            record = self._attempt_record(attempt, exc.reason, str(exc))
            return await self._retry_or_give_up(message, request, capture, attempt,
                                                history + [record], exc)
        await self._publish(result)
        m = result.manifest
        if m.status == "stored":
            log.info("captured %s → s3://%s/%s (HTTP %s, %s bytes, %.2f s)%s", m.url,
                     self.archiver.store.bucket, m.warc_key, m.http_status, m.size,
                     (self.clock() - started).total_seconds(),
                     "" if result.created else " [already stored]")
        return "stored" if m.status == "stored" else "failed"

    async def _retry_or_give_up(self, message, request, capture, attempt, history,
                                exc: CaptureError) -> str:
        if attempt < self.retry.max_attempts:
            delay = self.retry.delay(attempt, random.uniform(-1, 1))
            log.warning("capture %s of %s: attempt %d failed (%s); retry in %.1f s",
                        capture.capture_id, capture.url, attempt, exc, delay)
            retry = RetryRequest(request, capture.capture_id, dict(capture.provenance),
                                 attempt + 1, self.clock() + timedelta(seconds=delay),
                                 tuple(history))
            await self._send(self.names.retry("capture"), _key(capture.url), retry.to_json())
            return "retry"
        log.error("capture %s of %s failed %d times; giving up: %s",
                  capture.capture_id, capture.url, attempt, exc)
        reason = f"retries_exhausted:{exc.reason}"
        message_text = f"gave up after {attempt} attempts; last error: {exc}"
        try:
            result = await self.archiver.record_failure(
                capture, reason=reason, message=message_text, attempts=history)
            await self._publish(result)
        except CaptureError as store_exc:
            # The store is down too: the dead-letter entry below is the record.
            log.error("could not record the failure of %s: %s", capture.capture_id, store_exc)
        await self._dead_letter(message, reason, message_text, attempts=history)
        return "failed"

    async def _publish(self, result: CaptureResult) -> None:
        manifest = result.manifest
        key = keys.manifest_key(manifest.url, manifest.capture_id)
        if not result.created:
            since = parse_iso(manifest.stored_at or manifest.finished_at or manifest.submitted_at)
            if await self.events.contains(manifest.capture_id, since):
                return
        await self._send(self.names.captures, manifest.surt.encode("utf-8"),
                         capture_event(manifest, key))

    async def _dead_letter(self, message: SourceMessage, reason: str, text: str, *,
                           attempts: list[dict] | None = None) -> str:
        log.warning("dead-letter: %s at %s/%d/%d: %s", reason, message.topic,
                    message.partition, message.offset, text)
        letter = DeadLetter("capture", reason, text, message, self.clock(), tuple(attempts or ()))
        await self._send(self.names.dead_letter, message.key, letter.to_json())
        return "dead-letter"

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        delay = 0.5
        while True:
            try:
                await self.producer.send(topic, key, value)
                return
            except Exception as exc:  # noqa: BLE001 - keep trying: acking without it loses data
                log.error("cannot produce to %s (%s); trying again in %.1f s", topic, exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, PRODUCE_BACKOFF_MAX)

    def _attempt_record(self, attempt: int, reason: str, text: str) -> dict[str, str]:
        return {"attempt": str(attempt), "at": iso(self.clock()), "reason": reason,
                "message": text}


def _key(url: str) -> bytes:
    try:
        return surt(url).encode("utf-8")
    except CaptureError:
        return url.encode("utf-8", "replace")


def _origin_message(retry: RetryRequest, message: SourceMessage) -> SourceMessage:
    """The original ingest message's coordinates, for the dead-letter entry."""
    origin = retry.origin
    try:
        timestamp_ms = int(parse_iso(origin["timestamp"]).timestamp() * 1000)
        return SourceMessage(origin["topic"], int(origin["partition"]), int(origin["offset"]),
                             timestamp_ms, message.key, retry.request.to_json())
    except (KeyError, TypeError, ValueError):
        return message
