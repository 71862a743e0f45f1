"""The capture manifest: one JSON object per capture attempt's outcome.

A manifest is written once, with put-if-absent, under
``manifests/<url_hash>/<time>-<capture_id>.json``. It is derived data: for a
stored capture everything in it comes from the WARC's ``metadata`` record plus
what the S3 server says about the WARC object (size, SHA-256, LastModified), so
any worker can rebuild it from the WARC alone after a crash
(``read_metadata_record`` + ``manifest_from_metadata``). Its JSON form is
documented in docs/formats.md.

Times are ISO 8601 UTC with microseconds, except ``stored_at``: the S3 server's
LastModified, which S3 gives in whole seconds and is written without a fraction
(``2026-11-25T10:43:13Z``). So the ordering fetched_at ≤ stored_at holds at
one-second resolution: ``fetched_at`` truncated to the second ≤ ``stored_at``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, BinaryIO

from archivers.manifests.berkeley import items_of
from archivers.manifests.outcome import outcome_fields

SCHEMA = "warcflow.manifest"
VERSION = 1

STORED = "stored"
FAILED = "failed"


@dataclass(frozen=True)
class Manifest:
    capture_id: str
    url: str
    surt: str
    status: str
    submitted_at: str
    reason: str | None = None
    message: str | None = None
    canonical_url: str | None = None
    final_url: str | None = None
    http_status: int | None = None
    redirects: list[str] = field(default_factory=list)
    fetched_at: str | None = None
    finished_at: str | None = None
    stored_at: str | None = None
    warc_key: str | None = None
    sha256: str | None = None
    size: int | None = None
    warc_version_id: str | None = None
    """The S3 version of the WARC this manifest describes, as the server named it
    at the commit; replay and downloads read that version (None: no versioning,
    or a manifest written before versions were recorded)."""
    requisites: dict[str, int] = field(default_factory=dict)
    limits_hit: list[str] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    agent: dict[str, str] = field(default_factory=dict)
    attempts: list[dict[str, str]] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)
    page_record_id: str | None = None
    revisits: list[dict[str, Any]] = field(default_factory=list)
    """Requisites written as ``revisit`` records (``archivers.warc.payloads``):
    each one's ``url``, payload ``sha256`` and ``size``, its ``record_id`` here,
    and ``refers_to``, the original's index entry (``capture_id``, ``warc_key``,
    ``record_id``, ``offset``, ``length``, ``target_uri``, ``warc_date``)."""
    outcome: str | None = None
    missing: list[str] = field(default_factory=list)
    post: dict[str, Any] | None = None
    """The post's identity as the page states it (``archivers.postmeta``), or None."""
    page_text: str | None = None
    """The page's readable text as captured (``archivers.extract.text``: title and
    body text, no script, style or markup; its first 8,000 characters), what
    full-text search indexes. None: not an HTML page, or captured before."""
    network: dict[str, str | None] | None = None
    """``local_address`` (the outgoing ``ip:port``) and ``remote_address`` of the
    connection that fetched the final page; ``proxy`` (``host:port``) when that
    connection was tunnelled through a session's proxy (then ``local_address``
    is this end of the connection to the proxy)."""
    tls: dict[str, Any] | None = None
    """TLS facts of that connection (``archivers.tlsinfo.TLSInfo.summary``); None for http."""
    items: dict[str, bool] | None = None
    """Berkeley Protocol para 155 items the capture has (``archivers.items``)."""
    mode: str = "static"
    """How the page was captured: ``static`` (the fetcher alone; every manifest
    written before modes existed) or ``browser`` (``archivers.browser``)."""
    screenshot_key: str | None = None
    """S3 key of the capture's full-page screenshot (browser captures)."""
    screenshot: dict[str, Any] = field(default_factory=dict)
    """Browser captures: the screenshot's ``url``, ``taken_at``, ``sha256``,
    ``size``, ``width``, ``height``, ``warc_uri`` and ``record_id`` (its WARC record)."""
    session: dict[str, Any] | None = None
    """The logged-in session that saw the page: its ``id``, ``site`` and the
    account's public ``handle`` (``archivers.sessions``; never a secret), and
    ``proxy`` (``host:port``) when its requests went through one. For a
    site with sessions none of which was active: ``id`` None and
    ``unavailable`` saying why. None: made without a session."""

    def to_json(self) -> bytes:
        doc = {"schema": SCHEMA, "version": VERSION, **asdict(self)}
        return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse a manifest; ValueError with the reason if it is not one we can read."""
        return cls.from_document(_json(data, "manifest"))

    @classmethod
    def from_document(cls, doc: Any) -> Manifest:
        """``from_json`` of JSON already parsed (``doc`` is not copied: the
        manifest shares its nested values)."""
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ValueError("not a warcflow manifest (schema field missing or wrong)")
        if doc.get("version") != VERSION:
            raise ValueError(f"manifest version {doc.get('version')!r} is not supported")
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Manifest:
        """A manifest from its fields (keys it does not know are ignored: newer
        writers may add some); ValueError if a required one is missing."""
        known = {f.name for f in fields(cls)}
        try:
            manifest = cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError as exc:
            raise ValueError(f"manifest is incomplete: {exc}") from None
        _strings(manifest, "manifest", "capture_id", "url", "status", "submitted_at")
        return manifest

    def originals(self) -> dict[str, str]:
        """The earlier captures this one's revisit records point at: capture id →
        WARC key (what audit, fixity and export must also reach)."""
        out: dict[str, str] = {}
        for revisit in self.revisits:
            ref = revisit.get("refers_to") or {}
            capture, key = ref.get("capture_id"), ref.get("warc_key")
            if capture and key and capture != self.capture_id:
                out[str(capture)] = str(key)
        return out

    def summary(self) -> dict[str, Any]:
        """The object ``warcflow captures --json`` prints (docs/formats.md)."""
        return {
            "capture_id": self.capture_id,
            "url": self.url,
            "status": self.status,
            "reason": self.reason,
            "http_status": self.http_status,
            "final_url": self.final_url,
            "warc_key": self.warc_key,
            "sha256": self.sha256,
            "size": self.size,
            "warc_version_id": self.warc_version_id,
            "submitted_at": self.submitted_at,
            "fetched_at": self.fetched_at,
            "finished_at": self.finished_at,
            "stored_at": self.stored_at,
            "tags": list(self.request.get("tags", [])),
            "operator": self.request.get("operator"),
            "case_id": self.request.get("case_id"),
            "purpose": self.request.get("purpose"),
            "post": self.post,
            "items": items_of(asdict(self)),
            "mode": self.mode,
            "screenshot_key": self.screenshot_key,
            "session": self.session,
            # manifests written before outcome classes get theirs on reading
            **(
                {"outcome": self.outcome, "missing": list(self.missing)}
                if self.outcome
                else outcome_fields(asdict(self))
            ),
        }


def read_metadata_record(stream: BinaryIO, schema: str) -> dict[str, Any] | None:
    """The JSON block of the last ``metadata`` record of ``schema`` in a WARC stream."""
    from warcio.archiveiterator import ArchiveIterator

    found = None
    for record in ArchiveIterator(stream):
        if (
            record.rec_type == "metadata"
            and record.rec_headers.get_header("Content-Type") == "application/json"
        ):
            try:
                doc = json.loads(record.content_stream().read())
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(doc, dict) and doc.get("schema") == schema:
                found = doc
    return found


CAPTURE_METADATA_SCHEMA = "warcflow.capture-metadata"
"""Schema name of the JSON block of the WARC ``metadata`` record a capture ends with."""


def manifest_from_metadata(
    meta: dict[str, Any],
    *,
    warc_key: str,
    sha256: str,
    size: int,
    stored_at: str,
    version_id: str | None = None,
) -> Manifest:
    """Join the WARC's capture metadata (which carries status and reason) with
    the stored object's facts. ValueError if the metadata lacks a required field."""
    return Manifest.from_dict(
        {
            **meta,
            "warc_key": warc_key,
            "sha256": sha256,
            "size": size,
            "stored_at": stored_at,
            "warc_version_id": version_id,
        }
    )


