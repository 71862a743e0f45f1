"""Settings of the viewer and the replay server, built once by the entry point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ViewerSettings:
    """Where the viewer and the replay server listen, and how browsers reach them.

    ``public_url`` and ``replay_url`` are what pages link to. They must be
    different *sites* (host names, not just ports: cookies ignore ports), so
    that archived pages, which run on the replay origin, can never read or
    use the viewer's cookies. Locally: 127.0.0.1 for the viewer, localhost for
    replay; in production two domains. ``viewer_base`` is also the one origin
    state-changing requests may come from (viewer/auth.py).

    Accounts, rate limits and audits: the fields after ``collection``
    (decision 0016).
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    replay_host: str = "127.0.0.1"
    replay_port: int = 8090
    public_url: str = ""
    replay_url: str = ""
    collection: str = "warcflow"
    anonymous_read: str = "auto"
    """``true``, ``false`` or ``auto``: anonymous reading only when the viewer listens
    on loopback and has no public URL (no proxy in front: only this machine)."""
    session_hours: float = 12.0
    submits_per_minute: float = 30.0
    downloads_per_minute: float = 60.0
    logins_per_minute: float = 10.0
    audit_workers: int = 2
    trusted_proxies: tuple[str, ...] = ()
    """Addresses of the reverse proxy: from them, ``X-Forwarded-For`` (its last
    address) is the client and ``X-Forwarded-Proto: https`` makes cookies Secure."""
    user_header: str = ""
    """A header the trusted proxy sets to the account it authenticated (OIDC through
    e.g. oauth2-proxy's ``X-Forwarded-User``); only believed from ``trusted_proxies``."""
    session_state: Path | None = None
    """The session vault's plain state file (``<WARCFLOW_SESSION_VAULT>.state.json``),
    the one file of the vault the viewer reads (viewer/sessions.py); None: no sessions
    page."""

    @property
    def viewer_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def replay_base(self) -> str:
        return (self.replay_url or f"http://localhost:{self.replay_port}").rstrip("/")

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @property
    def reading_is_open(self) -> bool:
        """Whether pages and the read API answer without an account."""
        if self.anonymous_read == "auto":
            return self.loopback_only and not self.public_url
        return self.anonymous_read == "true"

    @property
    def accounts_path(self) -> Path:
        return self.state_dir / "users.json"
