"""What every message on the warcflow topics shares: the envelope and its checks.

Every JSON message carries ``"schema"`` (its type name) and ``"version"``;
readers refuse a version they do not know rather than guess
(``json_object``). Values are compact, key-sorted UTF-8 JSON (``dumps``). A
consumed message, whatever its topic, reaches the stages as a faust-free
``SourceMessage``; one that cannot be processed raises ``Undecodable`` with a
stable reason code.

Anyone who can reach the broker can write anything to any topic, so reading a
value is total: ``parse_json`` answers a JSON value or ``Undecodable`` for any
bytes at all — malformed, not UTF-8, nested deeper than ``MAX_DEPTH`` (which
would otherwise end in ``RecursionError``), an integer too long to convert —
and ``loads`` is the same with ``None`` for "not readable", for the readers
that only count poison. Invariant: nothing accepted is nested deeper than
``MAX_DEPTH``, so re-encoding it can never recurse too deep either.

A broker timestamp is whatever the producer set (CreateTime): ``-1`` for "none",
or any 64-bit number. ``timestamp_problem`` says when one cannot be a time
(before 1970, or at or after the year 10000, which also bounds it below
2^48 ms, the range of a capture id); ``SourceMessage.coordinates`` is total
and gives such a timestamp as ``None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from archivers.clock import from_epoch_ms, iso

VERSION = 1
MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a message may have (ours have 4)."""
TIMESTAMP_END_MS = 253_402_300_800_000
"""10000-01-01T00:00:00Z in ms since 1970: the first broker timestamp that is not
a time we can write; below 2**48, so every one before it also fits a capture id."""


class Undecodable(Exception):
    """A message that cannot be processed. ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def timestamp_problem(timestamp_ms: int | None) -> str | None:
    """Why a broker timestamp (ms) cannot be a capture's time, or None if it can."""
    if not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool):
        return f"the message has no broker timestamp ({timestamp_ms!r})"
    if timestamp_ms < 0:
        return f"the broker timestamp {timestamp_ms} ms is before 1970 (-1: none was set)"
    if timestamp_ms >= TIMESTAMP_END_MS:
        return f"the broker timestamp {timestamp_ms} ms is after the year 9999"
    return None


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
        """Where the message is: topic, partition, offset and its time (None when
        the broker timestamp is not a time: ``timestamp_problem``). Never raises."""
        ok = timestamp_problem(self.timestamp_ms) is None
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": iso(from_epoch_ms(self.timestamp_ms)) if ok else None,
        }


def dumps(doc: dict[str, Any]) -> bytes:
    """The wire form of a message: compact, key-sorted UTF-8 JSON."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iterative: a
    deep value cannot make this recurse)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def parse_json(value: bytes | str | None) -> Any:
    """The JSON value of ``value``; ``Undecodable`` (``empty``, ``not_utf8``,
    ``bad_json``) for anything else, whatever the bytes."""
    if not value:
        raise Undecodable("empty", "the message has no value")
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise Undecodable("not_utf8", "the value is not UTF-8 text (binary data?)") from None
    else:
        text = value
    try:
        doc = json.loads(text)
    except RecursionError:
        raise Undecodable(
            "bad_json", f"the JSON value is nested deeper than {MAX_DEPTH} levels"
        ) from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise Undecodable("bad_json", f"the value is not valid JSON: {shorten(exc)}") from None
    if depth(doc) > MAX_DEPTH:
        raise Undecodable("bad_json", f"the JSON value is nested deeper than {MAX_DEPTH} levels")
    return doc


def loads(value: bytes | str | None) -> Any | None:
    """``parse_json`` for readers that only skip and count poison: None when the
    value is not readable JSON (a JSON ``null`` is None too)."""
    try:
        return parse_json(value)
    except Undecodable:
        return None


def json_object(value: bytes | None, expected_schema: str) -> dict[str, Any]:
    """The JSON object of ``value`` if it is a ``expected_schema`` message of our
    version; ``Undecodable`` saying why not otherwise."""
    doc = parse_json(value)
    if not isinstance(doc, dict):
        raise Undecodable("bad_json", "the JSON value is not an object")
    if doc.get("schema") != expected_schema:
        raise Undecodable(
            "unknown_schema", f"schema {shorten(doc.get('schema'))} is not {expected_schema!r}"
        )
    if doc.get("version") != VERSION:
        raise Undecodable(
            "unknown_version",
            f"{expected_schema} version {shorten(doc.get('version'))} is not supported "
            f"(this warcflow reads version {VERSION})",
        )
    return doc


def shorten(value: Any, limit: int = 200) -> str:
    """``repr`` of something from a message, cut to ``limit`` characters: error
    texts quote what they refuse, never all of it."""
    text = value if isinstance(value, BaseException) else repr(value)
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"
