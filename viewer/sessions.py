"""The sessions' state as the viewer shows it: the state file, never the vault.

``SessionBoard(path)`` reads the session vault's plain state file
(``ViewerSettings.session_state``; its layout: ``archivers.sessions.state``)
— and nothing else of the vault: the sealed file and its key stay with the
worker and the operator (decision 0021), so a viewer's machine needs only
this one file, and it holds no secret. The board re-reads it when it changes
(size, mtime, inode), so every page's banner costs one ``stat``.

Who sees it: the sessions page, ``/api/sessions`` and the banner are for
``admin`` accounts (viewer/accounts.py: admins get the admin pages); the
facts are public ones (a capture's record names its session's handle), but
which research accounts are spent, and why, is the operator's business.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from archivers.sessions.state import Standing, StateUnreadable, read_states, standings


@dataclass(frozen=True)
class Board:
    """What the state file said when last read: every session, or why it could not."""

    sessions: tuple[Standing, ...] = ()
    problem: str | None = None

    @property
    def attention(self) -> int:
        """Sessions expired or challenged: the banner's count."""
        return sum(1 for s in self.sessions if s.needs_attention)


class SessionBoard:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._board = Board()

    def read(self) -> Board:
        if self.path is None:
            return Board()
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return Board()
        except OSError as exc:
            return Board(problem=f"cannot read {self.path}: {exc}")
        with self._lock:
            if stamp != self._seen:
                try:
                    self._board = Board(tuple(standings(read_states(self.path))))
                except StateUnreadable as exc:
                    self._board = Board(problem=str(exc))
                self._seen = stamp
            return self._board
