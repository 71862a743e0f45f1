"""The hosts topic's message: a host that asked every worker to wait.

    topic            key        value
    warcflow.hosts   host name  HostHold (sealed by a worker; compacted: the
                                latest hold per host is the topic's state)

A worker that meets a ``429`` (or ``503`` with ``Retry-After``) announces the
hold (``archivers.net.holds``); every worker takes it. Decoding is strict
about the host (a DNS name or address, lower case, at most 253 characters) and
tolerant of nothing else; how long a hold may last is bounded where it is
taken (``HostHolds.hold``), not trusted from the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from archivers.clock import iso, parse_iso
from streams.messages.base import VERSION, Undecodable, dumps, json_object, shorten

HOST_HOLD = "warcflow.HostHold"
HOST = re.compile(r"^[a-z0-9._:\[\]-]{1,253}$")


@dataclass(frozen=True)
class HostHoldMessage:
    host: str
    until: datetime
    reason: str
    by: str
    """The worker that met it (host name and process id)."""

    def to_json(self) -> bytes:
        return dumps(
            {
                "schema": HOST_HOLD,
                "version": VERSION,
                "host": self.host,
                "until": iso(self.until),
                "reason": self.reason,
                "by": self.by,
            }
        )


def decode_host_hold(value: bytes | None) -> HostHoldMessage:
    doc = json_object(value, HOST_HOLD)
    host = doc.get("host")
    if not isinstance(host, str) or not HOST.match(host):
        raise Undecodable("bad_field", f"HostHold: host {shorten(host)} is not a host name")
    try:
        return HostHoldMessage(
            host,
            parse_iso(doc["until"]),
            str(doc.get("reason", ""))[:200],
            str(doc.get("by", ""))[:200],
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise Undecodable("bad_field", f"HostHold is malformed: {shorten(exc)}") from None
