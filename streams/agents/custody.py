"""The custody stages: capture events → custody events → the ledger.

``CustodyFeed`` (any worker, every partition of ``warcflow.captures``) turns
each capture or media event into a ``CustodyEvent`` naming every stored object
with the SHA-256 and version the S3 server holds, and produces it to
``warcflow.custody``; for a stored page it also starts the URL's liveness
record (first recheck soon). ``LedgerStage`` is the ledger's single writer:
``warcflow.custody`` has one partition and the agent a concurrency of one, so
exactly one worker appends, in topic order.

A redelivered capture event yields the same ``event_id`` (``stored:<id>``), so
the ledger does not append it twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from archivers.clock import iso
from archivers.custody import liveness
from archivers.custody.fixity import object_digest
from archivers.custody.ledger import CustodyEvent, Ledger
from archivers.custody.liveness import Schedule
from archivers.store import layout
from archivers.store.base import ObjectStore
from streams.agents.routing import Router, with_store
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import CAPTURE_FAILED, CAPTURE_STORED, MEDIA_FAILED, MEDIA_STORED
from streams.messages.custody import custody_json, decode_custody

log = logging.getLogger("warcflow.custody")


def event_objects(doc: dict[str, Any]) -> list[str]:
    """The object keys a capture or media event stands for."""
    found = [doc.get("warc_key"), doc.get("manifest_key")]
    if doc["schema"] == CAPTURE_STORED:
        found.append(layout.index_key(doc["capture_id"]))
    if doc["schema"] == MEDIA_STORED:
        found += [doc.get("key"), doc.get("poster_key"), doc.get("derived_key")]
    if doc.get("screenshot_key"):
        found.append(doc["screenshot_key"])
    return [k for k in found if k]


class CustodyFeed(Router):
    stage_name = "custody"

    def __init__(self, store: ObjectStore, schedule: Schedule, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        self.schedule = schedule

    async def on_capture_event(self, message: SourceMessage) -> str:
        return await self.shielded(message, self._on_capture_event)

    async def _on_capture_event(self, message: SourceMessage) -> str:
        try:
            doc = json.loads(message.value or b"")
            if not isinstance(doc, dict) or doc.get("schema") not in (
                CAPTURE_STORED,
                CAPTURE_FAILED,
                MEDIA_STORED,
                MEDIA_FAILED,
            ):
                raise ValueError("not a capture or media event")
            capture_id = str(doc["capture_id"])
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            return await self.dead_letter(message, "bad_event", f"captures topic: {exc}")
        event = await with_store(lambda: self._custody_event(doc, capture_id), self.sleep)
        await self.send(self.names.custody, capture_id.encode(), custody_json(event))
        if doc["schema"] == CAPTURE_STORED:
            await with_store(
                lambda: liveness.begin(
                    self.store,
                    str(doc["url"]),
                    capture_id,
                    doc.get("final_url"),
                    self.schedule,
                    self.clock(),
                ),
                self.sleep,
            )
        return "recorded"

    def _custody_event(self, doc: dict[str, Any], capture_id: str) -> CustodyEvent:
        objects = tuple(o for o in (object_digest(self.store, k) for k in event_objects(doc)) if o)
        media = doc["schema"] in (MEDIA_STORED, MEDIA_FAILED)
        detail = {
            k: doc.get(k)
            for k in (
                "status",
                "reason",
                "outcome",
                "http_status",
                "submitted_at",
                "fetched_at",
                "stored_at",
                "manifest_key",
                "request_id",
                "parent_capture_id",
                "source_url",
                "perceptual",  # a media item's hashes, short form (MediaManifest.summary)
            )
            if doc.get(k) is not None
        }
        return CustodyEvent(
            event="media" if media else "capture",
            event_id=f"stored:{capture_id}",
            at=doc.get("stored_at") or doc.get("finished_at") or iso(self.clock()),
            who=str(doc.get("operator") or "warcflow-worker"),
            capture_id=capture_id,
            url=doc.get("page_url") if media else doc.get("url"),
            objects=objects,
            detail=detail,
        )


class LedgerStage(Router):
    """The single writer of the ledger (see the module docstring)."""

    stage_name = "ledger"

    def __init__(self, ledger: Ledger, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = ledger
        self._key_published = False

    async def on_custody(self, message: SourceMessage) -> str:
        return await self.shielded(message, self._on_custody)

    async def _on_custody(self, message: SourceMessage) -> str:
        try:
            event = decode_custody(message.value)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        if event is None:
            head = await with_store(self._publish, self.sleep)
            return "head" if head else "no-change"
        entry = await with_store(lambda: self.ledger.append(event), self.sleep)
        return "appended" if entry else "duplicate"

    def _publish(self):
        if not self._key_published:
            self.ledger.publish_key()
            self._key_published = True
        return self.ledger.publish_head()
