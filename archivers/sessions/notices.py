"""What the operator is told when a worker marks a session: one event, several outputs.

``SessionPool.expire`` is the one place that decides an event happened: a
session that was active (or in another state) is now ``expired`` or
``challenged``. It logs a warning and hands a ``SessionMarked`` to each of its
listeners — the worker's metrics (``streams.metrics``) and the webhook
(``archivers.sessions.webhook``) — which must return at once and never raise
into the capture (the pool logs a listener that does, and goes on).

Invariant: an event carries only a session's public facts (``Session.public``:
id, site, handle), never a cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionMarked:
    session: dict[str, str]
    """``{"id", "site", "handle"}``: what a capture's record names."""
    state: str
    """``expired`` or ``challenged``."""
    reason: str
    at: str
    """When it was marked (ISO 8601 UTC)."""

    @property
    def event(self) -> str:
        """``session_expired`` or ``session_challenged``."""
        return f"session_{self.state}"

    def body(self, worker: str) -> dict[str, Any]:
        """The webhook's JSON body (docs/sessions.md); ``worker`` names who marked it."""
        return {
            "event": self.event,
            "session": dict(self.session),
            "reason": self.reason,
            "at": self.at,
            "worker": worker,
        }


Listener = Callable[[SessionMarked], None]
"""An output of the event: returns at once (a slow one hands the work to a thread)."""
