"""Real services for integration tests: the project's own infra code on free ports.

``TestStack`` starts Kafka (SASL/SCRAM, ACLs) and versitygw (IAM users, a
bucket policy) exactly as ``warcflow up`` does, in a temporary state
directory, with the credentials file ``warcflow up`` makes, and hands out
environments for CLI subprocesses (which take their command's role from that
file, as a user's do). ``agent_env`` makes a fresh topic prefix and bucket and
provisions them as the admin, as ``warcflow up`` does for its own.
``WorkerProcess`` runs ``warcflow worker`` as a real process, given the
worker's credentials explicitly (the production way: WARCFLOW_KAFKA_USER …),
``ViewerProcess`` the viewer's.
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
from streams.settings import KafkaAccess
from warcflow import credentials
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
            # named, so that a test giving a process a home of its own keeps them
            "WARCFLOW_CREDENTIALS": str(home / "credentials.json"),
            "WARCFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
            "WARCFLOW_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
            "PYTHONUNBUFFERED": "1",
            # perceptual hashing costs ~1 s of CPU per test clip: on only where a test
            # looks at hashes (tests/integration/test_viewer.py: PIPELINE_ENV); the
            # default, outside the tests, is on
            "WARCFLOW_MEDIA_HASHES": "false",
            # one capture process per WorkerProcess (the default is one per core,
            # under a supervisor: decision 0023), so the suite's load stays what its
            # tests count on; tests/integration/test_worker_processes.py runs more
            "WARCFLOW_WORKER_PROCESSES": "1",
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
        with ``letter``) and bucket, provisioned (topics, ACLs, bucket, policy),
        the test site(s) ``allow``ed, quick retries."""
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
        env = self.env(**{**defaults, **extra})
        self.provision(env)
        return env

    def settings(self, role: str = "operator", **extra: str) -> Settings:
        """The settings a command of ``role`` gets (its credentials from the file)."""
        return credentials.for_role(load_settings(self.env(**extra)), role)

    def credentials(self) -> credentials.Credentials:
        found = credentials.load(self.home / "credentials.json")
        assert found is not None, "the stack has not been started"
        return found

    def kafka(self, role: str) -> KafkaAccess:
        """How ``role`` reaches the broker (``.client_kwargs()`` for kafka-python)."""
        return self.settings(role).streams.kafka

    def provision(self, env: dict[str, str]) -> None:
        """What ``warcflow up`` does for its prefix and bucket, for ``env``'s."""
        from warcflow import wiring

        admin = credentials.for_role(load_settings(env), "admin", local_stack=True)
        wiring.provision(admin, self.credentials())

    def start(self) -> None:
        """``warcflow up`` without the agents: credentials, services, users, provisioning."""
        say = lambda message: print(message, file=sys.stderr)  # noqa: E731
        creds, _made = credentials.ensure(self.home / "credentials.json")
        admin = self.settings("admin")
        stack = LocalStack(credentials.for_role(admin, "admin", local_stack=True).services)
        stack.up(say)
        stack.ensure_s3_users(
            {creds.s3[r][0]: creds.s3[r][1] for r in credentials.S3_ROLES if r != "admin"}
        )
        self.provision(self.env())
        credentials.write_kcat_config(self.home / "kcat.conf", self.kafka("submitter"))

    def start_s3(self):
        """Only the S3 server, with the roles' accounts (benchmarks without Kafka);
        returns it (``.stop()`` when done)."""
        creds, _made = credentials.ensure(self.home / "credentials.json")
        services = credentials.for_role(load_settings(self.env()), "admin", local_stack=True)
        stack = LocalStack(services.services)
        stack.s3.start(lambda message: None)
        stack.ensure_s3_users(
            {creds.s3[r][0]: creds.s3[r][1] for r in credentials.S3_ROLES if r != "admin"}
        )
        return stack.s3

    def stop(self) -> None:
        LocalStack(self.settings("admin").services).down()


def settings_of(env: dict[str, str], role: str = "operator", *, local_stack: bool = False):
    """The settings a command of ``role`` gets in ``env`` (credentials from the file)."""
    return credentials.for_role(load_settings(env), role, local_stack=local_stack)


def store_of(env: dict[str, str], role: str = "operator"):
    """The bucket of ``env`` as ``role`` sees it (``admin``: the S3 server's root)."""
    from archivers.store.s3 import S3Store

    return S3Store(settings_of(env, role, local_stack=role == "admin").store)


