"""Which session a capture uses, and what a login wall does to it.

``SessionPool.choose(url)`` gives the session a capture of ``url`` uses:
among the *active* sessions serving the URL's host (``Session.serves``), the
one used least recently (the vault's state file keeps ``used_at``; ties go to
the session added first) — so captures of one site rotate over its sessions,
every worker sharing the vault taking turns with the others. ``prefer`` names
a session to take if it is still active: a page's media are fetched with the
session that saw the page. None when the site has no active session: the
capture is made without one, and says so.

When a capture made with a session lands on a login page or a challenge
(``archivers.manifests.outcome.wall_of``), the capture marks it
(``expire``): the next attempt picks another. ``expire`` is the one place
that decides the operator is told (``archivers.sessions.notices``): when the
session's state changes — not when another worker marked it first — it logs a
warning and hands a ``SessionMarked`` to each listener (the worker's metrics,
the webhook); ``warcflow session list`` and the viewer read the state file.
The pool re-reads the vault when its file changes, so a session added while
the worker runs is used at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from archivers.clock import iso, utc_now
from archivers.sessions.notices import Listener, SessionMarked
from archivers.sessions.state import STATES, standing
from archivers.sessions.vault import ACTIVE, Session, Vault

log = logging.getLogger("warcflow.sessions")


class SessionPool:
    def __init__(self, vault: Vault, listeners: Iterable[Listener] = ()) -> None:
        self.vault = vault
        self.listeners = tuple(listeners)
        self._seen: tuple[float, float] | None = None
        self._sessions: list[Session] = []

    def _current(self) -> list[Session]:
        stamp = (_mtime(self.vault.path), _mtime(self.vault.key_path))
        if stamp != self._seen:
            self._sessions = self.vault.sessions() if stamp[0] else []
            self._seen = stamp
        return self._sessions

    def for_site(self, url: str) -> list[Session]:
        host = urlsplit(url).hostname or ""
        return [s for s in self._current() if s.serves(host)]

    def choose(self, url: str, prefer: str | None = None) -> Session | None:
        serving = self.for_site(url)
        if not serving:
            return None
        states = self.vault.states()
        active = [s for s in serving if states.get(s.session_id, {}).get("state", ACTIVE) == ACTIVE]
        if not active:
            return None
        chosen = next((s for s in active if s.session_id == prefer), None) or min(
            active,
            key=lambda s: (states.get(s.session_id, {}).get("used_at") or "", active.index(s)),
        )
        self.vault.touch(chosen.session_id)
        return chosen

    def get(self, session_id: str) -> Session | None:
        return next((s for s in self._current() if s.session_id == session_id), None)

    def unavailable(self, url: str) -> list[str]:
        """Why the URL's site has no active session: one line per session it has."""
        states = self.vault.states()
        return [
            f"session {s.session_id} ({s.handle}) is {st.get('state')} since {st.get('at')}: "
            f"{st.get('reason')}"
            for s in self.for_site(url)
            if (st := states.get(s.session_id, {})).get("state", ACTIVE) != ACTIVE
        ]

    def walled_before(self, url: str, session: Session) -> bool:
        """Whether another session met a wall at ``url`` within the hour: then the
        wall is the page's, not this session's (and the wall is noted for the next)."""
        return self.vault.note_wall(url, session.session_id) is not None

    def expire(self, session: Session, state: str, reason: str) -> None:
        """Mark ``session`` ``state`` (expired, challenged) for ``reason``; if that
        changed its state, tell the operator: a warning in the log, and a
        ``SessionMarked`` to every listener."""
        at = utc_now()
        before = self.vault.mark(session, state, reason, now=at)
        if before == state:
            log.info(
                "session %s (%s on %s) was already %s: %s",
                session.session_id,
                session.handle,
                session.site,
                state,
                reason,
            )
            return
        log.warning(
            "session %s (%s on %s) is %s: %s; captures of %s use another session, or none",
            session.session_id,
            session.handle,
            session.site,
            state,
            reason,
            session.site,
        )
        marked = SessionMarked(session.public(), state, reason, iso(at))
        for listener in self.listeners:
            try:
                listener(marked)
            except Exception:  # telling the operator never fails a capture
                log.exception(
                    "could not tell %r that session %s is %s", listener, session.session_id, state
                )

    def counts(self) -> list[tuple[str, str, int]]:
        """(site, state, sessions) for every site of the vault and every state
        (0 included, so an alert can test for no active session)."""
        states = self.vault.states()
        sites: dict[str, dict[str, int]] = {}
        for s in self._current():
            per = sites.setdefault(s.site, dict.fromkeys(STATES, 0))
            state = standing(s.session_id, states.get(s.session_id)).state
            per[state] = per.get(state, 0) + 1
        return [(site, state, n) for site, per in sorted(sites.items()) for state, n in per.items()]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return 0.0
