"""Capture ids and S3 keys: all derived, never stored state.

A capture id is a ULID whose 48-bit time part is the source message's
timestamp (ms) and whose 80-bit rest is a hash of the message's coordinates.
So the same Kafka message always gives the same id, ids sort by submission
time, and the id alone names its WARC:

    capture_id  = ULID(time=message timestamp, bits=SHA-256(topic|partition|offset|timestamp))
    WARC        = warc/YYYY/MM/DD/<capture_id>.warc.gz            (date of the id's time, UTC)
    manifest    = manifests/<url_hash>/<YYYYmmddTHHMMSSZ>-<capture_id>.json
    CDXJ index  = index/YYYY/MM/DD/<capture_id>.cdxj

Listing ``manifests/<url_hash>/`` gives every capture of one URL in time order.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from archivers.urls import url_hash

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_CROCKFORD)}


def capture_id(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """Deterministic ULID for the message at (topic, partition, offset)."""
    if not 0 <= timestamp_ms < 2**48:
        raise ValueError(f"timestamp {timestamp_ms} ms is outside the ULID range")
    seed = f"{topic}|{partition}|{offset}|{timestamp_ms}".encode("utf-8")
    rest = int.from_bytes(hashlib.sha256(seed).digest()[:10], "big")
    value = (timestamp_ms << 80) | rest
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def is_capture_id(text: str) -> bool:
    return len(text) == 26 and all(c in _DECODE for c in text.upper()) and text[0] in "01234567"


def capture_time(capture: str) -> datetime:
    """The submission time encoded in a capture id (ms precision, UTC)."""
    if not is_capture_id(capture):
        raise ValueError(f"{capture!r} is not a capture id (26 characters of Crockford base32)")
    value = 0
    for char in capture.upper():
        value = (value << 5) | _DECODE[char]
    return datetime.fromtimestamp((value >> 80) / 1000, tz=timezone.utc)


def warc_key(capture: str) -> str:
    day = capture_time(capture).strftime("%Y/%m/%d")
    return f"warc/{day}/{capture.upper()}.warc.gz"


def index_key(capture: str) -> str:
    day = capture_time(capture).strftime("%Y/%m/%d")
    return f"index/{day}/{capture.upper()}.cdxj"


def manifest_prefix(url: str) -> str:
    return f"manifests/{url_hash(url)}/"


def manifest_key(url: str, capture: str) -> str:
    stamp = capture_time(capture).strftime("%Y%m%dT%H%M%SZ")
    return f"{manifest_prefix(url)}{stamp}-{capture.upper()}.json"
