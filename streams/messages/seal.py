"""Seals on internal messages: which role made a message, proven by an HMAC.

The broker's ACLs (``streams.access``) say who may write a topic; a worker or
operator credential may still write every internal topic. A seal says which
role *made* a message: an HMAC-SHA256 by that role's key over a canonical
encoding of the message and the topic it was made for. The stages open the
seal before any effect; what is not sealed, is sealed by a key they do not
know, does not match, or was made by a role that may not make it, is
dead-lettered with that reason (``Undecodable``).

The seal is a field of the JSON value, so any Kafka client still reads the
message as plain JSON (docs/formats.md, "Seals")::

    "seal": {"alg": "HMAC-SHA256", "kid": "worker.3f9a0c1b2d4e5f60", "mac": "<64 hex>"}

    mac = HMAC-SHA256(key, netstring("warcflow-seal/1") + netstring(kid)
                           + netstring(topic) + netstring(canonical))
    canonical = the value's JSON object without "seal", compact and
                key-sorted (``streams.messages.base.dumps``)
    netstring(b) = ascii(len(b)) + ":" + b + ","

The MAC is over the *parsed* object, re-encoded: what is checked is exactly
what the stage then uses (a duplicated JSON key, whose last value wins when
parsed, changes the canonical form and breaks the seal). Binding the topic
keeps a sealed message from being replayed onto another topic.

Keys: each producing role (``SEALING_ROLES``) has its own random 256-bit key;
a key's id ``kid`` is its role and the first 16 hex digits of the SHA-256 of
the key (public: it names the key, it does not reveal it). A process seals
with the first key of its own role it holds and opens with any key it holds,
so a rotation keeps the previous key for opening (``warcflow rotate``): a
message sealed just before is still accepted. ``PRODUCERS`` is the one table
of which role may make which message. Comparison is ``hmac.compare_digest``.

Invariants: ``seal`` never leaves a value without a valid seal for the
sealing role's current key; ``open`` never returns a document whose seal it
did not verify with a key of a role ``PRODUCERS`` allows for that document.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from streams.messages.base import Undecodable, dumps, parse_json, shorten
from streams.messages.capture import (
    CAPTURE_FAILED,
    CAPTURE_STORED,
    MEDIA_FAILED,
    MEDIA_REQUEST,
    MEDIA_STORED,
    RETRY,
)
from streams.messages.custody import CUSTODY_EVENT, HEAD_REQUEST, LIVENESS_START, RECHECK_REQUEST
from streams.messages.hosts import HOST_HOLD

FIELD = "seal"
ALGORITHM = "HMAC-SHA256"
DOMAIN = b"warcflow-seal/1"
KEY_BYTES = 32
MIN_KEY_BYTES = 16
SEALING_ROLES = ("worker", "operator", "viewer")
"""The roles that make internal messages, each with a key of its own. The
submitter writes only ingest, which is outside input and carries no seal."""

WORKER, OPERATOR, VIEWER = SEALING_ROLES
PRODUCERS: dict[str, frozenset[str]] = {
    RETRY: frozenset({WORKER}),
    MEDIA_REQUEST: frozenset({WORKER}),
    CAPTURE_STORED: frozenset({WORKER}),
    CAPTURE_FAILED: frozenset({WORKER}),
    MEDIA_STORED: frozenset({WORKER}),
    MEDIA_FAILED: frozenset({WORKER}),
    HEAD_REQUEST: frozenset({WORKER, OPERATOR}),
    RECHECK_REQUEST: frozenset({WORKER, OPERATOR}),
    LIVENESS_START: frozenset({WORKER}),
    HOST_HOLD: frozenset({WORKER}),
}
"""schema → the roles that may make a message of it."""
CUSTODY_PRODUCERS: dict[str, frozenset[str]] = {
    "capture": frozenset({WORKER}),
    "media": frozenset({WORKER}),
    "recheck": frozenset({WORKER}),
    "fixity": frozenset({WORKER, OPERATOR}),
    "export": frozenset({OPERATOR}),
    "annotation": frozenset({OPERATOR}),
    "download": frozenset({VIEWER}),
}
"""A CustodyEvent's ``event`` → the roles that may make it (the viewer records
downloads and nothing else; only the worker records captures; the operator
exports, fixity runs and case notes, ``annotation``)."""

REASONS = frozenset({"unsealed", "bad_seal", "unknown_key", "forged", "wrong_role"})
"""The dead-letter reasons of a seal that does not hold (``Seals.open``)."""

_HEX = frozenset("0123456789abcdef")


def _netstring(data: bytes) -> bytes:
    return str(len(data)).encode("ascii") + b":" + data + b","


@dataclass(frozen=True)
class MacKey:
    """One role's key. ``secret`` never appears in a repr."""

    role: str
    secret: bytes = field(repr=False)

    @property
    def kid(self) -> str:
        return f"{self.role}.{hashlib.sha256(DOMAIN + b'/kid' + self.secret).hexdigest()[:16]}"

    def text(self) -> str:
        """``role:hex``, the form of ``WARCFLOW_MAC_KEYS`` and the credentials file."""
        return f"{self.role}:{self.secret.hex()}"


def new_key(role: str) -> MacKey:
    if role not in SEALING_ROLES:
        raise ValueError(f"{role!r} makes no internal messages ({', '.join(SEALING_ROLES)} do)")
    return MacKey(role, secrets.token_bytes(KEY_BYTES))