MEDIA_SCHEMA = "warcflow.media-manifest"


@dataclass(frozen=True)
class MediaManifest:
    """The outcome of one media capture (docs/formats.md), written once under
    ``media-manifests/<parent_capture_id>/<media_id>.json``.

    ``sha256``/``size``/``key`` describe the stored original (content-addressed,
    shared by every capture of the same bytes); ``warc_*`` the media WARC of
    this capture; ``derived`` a browser-playable copy when the original does not
    play in browsers, with the method and exact ffmpeg command that made it.
    """

    media_id: str
    parent_capture_id: str
    page_url: str
    source_url: str
    kind: str
    found_by: str
    status: str
    submitted_at: str
    reason: str | None = None
    message: str | None = None
    sha256: str | None = None
    size: int | None = None
    key: str | None = None
    ext: str | None = None
    deduplicated: bool = False
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    bitrate: int | None = None
    frame_rate: float | None = None
    poster_key: str | None = None
    derived: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    warc_key: str | None = None
    warc_sha256: str | None = None
    warc_size: int | None = None
    warc_version_id: str | None = None
    """The S3 version of the media WARC at the commit (as ``Manifest.warc_version_id``)."""
    fetched_at: str | None = None
    finished_at: str | None = None
    stored_at: str | None = None
    exchanges: int = 0
    limits_hit: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    agent: dict[str, str] = field(default_factory=dict)
    attempts: list[dict[str, str]] = field(default_factory=list)
    post: dict[str, Any] | None = None
    """The post's identity as yt-dlp's info states it (``archivers.postmeta``), or None."""
    perceptual: dict[str, Any] | None = None
    """Perceptual hashes of the item (``archivers.media.perceptual``): vPDQ
    features with centre-crop PDQ, Chromaprint of the audio, the derivation
    record's id, and any ``problems``; None when none were made (docs/formats.md)."""
    session: dict[str, Any] | None = None
    """The logged-in session that fetched it (as ``Manifest.session``), or None."""

    def to_json(self) -> bytes:
        doc = {"schema": MEDIA_SCHEMA, "version": VERSION, **asdict(self)}
        return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> MediaManifest:
        return cls.from_document(_json(data, "media manifest"))

    @classmethod
    def from_document(cls, doc: Any) -> MediaManifest:
        """``from_json`` of JSON already parsed (not copied)."""
        if not isinstance(doc, dict) or doc.get("schema") != MEDIA_SCHEMA:
            raise ValueError("not a warcflow media manifest")
        if doc.get("version") != VERSION:
            raise ValueError(f"media manifest version {doc.get('version')!r} is not supported")
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MediaManifest:
        """A media manifest from its fields (unknown keys ignored); ValueError if
        a required one is missing."""
        known = {f.name for f in fields(cls)}
        try:
            media = cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError as exc:
            raise ValueError(f"media manifest is incomplete: {exc}") from None
        _strings(media, "media manifest", "media_id", "parent_capture_id", "status")
        return media

    def summary(self) -> dict[str, Any]:
        """One entry of a capture's ``media`` array in ``warcflow captures --json``."""
        return {
            "media_id": self.media_id,
            "source_url": self.source_url,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "sha256": self.sha256,
            "key": self.key,
            "size": self.size,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "container": self.container,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "poster_key": self.poster_key,
            "derived_key": (self.derived or {}).get("key"),
            "warc_key": self.warc_key,
            "deduplicated": self.deduplicated,
            "perceptual": perceptual_summary(self.perceptual),
            "session": self.session,
        }


