"""Message schemas of the capture side's topics, and the tolerant ingest decoder.

The envelope every message shares is ``streams.messages.base``. Times are ISO
8601 UTC with microseconds (``archivers.clock.iso``). docs/formats.md is the
reference; this module is the implementation.

    topic                 key            value
    warcflow.ingest       SURT of url    SubmitRequest, or a bare URL line (any Kafka client)
    warcflow.media        SURT of page   MediaRequest (from the capture agent)
    warcflow.retry.<st>   SURT of url    RetryRequest
    warcflow.captures     SURT of url    CaptureStored | CaptureFailed | MediaStored | MediaFailed
    warcflow.dead-letter  source key     DeadLetter (original bytes + reason + history)
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archivers.capture.modes import AUTO, MODES
from archivers.clock import from_epoch_ms, iso, parse_iso
from archivers.errors import InvalidURL
from archivers.manifests.manifest import STORED, Manifest, MediaManifest
from archivers.media.archiver import MediaRequest
from archivers.store.layout import capture_id as layout_capture_id
from archivers.store.layout import is_capture_id
from archivers.store.layout import media_id as layout_media_id
from archivers.urls import validate_url
from streams.messages.base import (
    VERSION,
    SourceMessage,
    Undecodable,
    dumps,
    json_object,
    shorten,
    timestamp_problem,
)

SUBMIT = "warcflow.SubmitRequest"
RETRY = "warcflow.RetryRequest"
MEDIA_REQUEST = "warcflow.MediaRequest"
CAPTURE_STORED = "warcflow.CaptureStored"
CAPTURE_FAILED = "warcflow.CaptureFailed"
MEDIA_STORED = "warcflow.MediaStored"
MEDIA_FAILED = "warcflow.MediaFailed"
DEAD_LETTER = "warcflow.DeadLetter"
CAPTURE_EVENTS = (CAPTURE_STORED, CAPTURE_FAILED)
"""The schemas of a page capture's outcome (``capture_id``: the capture id)."""
MEDIA_EVENTS = (MEDIA_STORED, MEDIA_FAILED)
"""The schemas of a media capture's outcome (``capture_id``: the media id)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TAGS = 32
MAX_TAG_LENGTH = 100
MAX_NOTE_LENGTH = 2000
MAX_CONTEXT_LENGTH = 200
"""Most characters of each of ``operator``, ``case_id`` and ``purpose``."""
CONTEXT_FIELDS = ("operator", "case_id", "purpose")


@dataclass(frozen=True)
class SubmitRequest:
    """A request to capture one URL. ``submitted_at`` is UTC-aware.

    The submission context (who asked, for which case, why: Berkeley Protocol
    para 167) is ``operator``, ``case_id`` and ``purpose``; each is None or a
    non-empty string of at most ``MAX_CONTEXT_LENGTH`` characters. Messages
    written before these fields existed decode with them None.

    ``mode`` is ``static``, ``browser`` or ``auto`` (``archivers.modes``); a
    message without it (written before modes existed) means ``auto``.
    """

    url: str
    submitted_at: datetime
    request_id: str
    source: str = "cli"
    tags: tuple[str, ...] = ()
    note: str | None = None
    operator: str | None = None
    case_id: str | None = None
    purpose: str | None = None
    mode: str = AUTO

    @classmethod
    def new(
        cls,
        url: str,
        *,
        submitted_at: datetime,
        source: str = "cli",
        tags: tuple[str, ...] = (),
        note: str | None = None,
        operator: str | None = None,
        case_id: str | None = None,
        purpose: str | None = None,
        mode: str = AUTO,
    ) -> SubmitRequest:
        """A fresh request with a new request id; InvalidURL / ValueError on bad input."""
        validate_url(url)
        _check_tags(tags)
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise ValueError(f"note is longer than {MAX_NOTE_LENGTH} characters")
        _check_context({"operator": operator, "case_id": case_id, "purpose": purpose})
        _check_mode(mode)
        return cls(
            url,
            submitted_at,
            str(uuid.uuid4()),
            source,
            tuple(tags),
            note,
            operator,
            case_id,
            purpose,
            mode,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SUBMIT,
            "version": VERSION,
            "url": self.url,
            "submitted_at": iso(self.submitted_at),
            "request_id": self.request_id,
            "source": self.source,
            "tags": list(self.tags),
            "note": self.note,
            "operator": self.operator,
            "case_id": self.case_id,
            "purpose": self.purpose,
            "mode": self.mode,
        }

    def to_json(self) -> bytes:
        return dumps(self.to_dict())

    def describe(self) -> dict[str, Any]:
        """The submitter's part, as copied into WARC metadata and manifests."""
        return {
            "request_id": self.request_id,
            "source": self.source,
            "tags": list(self.tags),
            "note": self.note,
            "operator": self.operator,
            "case_id": self.case_id,
            "purpose": self.purpose,
            "mode": self.mode,
        }


