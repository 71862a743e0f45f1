"""The media stage: MediaRequest → media capture → MediaStored / MediaFailed.

Faust-free, like the capture stage; bound to ``<prefix>.media`` and
``<prefix>.retry.media`` by ``streams.app``; its handlers are total
(``Router.shielded``).
"""

from __future__ import annotations

import logging

from archivers.manifests.manifest import STORED
from archivers.media.archiver import MediaArchiver, MediaRequest, MediaResult
from archivers.store import layout
from archivers.urls import surt
from streams.agents.routing import Job, Router, origin_message
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import (
    MEDIA_EVENTS,
    decode_media,
    decode_retry,
    media_event,
    media_from_payload,
    media_request_doc,
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
            request = decode_media(message)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        return await self.guarded(message, lambda: self._job(request))

    async def _on_retry(self, message: SourceMessage) -> str:
        try:
            retry = decode_retry(message)
            request = media_from_payload(retry.payload, provenance=retry.origin)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        await self.wait_until_due(retry)
        return await self.guarded(
            origin_message(retry, message),
            lambda: self._job(request),
            attempt=retry.attempt,
            history=list(retry.attempts),
        )

    def _job(self, request: MediaRequest) -> Job:
        async def fail(reason: str, text: str, attempts: list) -> MediaResult:
            return await self.archiver.record_failure(
                request, reason=reason, message=text, attempts=attempts
            )

        return Job(
            "media",
            request.media_id,
            request.media_url,
            surt(request.page_url).encode("utf-8"),
            media_request_doc(request),
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