def parse_key(text: str) -> MacKey:
    """A key from ``role:hex``; ValueError saying what is wrong (never the secret)."""
    role, sep, hexed = text.strip().partition(":")
    if not sep or role not in SEALING_ROLES:
        raise ValueError(
            f"a MAC key is ROLE:HEX with ROLE one of {', '.join(SEALING_ROLES)} "
            f"(got one starting {role[:20]!r})"
        )
    hexed = hexed.strip().lower()
    if len(hexed) % 2 or not set(hexed) <= _HEX or len(hexed) < 2 * MIN_KEY_BYTES:
        raise ValueError(
            f"the {role} MAC key must be at least {MIN_KEY_BYTES} bytes written as hex digits"
        )
    return MacKey(role, bytes.fromhex(hexed))


def parse_keys(text: str) -> tuple[MacKey, ...]:
    """Comma-separated ``role:hex`` keys (``WARCFLOW_MAC_KEYS``); empty: none."""
    return tuple(parse_key(item) for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Opened:
    """A message whose seal was verified: its object (without the seal) and
    the role and key that made it."""

    doc: dict[str, Any]
    role: str
    kid: str


@dataclass(frozen=True)
class Seals:
    """The MAC keys one process holds: ``role``'s first key seals, every key opens."""

    keys: tuple[MacKey, ...] = ()
    role: str = ""

    def __post_init__(self) -> None:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("the same MAC key is given twice")

    @property
    def sealing_key(self) -> MacKey | None:
        return next((k for k in self.keys if k.role == self.role), None)

    def can_seal(self) -> bool:
        return self.sealing_key is not None

    def kids(self) -> list[str]:
        return [k.kid for k in self.keys]

    def seal(self, topic: str, value: bytes) -> bytes:
        """``value`` (a JSON object message) with this process's seal for ``topic``.
        ValueError if this process holds no key of its role, or the value is not
        a JSON object: a programming or configuration error, never input."""
        key = self.sealing_key
        if key is None:
            raise ValueError(
                f"no MAC key of role {self.role or '(none)'} to seal messages with: "
                "set WARCFLOW_MAC_KEYS, or run `warcflow up` to make the credentials file"
            )
        doc = parse_json(value)
        if not isinstance(doc, dict):
            raise ValueError("only a JSON object can be sealed")
        doc.pop(FIELD, None)
        doc[FIELD] = {"alg": ALGORITHM, "kid": key.kid, "mac": _mac(key, topic, doc)}
        return dumps(doc)

    def open(self, topic: str, value: bytes | None) -> Opened:
        """The verified message consumed from ``topic``, if its seal is good and
        its maker may make it (``PRODUCERS``); ``Undecodable`` otherwise:
        ``unsealed``, ``bad_seal``, ``unknown_key``, ``forged``, ``wrong_role``
        (or a decoding reason for a value that is no JSON object)."""
        doc = parse_json(value)
        if not isinstance(doc, dict):
            raise Undecodable("bad_json", "the JSON value is not an object")
        seal = doc.pop(FIELD, None)
        if seal is None:
            raise Undecodable(
                "unsealed",
                f"the message has no seal: internal messages on {topic} must be sealed "
                "by the role that made them (docs/formats.md, Seals)",
            )
        if (
            not isinstance(seal, dict)
            or seal.get("alg") != ALGORITHM
            or not isinstance(seal.get("kid"), str)
            or not isinstance(seal.get("mac"), str)
        ):
            raise Undecodable("bad_seal", f"the seal is malformed: {shorten(seal)}")
        kid, mac = seal["kid"], seal["mac"]
        key = next((k for k in self.keys if k.kid == kid), None)  # a kid is public
        if key is None:
            raise Undecodable(
                "unknown_key",
                f"the message is sealed with key {shorten(kid, 60)}, which this worker "
                f"does not hold (it holds {', '.join(self.kids()) or 'none'}): forged, or "
                "sealed with a key rotated out (or in, and this worker not yet restarted)",
            )
        if not hmac.compare_digest(_mac(key, topic, doc).encode(), mac.encode("utf-8")):
            raise Undecodable(
                "forged",
                f"the seal does not match the message: it was not made by {key.role} "
                f"with key {key.kid} for topic {topic}, or was altered since",
            )
        schema = doc.get("schema")
        if not isinstance(schema, str) or (schema not in PRODUCERS and schema != CUSTODY_EVENT):
            raise Undecodable(
                "unknown_schema", f"{describe(doc)} is no internal message warcflow makes"
            )
        allowed = may_make(doc)
        if key.role not in allowed:
            raise Undecodable(
                "wrong_role",
                f"{key.role} may not make this message ({describe(doc)}; only "
                f"{', '.join(sorted(allowed)) or 'nobody'})",
            )
        return Opened(doc, key.role, key.kid)


NO_KEYS = Seals()
"""A process without MAC keys: it can neither seal nor open (fails closed)."""


def may_make(doc: dict[str, Any]) -> frozenset[str]:
    """The roles that may make the message ``doc`` (``PRODUCERS``)."""
    schema = doc.get("schema")
    if schema == CUSTODY_EVENT:
        return CUSTODY_PRODUCERS.get(str(doc.get("event")), frozenset())
    return PRODUCERS.get(str(schema), frozenset())


def describe(doc: dict[str, Any]) -> str:
    if doc.get("schema") == CUSTODY_EVENT:
        return f"a CustodyEvent of kind {shorten(doc.get('event'), 40)}"
    return f"schema {shorten(doc.get('schema'), 60)}"


def _mac(key: MacKey, topic: str, doc: dict[str, Any]) -> str:
    data = (
        _netstring(DOMAIN)
        + _netstring(key.kid.encode("utf-8"))
        + _netstring(topic.encode("utf-8"))
        + _netstring(dumps(doc))
    )
    return hmac.new(key.secret, data, hashlib.sha256).hexdigest()