def submit_requests(
    items: list[tuple[str, str]],
    *,
    submitted_at: datetime,
    source: str,
    tags: tuple[str, ...] = (),
    note: str | None = None,
    operator: str | None = None,
    case_id: str | None = None,
    purpose: str | None = None,
    mode: str = AUTO,
) -> tuple[list[SubmitRequest], list[str]]:
    """Validate (where, url) pairs for submission: the requests, and one problem
    line per refused URL ("where: 'url': why"). Callers submit nothing when
    there is any problem, so a batch is all or nothing. A bad ``operator``,
    ``case_id`` or ``purpose`` is one problem for the whole batch."""
    try:
        _check_context({"operator": operator, "case_id": case_id, "purpose": purpose})
    except ValueError as exc:
        return [], [str(exc)]
    requests, problems = [], []
    for where, url in items:
        try:
            requests.append(
                SubmitRequest.new(
                    url,
                    submitted_at=submitted_at,
                    source=source,
                    tags=tags,
                    note=note,
                    operator=operator,
                    case_id=case_id,
                    purpose=purpose,
                    mode=mode,
                )
            )
        except (InvalidURL, ValueError) as exc:
            problems.append(f"{where}: {url!r}: {exc}")
    return requests, problems


def _check_context(context: dict[str, Any]) -> None:
    for name, value in context.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_CONTEXT_LENGTH:
            raise ValueError(
                f"{name} must be a non-empty string of at most {MAX_CONTEXT_LENGTH} characters"
            )


def _check_mode(mode) -> None:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")


def _check_tags(tags) -> None:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            raise ValueError(
                f"tag {tag!r} must be a non-empty string of at most {MAX_TAG_LENGTH} characters"
            )


def decode_submit(message: SourceMessage) -> SubmitRequest:
    """Decode an ingest message: a ``SubmitRequest`` JSON or a bare URL line.

    Raises ``Undecodable`` (reason, human message) for anything else: empty,
    binary, malformed JSON, wrong schema or version, invalid URL or fields.
    A bare URL line gets ``source="kafka"``, the message timestamp as
    ``submitted_at`` and the message coordinates as its request id.
    """
    value = message.value or b""
    stripped = value.strip()
    if stripped.startswith(b"{"):
        return _submit_from_json(json_object(stripped, SUBMIT))
    if not stripped:
        raise Undecodable("empty", "the message has no value")
    try:
        line = stripped.decode("utf-8")
    except UnicodeDecodeError:
        raise Undecodable("not_utf8", "the value is neither JSON nor a UTF-8 URL line") from None
    if "\n" in line:
        raise Undecodable("multiple_lines", "the value has several lines; send one URL per message")
    try:
        validate_url(line)
    except InvalidURL as exc:
        raise Undecodable(
            "invalid_url", f"not a URL warcflow can capture: {shorten(str(exc))}"
        ) from None
    problem = timestamp_problem(message.timestamp_ms)
    if problem:
        raise Undecodable("bad_timestamp", f"{problem}: a bare URL line takes it as its time")
    return SubmitRequest(
        url=line,
        submitted_at=from_epoch_ms(message.timestamp_ms),
        request_id=f"kafka:{message.topic}:{message.partition}:{message.offset}",
        source="kafka",
    )


