"""The state file beside the session vault: public facts about each session, no secret.

``<vault>.state.json`` (``state_path``) is a JSON object. Per session id::

    {"state": "active" | "expired" | "challenged", "reason": "...", "at": ISO,
     "used_at": ISO, "uses": N,                        # once a capture took it
     "site": "x.com", "handle": "@...", "added_at": ISO}  # its public facts

``_walls`` (``WALLS``), the URLs where a session met a wall, and ``_sizes``
(``SIZES``), each site's latest page sizes seen with a session. The public
facts are written by the vault whenever it holds the sessions open (``add``,
``remove``, a worker marking one): a state file written before they were has
entries without them, and is read all the same (``site`` and ``handle`` are
then None).

This module is all the viewer knows of sessions (decision 0021): it reads
the state file and nothing else — not the sealed vault, not its key — so
it imports nothing that could open them. The vault (``vault.py``) writes the
file; the reading rules (``standings``) are here, for ``session list``, the
worker's metrics and the viewer alike.

Invariant: no cookie value is ever in this file; every field above is one a
capture's own record already shows (``Session.public``) or a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACTIVE, EXPIRED, CHALLENGED = "active", "expired", "challenged"
STATES = (ACTIVE, EXPIRED, CHALLENGED)
WALLS = "_walls"
"""The state file's entry of URLs where a session met a wall (not a session id)."""
SIZES = "_sizes"
"""The state file's entry of each site's latest page sizes seen with a session
(``archivers.manifests.outcome.smaller_than_usual``), not a session id."""
PUBLIC = ("site", "handle", "added_at")
"""The public facts of a session the state file keeps beside its state."""


class StateUnreadable(Exception):
    """The state file exists but cannot be read as one: the message says which and why."""


def state_path(vault_path: Path) -> Path:
    """Where the state of the vault at ``vault_path`` is kept: beside it."""
    return vault_path.with_name(vault_path.name + ".state.json")


def read_states(path: Path) -> dict[str, dict[str, Any]]:
    """The state file's entries (``{}`` when there is none yet)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateUnreadable(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise StateUnreadable(f"{path} is not a session state file (not a JSON object)")
    return doc


@dataclass(frozen=True)
class Standing:
    """One session as its state file tells it: what `session list`, the worker's
    gauge and the viewer show. Times are ISO 8601 UTC strings."""

    session_id: str
    site: str | None
    """None: the state file was written before it kept the site (see the module doc)."""
    handle: str | None
    state: str
    reason: str | None
    since: str | None
    """When the session came to its state (added, marked, reset by `session test`)."""
    uses: int
    used_at: str | None
    added_at: str | None

    @property
    def needs_attention(self) -> bool:
        """Expired or challenged: no capture uses it until it is replaced or passes
        `session test`."""
        return self.state != ACTIVE

    def public(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "site": self.site,
            "handle": self.handle,
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "uses": self.uses,
            "used_at": self.used_at,
            "added_at": self.added_at,
        }


def standing(session_id: str, entry: dict[str, Any] | None) -> Standing:
    """``session_id``'s standing from its entry (None: a session never marked nor
    used since it was added by a vault that wrote no state: active)."""
    entry = entry or {}
    return Standing(
        session_id=session_id,
        site=_text(entry.get("site")),
        handle=_text(entry.get("handle")),
        state=str(entry.get("state", ACTIVE)),
        reason=_text(entry.get("reason")),
        since=_text(entry.get("at")),
        uses=int(entry.get("uses") or 0),
        used_at=_text(entry.get("used_at")),
        added_at=_text(entry.get("added_at")),
    )


def standings(states: dict[str, dict[str, Any]]) -> list[Standing]:
    """Every session of a state file: those needing attention first, then by site
    and by when they were added."""
    out = [
        standing(session_id, entry)
        for session_id, entry in states.items()
        if session_id not in (WALLS, SIZES) and isinstance(entry, dict)
    ]
    return sorted(
        out, key=lambda s: (not s.needs_attention, s.site or "", s.added_at or "", s.session_id)
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
