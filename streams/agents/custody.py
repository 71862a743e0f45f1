"""The custody stages: capture events → custody events → the ledger.

``CustodyFeed`` (any worker, every partition of ``warcflow.captures``) turns
each capture or media event into a ``CustodyEvent`` naming every stored object
with the SHA-256 and version the S3 server holds, and produces it to
``warcflow.custody``; for a stored page it also asks the recheck agent to add
it to the URL's liveness record (a ``LivenessStart`` on ``warcflow.recheck``,
keyed like the rechecks, so that record has one writer). ``LedgerStage`` is
the ledger's single writer: ``warcflow.custody`` has one partition and the
agent a concurrency of one, so exactly one worker appends, in topic order.
Before appending, it checks what the event claims against the store
(``archivers.custody.claims``: object digests re-read, the manifest present);
an event whose claims do not hold is dead-lettered (``false_claim``, with the
reason) and never enters the signed ledger.

A redelivered capture event yields the same ``event_id`` (``stored:<id>``), so
the ledger does not append it twice — nor when the whole captures topic is
read again (the ledger's id index outlives every reload). Both handlers are
total (``Router.shielded``): a record that is not a capture event, or that
cannot be recorded, is dead-lettered and the next one follows. Both open
each message's seal first (``streams.messages.seal``): the feed records only
the worker's capture events, and the ledger appends only events sealed by a
role that may make their kind (the viewer downloads, the operator exports and
fixity runs, the worker the rest); anything else is dead-lettered unappended.
"""

from __future__ import annotations

import logging
from typing import Any

from archivers.clock import iso
from archivers.custody import claims
from archivers.custody.fixity import object_digest
from archivers.custody.ledger import CustodyEvent, Ledger
from archivers.custody.liveness import Schedule
from archivers.errors import InvalidURL
from archivers.store import layout
from archivers.store.base import ObjectStore
from archivers.urls import surt
from streams.agents.routing import Router, with_store
from streams.messages.base import SourceMessage, Undecodable, parse_json
from streams.messages.capture import CAPTURE_FAILED, CAPTURE_STORED, MEDIA_FAILED, MEDIA_STORED
from streams.messages.custody import custody_json, decode_custody, liveness_start_json
from streams.messages.seal import REASONS as SEAL_REASONS

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
            self.open(message)  # only the worker's own events are recorded
        except Undecodable as exc:
            reason = exc.reason if exc.reason in SEAL_REASONS else "bad_event"
            return await self.dead_letter(message, reason, f"captures topic: {exc}")
        try:
            doc = parse_json(message.value)
            if not isinstance(doc, dict) or doc.get("schema") not in (
                CAPTURE_STORED,
                CAPTURE_FAILED,
                MEDIA_STORED,
                MEDIA_FAILED,
            ):
                raise ValueError("not a capture or media event")
            capture_id = doc["capture_id"]
            if not isinstance(capture_id, str) or not layout.is_capture_id(capture_id):
                raise ValueError(f"capture_id {str(capture_id)[:40]!r} is not a capture id")
        except Undecodable as exc:
            return await self.dead_letter(message, "bad_event", f"captures topic: {exc}")
        except (ValueError, KeyError) as exc:
            return await self.dead_letter(message, "bad_event", f"captures topic: {exc}")
        recheck_key = None
        if doc["schema"] == CAPTURE_STORED and isinstance(doc.get("url"), str):
            try:
                surt(doc["url"])  # a URL warcflow could have captured, else InvalidURL
                recheck_key = self.names.key(doc["url"])
            except InvalidURL as exc:  # recorded all the same; only its rechecks are off
                log.warning("capture %s: no rechecks of %r: %s", capture_id, doc["url"][:200], exc)
        event = await with_store(lambda: self._custody_event(doc, capture_id), self.pause)
        await self.send(self.names.custody, capture_id.encode(), custody_json(event))
        if recheck_key is not None:
            final = doc.get("final_url") if isinstance(doc.get("final_url"), str) else None
            await self.send(
                self.names.recheck, recheck_key, liveness_start_json(doc["url"], capture_id, final)
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
            )
            if doc.get(k) is not None
        }
        session = doc.get("session")
        if isinstance(session, dict) and session.get("id"):
            # which logged-in account saw the post, and through which proxy (host:port
            # only): facts a court asks about
            detail["session"] = {
                k: str(session.get(k))
                for k in ("id", "site", "handle", "proxy")
                if k != "proxy" or session.get(k)
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
            self.open(message)  # by a role that may make this kind of entry
            event = decode_custody(message.value)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        if event is None:
            head = await with_store(self._publish, self.pause)
            return "head" if head else "no-change"
        false = await with_store(lambda: claims.problem(self.ledger.store, event), self.pause)
        if false is not None:
            return await self.dead_letter(message, "false_claim", f"{event.event_id}: {false}")
        entry = await with_store(lambda: self.ledger.append(event), self.pause)
        return "appended" if entry else "duplicate"

    def _publish(self):
        if not self._key_published:
            self.ledger.publish_key()
            self._key_published = True
        return self.ledger.publish_head()
