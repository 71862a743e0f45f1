"""What every message on the warcflow topics shares: the envelope and its checks.

Every JSON message carries ``"schema"`` (its type name) and ``"version"``;
readers refuse a version they do not know rather than guess
(``json_object``). Values are compact, key-sorted UTF-8 JSON (``dumps``). A
consumed message, whatever its topic, reaches the stages as a faust-free
``SourceMessage``; one that cannot be processed raises ``Undecodable`` with a
stable reason code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from archivers.clock import from_epoch_ms, iso

VERSION = 1


class Undecodable(Exception):
    """A message that cannot be processed. ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SourceMessage:
    """A consumed Kafka message, as the agents see it (faust-free)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def coordinates(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": iso(from_epoch_ms(self.timestamp_ms)),
        }


def dumps(doc: dict[str, Any]) -> bytes:
    """The wire form of a message: compact, key-sorted UTF-8 JSON."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def json_object(value: bytes | None, expected_schema: str) -> dict[str, Any]:
    """The JSON object of ``value`` if it is a ``expected_schema`` message of our
    version; ``Undecodable`` saying why not otherwise."""
    if not value:
        raise Undecodable("empty", "the message has no value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise Undecodable("not_utf8", "the value is not UTF-8 text (binary data?)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Undecodable("bad_json", f"the value is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Undecodable("bad_json", "the JSON value is not an object")
    if doc.get("schema") != expected_schema:
        raise Undecodable(
            "unknown_schema", f"schema {doc.get('schema')!r} is not {expected_schema!r}"
        )
    if doc.get("version") != VERSION:
        raise Undecodable(
            "unknown_version",
            f"{expected_schema} version {doc.get('version')!r} is not supported "
            f"(this warcflow reads version {VERSION})",
        )
    return doc
