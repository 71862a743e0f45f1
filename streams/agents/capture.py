"""The capture stage: ingest message → page capture → media requests + event.

Faust-free (``streams.app`` binds it to topics). Decoding failures go to the
dead-letter topic, so does a retry whose seal is not the worker's
(``streams.messages.seal``) or whose capture id is not the one its origin —
an ingest message's coordinates — started (``unbound``), and so does a
message whose broker timestamp cannot be a time (``bad_timestamp``: the
capture id is derived from it); everything else is routed by
``streams.agents.routing``, and the handlers are total (``Router.shielded``).
An ingest message on a partition that does not own its site (a producer that
keyed it otherwise: ``streams.keys``) is forwarded before any fetch: a
``RetryRequest`` for its first attempt, due now, with the capture id of the
message as submitted, keyed by the site, on the sealed retry topic, whose
partition of that key belongs to the site's owner (``forward``).
After a page is stored, each media item found in it becomes a
``MediaRequest`` on ``<prefix>.media`` *before* the page's event is produced,
so a crash in between re-sends them on redelivery (media ids are
deterministic, so the media agent stores each once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from archivers.capture.archiver import CaptureRequest, CaptureResult, PageArchiver
from archivers.clock import parse_iso
from archivers.manifests.manifest import STORED
from archivers.media.archiver import MediaRequest
from archivers.store import layout
from streams.agents.routing import Job, Router, origin_message
from streams.keys import owner
from streams.messages.base import SourceMessage, Undecodable, timestamp_problem
from streams.messages.capture import (
    CAPTURE_EVENTS,
    RetryRequest,
    SubmitRequest,
    capture_event,
    check_capture_retry,
    decode_retry,
    decode_submit,
    media_request_json,
    submit_from_payload,
)

log = logging.getLogger("warcflow.capture")


class CaptureStage(Router):
    stage_name = "capture"

    def __init__(self, archiver: PageArchiver, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.archiver = archiver
        self._warned = False
        self.partitions_of: Callable[[str], int | None] = lambda topic: None
        """How many partitions a topic has (the consumer's metadata; set by
        ``streams.app``); None: unknown, and nothing is forwarded."""

    async def on_ingest(self, message: SourceMessage) -> str:
        """Handle one ingest message; return the outcome's name (for logs and tests)."""
        return await self.shielded(message, self._on_ingest)

    async def on_retry(self, message: SourceMessage) -> str:
        """Handle one retry-topic message: wait until it is due, then try again."""
        return await self.shielded(message, self._on_retry)

    async def _on_ingest(self, message: SourceMessage) -> str:
        try:
            request = decode_submit(message)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        problem = timestamp_problem(message.timestamp_ms)
        if problem:
            return await self.dead_letter(
                message, "bad_timestamp", f"{problem}: the capture id is derived from it"
            )
        capture_id = layout.capture_id(
            message.topic, message.partition, message.offset, message.timestamp_ms
        )
        if self.foreign(message, request.url):
            return await self.forward(message, request, capture_id)
        return await self.guarded(
            message, lambda: self._job(request, capture_id, message.coordinates())
        )

    def foreign(self, message: SourceMessage, url: str) -> bool:
        """Whether ``message`` is on a partition that does not own ``url``'s site.
        Never when the retry topic has another partition count than ingest: the
        forward would land on another member (logged once: the topics need the
        same count, ``warcflow status`` says so)."""
        partitions = self.partitions_of(message.topic)
        if not partitions:
            return False
        retry = self.partitions_of(self.names.retry("capture"))
        if retry and retry != partitions:
            if not self._warned:
                self._warned = True
                log.error(
                    "%s has %d partitions and %s %d: sites cannot have one owner "
                    "(docs/decisions/0026); give them the same count",
                    message.topic,
                    partitions,
                    self.names.retry("capture"),
                    retry,
                )
            return False
        return owner(self.names.key(url), partitions) != message.partition

    async def forward(self, message: SourceMessage, request: SubmitRequest, capture_id: str) -> str:
        """Hand the capture to its site's owner (the module docstring); "forwarded"."""
        retry = RetryRequest(
            "capture", capture_id, request.to_dict(), message.coordinates(), 1, self.clock()
        )
        await self.send(self.names.retry("capture"), self.names.key(request.url), retry.to_json())
        log.info(
            "forwarded %s (%s/%d/%d) to the owner of its site",
            request.url,
            message.topic,
            message.partition,
            message.offset,
        )
        return "forwarded"

    async def _on_retry(self, message: SourceMessage) -> str:
        try:
            self.open(message)  # before anything: a forged retry has no effect
            retry = decode_retry(message)
            check_capture_retry(retry, self.names.ingest)
            request = submit_from_payload(retry.payload)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        await self.wait_until_due(retry)
        origin = origin_message(retry, message)
        return await self.guarded(
            origin,
            lambda: self._job(request, retry.work_id, retry.origin),
            attempt=retry.attempt,
            history=list(retry.attempts),
        )

    def _job(self, request: SubmitRequest, capture_id: str, provenance: dict) -> Job:
        capture = CaptureRequest(
            capture_id=capture_id,
            url=request.url,
            submitted_at=request.submitted_at,
            request=request.describe(),
            provenance=provenance,
            mode=request.mode,
        )

        async def fail(reason: str, text: str, attempts: list) -> CaptureResult:
            return await self.archiver.record_failure(
                capture, reason=reason, message=text, attempts=attempts
            )

        return Job(
            "capture",
            capture_id,
            request.url,
            self.names.key(request.url),
            request.to_dict(),
            lambda: self.archiver.capture(capture),
            fail,
        )

    async def on_result(self, job: Job, result: CaptureResult) -> str:
        m = result.manifest
        if m.status == STORED:
            for item in m.media:
                media = MediaRequest(
                    media_id=item["media_id"],
                    parent_capture_id=m.capture_id,
                    page_url=m.url,
                    media_url=item["url"],
                    kind=item["kind"],
                    found_by=item["found_by"],
                    submitted_at=parse_iso(m.submitted_at),
                    parent_record_id=m.page_record_id,
                    request=m.request,
                    session_id=(m.session or {}).get("id"),
                )
                # keyed by the media URL's site: its owner downloads it
                await self.send(
                    self.names.media, self.names.key(media.media_url), media_request_json(media)
                )
        await self.publish_once(
            CAPTURE_EVENTS,
            m.capture_id,
            result.created,
            m.stored_at or m.finished_at or m.submitted_at,
            job.key,
            capture_event(m, layout.manifest_key(m.url, m.capture_id)),
        )
        if m.status == STORED:
            if result.created:
                self.metrics.stored("capture", m.size)
            log.info(
                "captured %s → s3://%s/%s (HTTP %s, %s bytes, %d media)%s",
                m.url,
                self.archiver.store.bucket,
                m.warc_key,
                m.http_status,
                m.size,
                len(m.media),
                "" if result.created else " [already stored]",
            )
            return "stored"
        return "failed"
