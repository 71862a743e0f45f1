"""The media stage: MediaRequest → media capture → MediaStored / MediaFailed.

Faust-free, like the capture stage; bound to ``<prefix>.media`` and
``<prefix>.retry.media`` by ``streams.app``; its handlers are total
(``Router.shielded``). A request or retry is opened first: one without the
worker's seal (``streams.messages.seal``), or whose media id is not the one
its parent capture and URL make (``unbound``), is dead-lettered unseen.
"""

from __future__ import annotations

import logging

from archivers.manifests.manifest import STORED
from archivers.media.archiver import MediaArchiver, MediaRequest, MediaResult
from archivers.store import layout
from streams.agents.routing import Job, Router, origin_message
from streams.messages.base import SourceMessage, Undecodable, parse_json
from streams.messages.capture import (
    MEDIA_EVENTS,
    check_media_request,
    decode_media,
    decode_retry,
    media_event,
    media_from_payload,
)

log = logging.getLogger("warcflow.media")


class MediaStage(Router):
    stage_name = "media"

    def __init__(self, archiver: MediaArchiver, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.archiver = archiver

    async def on_media(self, message: SourceMessage) -> str:
        return await self.shielded(message, self._on_media)

    async def on_retry(self, message: SourceMessage) -> str:
        return await self.shielded(message, self._on_retry)

    async def _on_media(self, message: SourceMessage) -> str:
        try:
            self.open(message)  # before anything: a forged request has no effect
            request = decode_media(message)
            check_media_request(request)
            # the request as it came, seal and all: a retry carries it, and a dead
            # letter after the last retry replays it (only the worker can seal one)
            sealed = parse_json(message.value)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        return await self.guarded(message, lambda: self._job(request, sealed))

    async def _on_retry(self, message: SourceMessage) -> str:
        try:
            self.open(message)
            retry = decode_retry(message)
            if retry.stage != "media":
                raise Undecodable("unbound", f"a retry of stage {retry.stage[:40]!r} on media's")
            request = media_from_payload(retry.payload, provenance=retry.origin)
            check_media_request(request, retry.work_id)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        await self.wait_until_due(retry)
        return await self.guarded(
            origin_message(retry, message),
            lambda: self._job(request, retry.payload),
            attempt=retry.attempt,
            history=list(retry.attempts),
        )

    def _job(self, request: MediaRequest, payload: dict) -> Job:
        async def fail(reason: str, text: str, attempts: list) -> MediaResult:
            return await self.archiver.record_failure(
                request, reason=reason, message=text, attempts=attempts
            )

        return Job(
            "media",
            request.media_id,
            request.media_url,
            self.names.key(request.media_url),
            payload,
            lambda: self.archiver.capture(request),
            fail,
        )

    async def on_result(self, job: Job, result: MediaResult) -> str:
        m = result.manifest
        key = layout.media_manifest_key(m.parent_capture_id, m.media_id)
        await self.publish_once(
            MEDIA_EVENTS,
            m.media_id,
            result.created,
            m.stored_at or m.finished_at or m.submitted_at,
            job.key,
            media_event(m, key),
        )
        if m.status == STORED:
            if result.created and not m.deduplicated:
                self.metrics.stored("media", m.size)
            log.info(
                "media %s → s3://%s/%s (%s, %sx%s, %.1f s, %s bytes%s)",
                m.source_url,
                self.archiver.store.bucket,
                m.key,
                m.container,
                m.width,
                m.height,
                m.duration or 0,
                m.size,
                ", already stored" if m.deduplicated else "",
            )
            return "stored"
        return "failed"
