"""Capture ids and S3 keys: all derived, never stored state.

A capture id is a ULID whose 48-bit time part is the source message's
timestamp (ms) and whose 80-bit rest is a hash of the message's coordinates.
So the same Kafka message always gives the same id, ids sort by submission
time, and the id alone names its WARC:

    capture_id  = ULID(time=message timestamp, bits=SHA-256(topic|partition|offset|timestamp))
    WARC        = warc/YYYY/MM/DD/<capture_id>.warc.gz            (date of the id's time, UTC)
    manifest    = manifests/<url_hash>/<YYYYmmddTHHMMSSZ>-<capture_id>.json
    CDXJ index  = index/YYYY/MM/DD/<capture_id>.cdxj
    screenshot  = screenshots/YYYY/MM/DD/<capture_id>.png        (browser captures)

Listing ``manifests/<url_hash>/`` gives every capture of one URL in time order.

Media found in a page get a media id of the same form: the parent capture's
time, and a hash of (parent capture id, media URL), so producing the same
media request twice cannot create two media captures. A media file is stored
once per content, whatever page carried it:

    media WARC     = warc/YYYY/MM/DD/<media_id>.warc.gz
    media manifest = media-manifests/<parent_capture_id>/<media_id>.json
    media file     = media/sha256/<aa>/<sha256>.<ext>         (aa: first two hex digits)
    poster, derived copy, first-seen record
                   = media/sha256/<aa>/<sha256>.poster.jpg | .derived.mp4 | .json
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from archivers.urls import url_hash

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_CROCKFORD)}


def _ulid(timestamp_ms: int, seed: str) -> str:
    if not 0 <= timestamp_ms < 2**48:
        raise ValueError(f"timestamp {timestamp_ms} ms is outside the ULID range")
    rest = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:10], "big")
    value = (timestamp_ms << 80) | rest
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def capture_id(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """Deterministic ULID for the message at (topic, partition, offset)."""
    return _ulid(timestamp_ms, f"{topic}|{partition}|{offset}|{timestamp_ms}")


def media_id(parent_capture_id: str, media_url: str) -> str:
    """Deterministic ULID of the media at ``media_url`` found in a page capture."""
    millis = int(capture_time(parent_capture_id).timestamp() * 1000)
    return _ulid(millis, f"media|{parent_capture_id.upper()}|{media_url}")


def is_capture_id(text: str) -> bool:
    return len(text) == 26 and all(c in _DECODE for c in text.upper()) and text[0] in "01234567"


def capture_time(capture: str) -> datetime:
    """The submission time encoded in a capture id (ms precision, UTC)."""
    if not is_capture_id(capture):
        raise ValueError(f"{capture!r} is not a capture id (26 characters of Crockford base32)")
    value = 0
    for char in capture.upper():
        value = (value << 5) | _DECODE[char]
    return datetime.fromtimestamp((value >> 80) / 1000, tz=UTC)


def warc_key(capture: str) -> str:
    day = capture_time(capture).strftime("%Y/%m/%d")
    return f"warc/{day}/{capture.upper()}.warc.gz"


def index_key(capture: str) -> str:
    day = capture_time(capture).strftime("%Y/%m/%d")
    return f"index/{day}/{capture.upper()}.cdxj"


def screenshot_key(capture: str) -> str:
    """The full-page PNG of a browser capture (also a ``resource`` record in its WARC)."""
    day = capture_time(capture).strftime("%Y/%m/%d")
    return f"screenshots/{day}/{capture.upper()}.png"


def manifest_prefix(url: str) -> str:
    return f"manifests/{url_hash(url)}/"


def manifest_key(url: str, capture: str) -> str:
    stamp = capture_time(capture).strftime("%Y%m%dT%H%M%SZ")
    return f"{manifest_prefix(url)}{stamp}-{capture.upper()}.json"


def media_manifest_prefix(parent_capture_id: str) -> str:
    return f"media-manifests/{parent_capture_id.upper()}/"


def media_manifest_key(parent_capture_id: str, media: str) -> str:
    return f"{media_manifest_prefix(parent_capture_id)}{media.upper()}.json"


def _media_base(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"{sha256!r} is not a lower-case hex SHA-256")
    return f"media/sha256/{sha256[:2]}/{sha256}"


def media_key(sha256: str, ext: str) -> str:
    return f"{_media_base(sha256)}.{ext}"


def media_prefix(sha256: str) -> str:
    return f"{_media_base(sha256)}."


def poster_key(sha256: str) -> str:
    return f"{_media_base(sha256)}.poster.jpg"


def derived_key(sha256: str) -> str:
    return f"{_media_base(sha256)}.derived.mp4"


def first_seen_key(sha256: str) -> str:
    return f"{_media_base(sha256)}.json"


def payload_key(sha256: str, scope: str = "public") -> str:
    """The shared payload index's entry for a response payload digest in ``scope``
    (``archivers.warc.payloads``): where its first stored full record is."""
    _media_base(sha256)  # the same check of the digest
    if not scope or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in scope):
        raise ValueError(f"{scope!r} is not a payload index scope")
    return f"payloads/{scope}/sha256/{sha256[:2]}/{sha256}.json"


WRITTEN_PREFIXES = (
    "warc/",
    "index/",
    "screenshots/",
    "manifests/",
    "media-manifests/",
    "media/",
    "ledger/",
    "liveness/",
    "payloads/",
)
"""Every prefix the worker writes under: the keys above (``payloads/``: the shared
payload index, ``payload_key``), the custody ledger
(``archivers.custody.ledger``) and the liveness records
(``archivers.custody.liveness``). The worker's S3 credential may write these
and nothing else (``archivers.store.policy``)."""


MEDIA_TYPES = {
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "ts": "video/mp2t",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flv": "video/x-flv",
    "avi": "video/x-msvideo",
    "wav": "audio/wav",
    "aac": "audio/aac",
    "jpg": "image/jpeg",
}
"""Content type of a media object by its extension (``media_key``'s ``ext``; posters are jpg)."""


def media_type(key: str) -> str:
    """Content type of the media object ``key`` (or extension), by its extension."""
    return MEDIA_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")