def _submit_from_json(doc: dict[str, Any]) -> SubmitRequest:
    url = doc.get("url")
    if not isinstance(url, str):
        raise Undecodable("missing_field", "SubmitRequest has no string field 'url'")
    try:
        validate_url(url)
    except InvalidURL as exc:
        raise Undecodable(
            "invalid_url", f"not a URL warcflow can capture: {shorten(str(exc))}"
        ) from None
    try:
        submitted_at = parse_iso(str(doc.get("submitted_at", "")))
    except ValueError:
        raise Undecodable(
            "bad_field", "SubmitRequest.submitted_at must be an ISO 8601 time with offset"
        ) from None
    request_id = doc.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > 200:
        raise Undecodable("bad_field", "SubmitRequest.request_id must be a non-empty string")
    tags = doc.get("tags") or []
    note = doc.get("note")
    source = doc.get("source") or "kafka"
    mode = doc.get("mode") or AUTO
    try:
        _check_mode(mode)
        if not isinstance(tags, list):
            raise ValueError("tags must be a list of strings")
        _check_tags(tags)
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH):
            raise ValueError(f"note must be a string of at most {MAX_NOTE_LENGTH} characters")
        if not isinstance(source, str) or len(source) > 100:
            raise ValueError("source must be a short string")
        context = {name: doc.get(name) for name in CONTEXT_FIELDS}
        _check_context(context)
    except ValueError as exc:
        raise Undecodable("bad_field", f"SubmitRequest: {exc}") from None
    return SubmitRequest(
        url, submitted_at, request_id, source, tuple(tags), note, **context, mode=mode
    )


@dataclass(frozen=True)
class RetryRequest:
    """Work to try again after ``not_before``; ``work_id`` (capture or media id)
    stays the same on every attempt, so a retry can never create a second capture.

    ``payload`` is the work message as JSON (a SubmitRequest or MediaRequest
    document); ``origin`` the coordinates of the message that started it.
    """

    stage: str
    work_id: str
    payload: dict[str, Any]
    origin: dict[str, Any]
    attempt: int
    not_before: datetime
    attempts: tuple[dict[str, str], ...] = ()

    def to_json(self) -> bytes:
        return dumps(
            {
                "schema": RETRY,
                "version": VERSION,
                "stage": self.stage,
                "work_id": self.work_id,
                "payload": self.payload,
                "origin": self.origin,
                "attempt": self.attempt,
                "not_before": iso(self.not_before),
                "attempts": list(self.attempts),
            }
        )