def kafka_of(env: dict[str, str], role: str) -> KafkaAccess:
    """How ``role`` reaches the broker of ``env`` (``.client_kwargs()`` for kafka-python)."""
    return settings_of(env, role).streams.kafka


def viewer_account(env: dict[str, str], name: str, role: str) -> str:
    """An account of the viewer of ``env``'s home (as ``warcflow user add`` makes
    one, a running viewer included): its token, ``NAME:SECRET``."""
    from archivers.clock import iso, utc_now
    from viewer.accounts import Accounts

    path = load_settings(env).viewer.accounts_path
    _account, token = Accounts(path).add(
        name, role, password=None, at=iso(utc_now()), replace_existing=True
    )
    return token


def role_env(env: dict[str, str], role: str) -> dict[str, str]:
    """``role``'s credentials as explicit settings (as a production container gets
    them), from the credentials file of ``env``'s home."""
    found = credentials.load(Path(env["WARCFLOW_CREDENTIALS"]))
    assert found is not None, "the stack has not been started"
    user, password = found.kafka[role]
    extra = {"WARCFLOW_KAFKA_USER": user, "WARCFLOW_KAFKA_PASSWORD": password}
    if role in found.s3:
        access, secret = found.s3[role]
        extra.update(WARCFLOW_S3_ACCESS_KEY=access, WARCFLOW_S3_SECRET_KEY=secret)
    if found.mac_keys(role):  # the worker: every role's; the viewer, its own
        extra["WARCFLOW_MAC_KEYS"] = ",".join(k.text() for k in found.mac_keys(role))
    return extra


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
    role = "worker"

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.env = {**env, **role_env(env, self.role)}
        self.log_path = log_path
        self.args = args  # after the command: `worker --processes 2`
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AgentProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_size = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warcflow", self.command, *self.args],
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

    def stacks(self, timeout: float = 20.0) -> str:
        """Where the agent's tasks and threads are waiting, for a failure message:
        its SIGUSR1 dump (``streams.stackdump``), cut to the frames of warcflow's code."""
        if self.proc is None:
            return "(the agent was never started)"
        if self.proc.poll() is not None:  # a negative code: the signal that ended it
            return f"(the agent is not running: it exited with {self.proc.returncode})"
        start = len(self.log_bytes())
        os.kill(self.proc.pid, signal.SIGUSR1)
        try:
            poll(
                lambda: b"STACK DUMP END" in self.log_bytes()[start:],
                timeout=timeout,
                what="the agent's stack dump",
            )
        except AssertionError as exc:
            return str(exc)
        text = self.log_bytes()[start:].decode(errors="replace")
        return summarize_stacks(text[text.index("STACK DUMP BEGIN") :])


def poll_agent(agent: AgentProcess, fetch: Callable[[], T], **kwargs) -> T:
    """``poll``, and when it times out, where ``agent``'s tasks were waiting."""
    try:
        return poll(fetch, **kwargs)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{agent.command}'s stacks:\n{agent.stacks()}") from None


def summarize_stacks(dump: str, limit: int = 8000) -> str:
    """The tasks and threads of a ``streams.stackdump`` dump that are in
    warcflow's code: their own frames and the innermost line, the same chain
    once with its count (forty idle actors are one line)."""
    ours = ("/streams/", "/archivers/", "/warcflow/", "/viewer/")
    chains: dict[tuple[str, ...], list[str]] = {}
    header = ""
    frames: list[str] = []
    innermost: list[str] = []

    def flush() -> None:
        if header and frames:
            chain = (*frames, *(line for line in innermost if line not in frames))
            chains.setdefault(chain, []).append(header)

    for line in [*dump.splitlines(), "task (end)"]:
        if line.startswith(("task ", "thread ")):
            flush()
            header, frames, innermost = line, [], []
        elif line.startswith("  "):
            innermost = [*innermost[-1:], line]  # the deepest frame and what it waits on
            if any(part in line for part in ours) and "/site-packages/" not in line:
                frames.append(line)
    out = []
    for chain, headers in chains.items():
        more = f" (and {len(headers) - 1} more)" if len(headers) > 1 else ""
        out.append(headers[0] + more)
        out.extend(chain)
    return "\n".join(out)[-limit:] or "(no task or thread in warcflow's code)"


class WorkerProcess(AgentProcess):
    command, ready, role = "worker", "worker ready", "worker"


class ViewerProcess(AgentProcess):
    command, ready, role = "viewer", "viewer ready", "viewer"
