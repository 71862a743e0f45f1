"""Time in warcflow: UTC, timezone-aware, microseconds; one text form.

Every timestamp that leaves the process (WARC-Date, JSON fields) goes through
``iso``: ``2026-11-25T10:26:57.123456Z``. The one exception is a time taken
from a server that keeps whole seconds (S3 LastModified): ``iso_seconds``
writes it without a fraction, ``2026-11-25T10:26:57Z``, so it does not look
more precise than it is. Naive datetimes are refused rather than guessed at.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; ValueError on a naive datetime."""
    if moment.tzinfo is None:
        raise ValueError("refusing a naive datetime: warcflow times are UTC-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: for server times that only have whole seconds
    (S3 LastModified), so they never look more precise than they are."""
    if moment.tzinfo is None:
        raise ValueError("refusing a naive datetime: warcflow times are UTC-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Inverse of ``iso``; also reads other ISO 8601 forms that carry an offset."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