def perceptual_summary(perceptual: dict[str, Any] | None) -> dict[str, Any] | None:
    """The short form of a media item's perceptual hashes, as events, the ledger
    entry carry it: how many frames were hashed, whether the audio was, what
    failed, and the SHA-256 of the whole ``perceptual`` object (canonical
    JSON), which the full form in the media manifest must match."""
    if not perceptual:
        return None
    vpdq = perceptual.get("vpdq") or {}
    return {
        "sha256": hashlib.sha256(
            json.dumps(perceptual, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).hexdigest(),
        "vpdq_frames": len(vpdq.get("features") or []),
        "chromaprint": bool(perceptual.get("chromaprint")),
        "problems": list(perceptual.get("problems") or []),
    }


def parse_document(data: bytes, what: str = "manifest") -> Any:
    """The JSON of a stored manifest, for ``from_document``; ValueError as ``from_json``."""
    return _json(data, what)


def _json(data: bytes, what: str) -> Any:
    """The JSON of a stored manifest; ValueError for anything else (damaged,
    nested too deep to parse: a manifest read back is input like any other)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be one") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None


def _strings(record: Any, what: str, *names: str) -> None:
    """ValueError unless each of ``names`` is a string: the fields readers key on."""
    for name in names:
        if not isinstance(getattr(record, name), str):
            raise ValueError(f"{what} field {name!r} is not a string")
