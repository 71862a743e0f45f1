"""Real services for integration tests: the project's own infra code on free ports.

``TestStack`` starts Kafka and versitygw exactly as ``warcflow up`` does, in a
temporary state directory, and hands out environments for CLI subprocesses.
``WorkerProcess`` runs ``warcflow worker`` as a real process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from infra.processes import free_port
from infra.stack import LocalStack
from warcflow.settings import Settings, load_settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def poll(
    fetch: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Call ``fetch`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fetch()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value: {last!r}")


def base_env(home: Path, kafka_port: int, s3_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARCFLOW_")}
    env.update(
        {
            "WARCFLOW_HOME": str(home),
            "WARCFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
            "WARCFLOW_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class TestStack:
    __test__ = False

    home: Path
    kafka_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(self.home, self.kafka_port, self.s3_port, **extra)

    def agent_env(self, letter: str, allow: str, **extra: str) -> dict[str, str]:
        """An environment for a worker of its own: a fresh topic prefix (starting
        with ``letter``) and bucket, the test site(s) ``allow``ed, quick retries."""
        prefix = f"{letter}{uuid.uuid4().hex[:8]}"
        defaults = {
            "WARCFLOW_TOPIC_PREFIX": prefix,
            "WARCFLOW_S3_BUCKET": f"{prefix}-bucket",
            "WARCFLOW_FETCH_ALLOW": allow,
            "WARCFLOW_RETRY_BASE_DELAY": "0.3",
            "WARCFLOW_RETRY_MAX_DELAY": "1",
            "WARCFLOW_RETRY_ATTEMPTS": "3",
            "WARCFLOW_PARTITIONS": "2",
            "WARCFLOW_WORKER_DRAIN": "5",  # a stopped test worker is gone in seconds
        }
        return self.env(**{**defaults, **extra})

    def settings(self, **extra: str) -> Settings:
        return load_settings(self.env(**extra))

    def start(self) -> None:
        LocalStack(self.settings().services).up(lambda message: print(message, file=sys.stderr))

    def stop(self) -> None:
        LocalStack(self.settings().services).down()


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``warcflow ARGS`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "warcflow", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


class AgentProcess:
    """``warcflow COMMAND`` in a subprocess; ``start`` returns once it logs ``ready``."""

    command = "worker"
    ready = "worker ready"

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AgentProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_size = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warcflow", self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()

        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{self.command} exited with {proc.returncode}:\n{self.log()}")
            # bytes, not characters: the log has multi-byte text ("→") before start_size
            return self.ready.encode() in self.log_bytes()[start_size:]

        try:
            poll(ready, timeout=timeout, what=f"the {self.command} to be ready")
        except BaseException:
            self.stop(signal.SIGKILL)  # never leave a half-started agent behind
            raise
        return self

    def log_bytes(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop it (and its children: the viewer's replay server) and wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class WorkerProcess(AgentProcess):
    command, ready = "worker", "worker ready"


class ViewerProcess(AgentProcess):
    command, ready = "viewer", "viewer ready"
