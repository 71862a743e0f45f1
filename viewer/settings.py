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
    replay; in production two domains.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    replay_host: str = "127.0.0.1"
    replay_port: int = 8090
    public_url: str = ""
    replay_url: str = ""
    collection: str = "warcflow"
    token: str = ""
    """Required (``Authorization: Bearer``, or the form's token field) to submit,
    when set; ``load_settings`` insists on one when the viewer listens beyond loopback."""

    @property
    def viewer_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def replay_base(self) -> str:
        return (self.replay_url or f"http://localhost:{self.replay_port}").rstrip("/")

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    def token_problem(self) -> str | None:
        """Why these settings may not serve, or None: beyond loopback, submitting
        must need a token of 16 characters or more."""
        if self.loopback_only or len(self.token) >= 16:
            return None
        return (
            f"listening on {self.host}, beyond loopback: set WARCFLOW_VIEWER_TOKEN "
            "(16 characters or more, e.g. `openssl rand -hex 24`) so that only holders "
            "of it can submit URLs"
        )
