"""Reading cases back from the topics: the case records, and which captures are a case's.

A capture belongs to the case its SubmitRequest named; the capture events on
``<prefix>.captures`` (kept forever) carry that ``case_id`` with the manifest
key, and the requests still without an event are on ``<prefix>.ingest``
(kept a week: long enough for any capture to end). So a case's captures are
one read of each topic, no index of our own to keep in step. The events
only say where to look: the manifest in S3, which callers read next, is what
the capture is.

Cost: one pass over the captures topic (a few hundred bytes an event) and
the ingest topic; for millions of captures the viewer's catalog (which reads
the same events once and keeps them) is the place to ask instead.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from streams.clients.reader import TopicReader, read_topic
from streams.messages.capture import CAPTURE_FAILED, CAPTURE_STORED, SUBMIT
from streams.messages.cases import Case, InvalidCase, decode_case
from streams.settings import KafkaAccess
from streams.topics import TopicNames

log = logging.getLogger("warcflow.cases")


def read_cases(access: KafkaAccess, names: TopicNames, *, timeout: float = 30.0) -> dict[str, Case]:
    """Every case as it stands now, by id (TopicUnavailable if the topic is missing)."""
    cases: dict[str, Case] = {}
    for record in read_topic(access, names.cases, timeout=timeout):
        key = (record.key or b"").decode("utf-8", "replace")
        if record.value is None:
            cases.pop(key, None)
            continue
        try:
            case = decode_case(record.value)
        except InvalidCase as exc:
            log.warning("ignoring case record %r: %s", key, exc)
            continue
        if case.id != key:
            log.warning("ignoring case record %r: its value is case %s", key, case.id)
            continue
        cases[case.id] = case
    return cases


@dataclass
class CaseCaptures:
    """What the topics say of a case's captures.

    ``events``: the latest capture event of each capture, by capture id, in
    topic order; ``pending``: SubmitRequest documents of the case that no
    capture event answers yet (queued, being captured, waiting for a retry)."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)


def _json(value: bytes | None) -> dict[str, Any] | None:
    if not value or not value.lstrip().startswith(b"{"):
        return None
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def case_captures(
    access: KafkaAccess, names: TopicNames, case_id: str | None, *, timeout: float = 30.0
) -> CaseCaptures:
    """The captures of ``case_id`` (None: of every case, for counting)."""
    out = CaseCaptures()
    answered: set[str] = set()
    with TopicReader(access, (names.captures,), timeout=timeout) as reader:
        for record in reader.read_to_end():
            doc = _json(record.value)
            if not doc or doc.get("schema") not in (CAPTURE_STORED, CAPTURE_FAILED):
                continue
            if isinstance(doc.get("request_id"), str):
                answered.add(doc["request_id"])
            found = doc.get("case_id")
            if not isinstance(found, str) or (case_id is not None and found != case_id):
                continue
            capture = doc.get("capture_id")
            if isinstance(capture, str) and isinstance(doc.get("manifest_key"), str):
                out.events.pop(capture, None)
                out.events[capture] = doc
    with TopicReader(access, (names.ingest,), timeout=timeout) as reader:
        for record in reader.read_to_end():
            doc = _json(record.value)
            if not doc or doc.get("schema") != SUBMIT:
                continue
            found = doc.get("case_id")
            if not isinstance(found, str) or (case_id is not None and found != case_id):
                continue
            if doc.get("request_id") not in answered:
                out.pending.append(doc)
    return out
