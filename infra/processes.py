"""Background processes tracked by pid files: start, find, stop only our own.

A pid file is JSON: ``{"pid", "marker", "started_at", "log"}``. A process is
"ours" only if the pid is alive *and* its command line contains the marker
(a path under the stack's home), so a recycled pid never gets signalled and
``down`` never touches processes another stack or person started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit


class ServiceError(Exception):
    """A local service could not be installed, started or reached; the message says why."""


def host_port(address: str) -> tuple[str, int]:
    """``127.0.0.1:9092`` or ``http://127.0.0.1:9000`` → (host, port)."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    if not parts.hostname or not parts.port:
        raise ServiceError(f"{address!r} needs an explicit host and port")
    return parts.hostname, parts.port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str,
    on_fail: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``check`` until it is true or ``timeout`` seconds pass (then ServiceError)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not happen within {timeout:g} s. {on_fail()}".strip())
        time.sleep(interval)


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    run_dir: Path
    log_path: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid if the process is running and is ours, else None (stale files removed)."""
        try:
            info = json.loads(self.pid_file.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except OSError:
            cmdline, state = "", "Z"
        if self.marker not in cmdline or state == "Z":
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        if self.marker not in " ".join(argv):
            raise ValueError(f"the command of {self.name} must contain its marker {self.marker}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- {self.name} starting at {datetime.now(UTC).isoformat()}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "marker": self.marker,
                    "log": str(self.log_path),
                    "started_at": datetime.now(UTC).isoformat(),
                }
            )
        )
        # Until the child has exec'd, /proc shows our own command line; wait so
        # that pid() does not mistake the new process for a stranger.
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if self.marker in Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(
                    b"\0", b" "
                ).decode(errors="replace"):
                    break
            except OSError:
                break
            time.sleep(0.01)
        return proc.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, wait, then SIGKILL. True if a process of ours was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.1)
        if self.pid() is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: self.pid() is None, timeout=5, what=f"{self.name} to exit")
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"Last lines of {self.log_path}:\n" + "\n".join(text)
