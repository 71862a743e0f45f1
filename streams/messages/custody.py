"""Messages of the custody side (docs/formats.md):

    topic                 key                 value
    warcflow.custody      capture id or ""    CustodyEvent | HeadRequest (one partition)
    warcflow.recheck      SURT of url         RecheckRequest | LivenessStart
    warcflow.liveness     SURT of url         LivenessEvent

A ``CustodyEvent`` becomes one ledger entry (``archivers.ledger``): produced
by the custody feed for every capture event, and by the CLI and viewer for
exports and downloads, by the recheck and fixity runs for theirs. A
``HeadRequest`` asks the ledger agent to publish a signed head now. A
``LivenessStart`` (from the custody feed, for each stored page) asks the
recheck agent to add a capture to its URL's liveness record: the recheck
agent is that record's only writer.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from archivers.clock import iso
from archivers.custody.ledger import CustodyEvent, ObjectDigest
from archivers.custody.liveness import Observation
from streams.messages.base import VERSION, Undecodable, dumps, json_object, loads, parse_json

CUSTODY_EVENT = "warcflow.CustodyEvent"
HEAD_REQUEST = "warcflow.HeadRequest"
RECHECK_REQUEST = "warcflow.RecheckRequest"
LIVENESS_START = "warcflow.LivenessStart"
LIVENESS_EVENT = "warcflow.LivenessEvent"


def custody_json(event: CustodyEvent) -> bytes:
    return dumps(
        {
            "schema": CUSTODY_EVENT,
            "version": VERSION,
            "event": event.event,
            "event_id": event.event_id,
            "at": event.at,
            "who": event.who,
            "capture_id": event.capture_id,
            "url": event.url,
            "objects": [asdict(o) for o in event.objects],
            "detail": event.detail,
        }
    )


def head_request_json(requested_at: datetime, by: str) -> bytes:
    return dumps(
        {"schema": HEAD_REQUEST, "version": VERSION, "requested_at": iso(requested_at), "by": by}
    )


def decode_custody(value: bytes | None) -> CustodyEvent | None:
    """A CustodyEvent, or None for a HeadRequest; Undecodable for anything else."""
    doc = loads(value)
    if isinstance(doc, dict) and doc.get("schema") == HEAD_REQUEST:
        json_object(value, HEAD_REQUEST)
        return None
    doc = json_object(value, CUSTODY_EVENT)
    try:
        return CustodyEvent(
            event=str(doc["event"]),
            event_id=str(doc["event_id"]),
            at=str(doc["at"]),
            who=str(doc["who"]),
            capture_id=doc.get("capture_id"),
            url=doc.get("url"),
            objects=tuple(
                ObjectDigest(str(o["key"]), str(o["sha256"]), int(o["size"]), o.get("version_id"))
                for o in doc.get("objects", [])
            ),
            detail=dict(doc.get("detail") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Undecodable("bad_field", f"CustodyEvent is malformed: {exc}") from None


def recheck_json(url: str, requested_at: datetime, by: str) -> bytes:
    return dumps(
        {
            "schema": RECHECK_REQUEST,
            "version": VERSION,
            "url": url,
            "requested_at": iso(requested_at),
            "by": by,
        }
    )


def liveness_start_json(url: str, capture_id: str, final_url: str | None) -> bytes:
    return dumps(
        {
            "schema": LIVENESS_START,
            "version": VERSION,
            "url": url,
            "capture_id": capture_id,
            "final_url": final_url,
        }
    )


def decode_recheck(value: bytes | None) -> dict[str, Any]:
    """A RecheckRequest or a LivenessStart (``doc["schema"]`` says which)."""
    doc = parse_json(value)
    if isinstance(doc, dict) and doc.get("schema") == LIVENESS_START:
        doc = json_object(value, LIVENESS_START)
        if not isinstance(doc.get("url"), str) or not isinstance(doc.get("capture_id"), str):
            raise Undecodable("bad_field", "LivenessStart needs string fields url and capture_id")
        if not isinstance(doc.get("final_url"), (str, type(None))):
            raise Undecodable("bad_field", "LivenessStart.final_url must be a string or null")
        return doc
    doc = json_object(value, RECHECK_REQUEST)
    if not isinstance(doc.get("url"), str) or not isinstance(doc.get("by"), str):
        raise Undecodable("bad_field", "RecheckRequest needs string fields url and by")
    return doc


def liveness_json(url: str, check: Observation, state: dict[str, Any]) -> bytes:
    return dumps(
        {
            "schema": LIVENESS_EVENT,
            "version": VERSION,
            "url": url,
            "check": asdict(check),
            "state": state["state"],
            "last_seen_alive": state["last_seen_alive"],
            "first_seen_gone": state["first_seen_gone"],
        }
    )