def decode_retry(message: SourceMessage) -> RetryRequest:
    doc = json_object(message.value, RETRY)
    try:
        return RetryRequest(
            str(doc["stage"]),
            str(doc["work_id"]),
            dict(doc["payload"]),
            dict(doc["origin"]),
            int(doc["attempt"]),
            parse_iso(doc["not_before"]),
            clean_attempts(doc.get("attempts", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Undecodable("bad_field", f"RetryRequest is malformed: {shorten(exc)}") from None


def origin_capture_id(origin: dict[str, Any], ingest_topic: str) -> str:
    """The capture id the ingest message at ``origin`` (its coordinates) starts:
    the one id a capture retry of it may carry. ``Undecodable`` (``unbound``)
    if ``origin`` is not the coordinates of a message on ``ingest_topic``."""
    try:
        topic, partition, offset = origin["topic"], origin["partition"], origin["offset"]
        if topic != ingest_topic:
            raise ValueError(f"its origin is on {shorten(topic, 80)}, not on {ingest_topic}")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (partition, offset)):
            raise ValueError("its origin's partition and offset are not integers")
        micros = (parse_iso(origin["timestamp"]) - EPOCH) // timedelta(microseconds=1)
        timestamp_ms = (micros + 500) // 1000
        if timestamp_problem(timestamp_ms):
            raise ValueError(f"its origin's time: {timestamp_problem(timestamp_ms)}")
        return layout_capture_id(topic, partition, offset, timestamp_ms)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Undecodable(
            "unbound", f"the retry is not bound to an ingest message: {exc}"
        ) from None


def check_capture_retry(retry: RetryRequest, ingest_topic: str) -> None:
    """A capture retry may only continue the capture its origin started: its
    ``work_id`` must be the capture id of the ingest message at ``origin``
    (``Undecodable``, ``unbound``, otherwise)."""
    if retry.stage != "capture":
        raise Undecodable("unbound", f"a retry of stage {shorten(retry.stage, 40)} on capture's")
    expected = origin_capture_id(retry.origin, ingest_topic)
    if retry.work_id.upper() != expected.upper():
        raise Undecodable(
            "unbound",
            f"the retry's capture id {shorten(retry.work_id, 40)} is not the one its origin "
            f"({retry.origin.get('topic')}/{retry.origin.get('partition')}/"
            f"{retry.origin.get('offset')}) started ({expected})",
        )


def check_media_request(request: MediaRequest, work_id: str | None = None) -> None:
    """A media request may only continue the media capture its page started:
    its ``media_id`` must be derived from its parent capture and its URL (and be
    the retry's ``work_id``, for a retry). ``Undecodable`` (``unbound``) otherwise."""
    expected = layout_media_id(request.parent_capture_id, request.media_url)
    if request.media_id.upper() != expected.upper():
        raise Undecodable(
            "unbound",
            f"media id {request.media_id} is not the one of {shorten(request.media_url, 200)} "
            f"in capture {request.parent_capture_id} ({expected})",
        )
    if work_id is not None and work_id.upper() != request.media_id.upper():
        raise Undecodable(
            "unbound", f"the retry's id {shorten(work_id, 40)} is not its media's {expected}"
        )


def submit_from_payload(payload: dict[str, Any]) -> SubmitRequest:
    """The SubmitRequest inside a retry's payload (Undecodable if it is not one)."""
    return _submit_from_json(json_object(dumps(payload), SUBMIT))


def media_request_json(request: MediaRequest) -> bytes:
    """A MediaRequest message (docs/formats.md)."""
    return dumps(media_request_doc(request))


def media_request_doc(request: MediaRequest) -> dict[str, Any]:
    return {
        "schema": MEDIA_REQUEST,
        "version": VERSION,
        "media_id": request.media_id,
        "parent_capture_id": request.parent_capture_id,
        "page_url": request.page_url,
        "media_url": request.media_url,
        "kind": request.kind,
        "found_by": request.found_by,
        "submitted_at": iso(request.submitted_at),
        "parent_record_id": request.parent_record_id,
        "request": request.request,
        **({"session_id": request.session_id} if request.session_id else {}),
    }


def _session_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"s-[0-9a-f]{8}", value):
        raise ValueError("session_id must be a session id (s- and 8 hex digits)")
    return value


def decode_media(message: SourceMessage) -> MediaRequest:
    """Decode a media-topic message; Undecodable with the reason otherwise."""
    return media_from_payload(
        json_object(message.value, MEDIA_REQUEST), provenance=message.coordinates()
    )


def media_from_payload(doc: dict[str, Any], *, provenance: dict[str, Any]) -> MediaRequest:
    if doc.get("schema") != MEDIA_REQUEST or doc.get("version") != VERSION:
        raise Undecodable("unknown_schema", "not a MediaRequest version 1")
    try:
        media_url = str(doc["media_url"])
        validate_url(media_url)
        kind = str(doc["kind"])
        if kind not in ("direct", "stream", "extractor"):
            raise ValueError(f"unknown kind {kind!r}")
        if not is_capture_id(str(doc["media_id"])) or not is_capture_id(
            str(doc["parent_capture_id"])
        ):
            raise ValueError("media_id and parent_capture_id must be capture ids")
        return MediaRequest(
            media_id=str(doc["media_id"]),
            parent_capture_id=str(doc["parent_capture_id"]),
            page_url=str(doc["page_url"]),
            media_url=media_url,
            kind=kind,
            found_by=str(doc.get("found_by") or ""),
            submitted_at=parse_iso(doc["submitted_at"]),
            parent_record_id=doc.get("parent_record_id"),
            request=dict(doc.get("request") or {}),
            provenance=provenance,
            session_id=_session_id(doc.get("session_id")),
        )
    except InvalidURL as exc:
        raise Undecodable("invalid_url", f"MediaRequest.media_url: {shorten(str(exc))}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Undecodable("bad_field", f"MediaRequest is malformed: {shorten(exc)}") from None


def media_event(manifest: MediaManifest, manifest_key: str) -> bytes:
    """MediaStored or MediaFailed for a media manifest (docs/formats.md)."""
    schema = MEDIA_STORED if manifest.status == STORED else MEDIA_FAILED
    doc = {
        "schema": schema,
        "version": VERSION,
        "manifest_key": manifest_key,
        "capture_id": manifest.media_id,
        "parent_capture_id": manifest.parent_capture_id,
        "page_url": manifest.page_url,
        "message": manifest.message,
        "attempts": manifest.attempts,
        "info_title": manifest.info.get("title"),
        **manifest.summary(),
    }
    return dumps(doc)


def capture_event(manifest: Manifest, manifest_key: str) -> bytes:
    """CaptureStored or CaptureFailed for a manifest (docs/formats.md)."""
    schema = CAPTURE_STORED if manifest.status == STORED else CAPTURE_FAILED
    doc = {
        "schema": schema,
        "version": VERSION,
        "manifest_key": manifest_key,
        "surt": manifest.surt,
        "request_id": manifest.request.get("request_id"),
        "source": manifest.provenance,
        "message": manifest.message,
        "attempts": manifest.attempts,
        # the media requests sent for it (only a stored page's media are captured)
        "media_ids": [m["media_id"] for m in manifest.media if m.get("media_id")]
        if manifest.status == STORED
        else [],
        **manifest.summary(),
    }
    return dumps(doc)


MAX_ATTEMPTS_KEPT = 100
"""Most attempt records a retry or dead letter carries (the first and the latest)."""
MAX_ATTEMPT_TEXT = 1000


def clean_attempts(items: Any) -> tuple[dict[str, str], ...]:
    """Attempt records as they may travel: flat ``{str: str}``, each text at most
    ``MAX_ATTEMPT_TEXT`` characters, at most ``MAX_ATTEMPTS_KEPT`` records (the
    first and the latest). Whatever a (forged) message held, the result is
    small and flat; TypeError if ``items`` is not a list of objects."""
    if not isinstance(items, (list, tuple)) or not all(isinstance(a, dict) for a in items):
        raise TypeError("attempts must be a list of objects")
    if len(items) > MAX_ATTEMPTS_KEPT:
        half = MAX_ATTEMPTS_KEPT // 2
        items = [*items[:half], *items[-half:]]
    return tuple(
        {
            str(k)[:50]: (v if isinstance(v, str) else str(v))[:MAX_ATTEMPT_TEXT]
            for k, v in list(a.items())[:20]
        }
        for a in items
    )


KEPT_VALUE_BYTES = 256 * 1024
"""Most bytes of the original value a dead letter keeps (with the whole value's
size and SHA-256): a dead letter stays far below the producer's 1,000,000-byte
request limit whatever arrived."""
KEPT_TEXT_BYTES = 16 * 1024
"""``value_text`` is given only for a whole value of at most this many bytes."""
KEPT_KEY_BYTES = 4096
KEPT_HEADER_BYTES = 16 * 1024
MAX_MESSAGE_TEXT = 4000


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be processed: the original bytes (or their first
    ``KEPT_VALUE_BYTES``, with the size and SHA-256 of all of them), why, and when.

    ``to_json`` never raises and is bounded (about 400 KB at most), whatever the
    message: it is the last record of a message, and must always be producible.
    """

    stage: str
    reason: str
    message: str
    source: SourceMessage
    dead_at: datetime
    attempts: tuple[dict[str, str], ...] = field(default=())

    def to_json(self) -> bytes:
        value = self.source.value or b""
        kept = value[:KEPT_VALUE_BYTES]
        text: str | None = None
        if len(value) <= KEPT_TEXT_BYTES:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        key = self.source.key or b""
        headers, header_bytes = [], 0
        for name, data in self.source.headers:
            header_bytes += len(name) + len(data or b"")
            if header_bytes > KEPT_HEADER_BYTES:
                break
            headers.append([name, base64.b64encode(data or b"").decode("ascii")])
        try:
            attempts = list(clean_attempts(list(self.attempts)))
        except TypeError:
            attempts = []
        return dumps(
            {
                "schema": DEAD_LETTER,
                "version": VERSION,
                "stage": self.stage,
                "reason": self.reason[:200],
                "message": self.message[:MAX_MESSAGE_TEXT],
                "dead_at": iso(self.dead_at),
                "source": self.source.coordinates(),
                "timestamp_ms": self.source.timestamp_ms,
                "key_b64": base64.b64encode(key[:KEPT_KEY_BYTES]).decode("ascii"),
                "key_size": len(key),
                "value_b64": base64.b64encode(kept).decode("ascii"),
                "value_text": text,
                "value_size": len(value),
                "value_sha256": hashlib.sha256(value).hexdigest(),
                "value_truncated": len(kept) < len(value),
                "headers": headers,
                "headers_truncated": len(headers) < len(self.source.headers),
                "attempts": attempts,
            }
        )
