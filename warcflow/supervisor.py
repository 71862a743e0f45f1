"""``warcflow worker --processes N``: N capture processes under one supervisor.

Each child is ``warcflow worker`` itself run as child ``i`` (``--child i``): a
member of the consumer group like any other worker, in a process group of its
own, so that a Ctrl-C in the terminal (or ``kill`` of the supervisor's group)
reaches the supervisor only and each child is told to stop exactly once — a
second signal makes a worker exit at once (``streams.app.stop_on_signals``).
The supervisor (docs/decisions/0023-worker-processes.md):

- passes every line a child prints to its own stderr, prefixed ``[worker i]``,
  and counts the child ready when it prints ``child_ready_line(i)``; it says
  ``worker ready`` once every child has been ready since it (re)started;
- restarts a child that exits by itself, after ``backoff`` (1 s, doubling for
  each further exit to 30 s; a child that ran ``STABLE_SECONDS`` starts the
  count again), and logs the exit status;
- gives up when one child has exited ``max_quick`` times in a row without
  ever becoming ready (bad settings, an unreachable broker): it stops the
  others and exits with that child's exit code (3 when it died by a signal);
- on SIGTERM or SIGINT sends SIGTERM to every child, once, and waits for them
  all; a second signal is sent on, so the children exit at once. It exits 0
  when every child drained (exit 0, or death by the SIGTERM it was sent
  before it could install its own handler), 1 otherwise. A child still there
  ``stop_seconds`` after the signal is killed.

A child that outlives its supervisor (SIGKILLed) notices within a second and
drains as if told to stop (``watch_parent``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from warcflow import exitcodes

log = logging.getLogger("warcflow.supervisor")

STABLE_SECONDS = 60.0
"""A child that ran this long before exiting restarts after the first backoff again."""
MAX_BACKOFF = 30.0
"""Longest wait, in seconds, before a crashed child is started again."""


def child_ready_line(index: int) -> str:
    """What child ``index`` logs when its partitions are assigned; never contains
    ``worker ready``, which only the supervisor says (tests and ``warcflow up``
    wait for it)."""
    return f"process {index} ready"


def backoff(crashes: int) -> float:
    """Seconds before the restart after the ``crashes``-th exit in a row (1, 2, 4 … 30)."""
    return min(MAX_BACKOFF, 2.0 ** max(0, crashes - 1))


def describe(code: int) -> str:
    """A child's exit status in words: ``exit code 3``, ``signal SIGKILL``."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class Child(Protocol):
    """A running child process (``subprocess.Popen`` is one)."""

    pid: int

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...


Spawn = Callable[[int, Callable[[], None]], Child]
"""Start child ``index``; it calls the given function (from any thread) once ready."""


@dataclass
class _Slot:
    index: int
    child: Child | None = None
    started: float = 0.0
    ready: bool = False
    crashes: int = 0
    """Exits in a row (a run of ``STABLE_SECONDS`` or more resets it)."""
    unready_exits: int = 0
    """Exits in a row before ever becoming ready."""
    restart_at: float | None = None
    exit_code: int | None = None
    incarnation: int = 0


STOP_MARGIN = 15.0
"""Seconds past its drain time a child may take to exit after SIGTERM: two offset
commits (``streams.app.COMMIT_TIMEOUT``, 2.5 s each) and 10 s to spare."""


def stop_seconds(drain_seconds: float) -> float:
    """How long the supervisor waits for its children after SIGTERM before it
    kills them (``Supervisor.stop_seconds``); ``warcflow down`` waits longer."""
    return drain_seconds + STOP_MARGIN


@dataclass
class Supervisor:
    """Run ``count`` children from ``spawn`` until told to stop (see the module
    docstring); ``run`` returns the exit code. ``stop`` may be called from a
    signal handler: it only counts."""

    count: int
    spawn: Spawn
    stop_seconds: float
    max_quick: int = 3
    clock: Callable[[], float] = time.monotonic
    tick: float = 0.1
    sleep: Callable[[float], None] = time.sleep
    announce: Callable[[str], None] = field(default=log.info)
    _signals: int = 0
    _slots: list[_Slot] = field(default_factory=list)

    def stop(self) -> None:
        self._signals += 1

    def run(self) -> int:
        self._slots = [_Slot(i) for i in range(self.count)]
        for slot in self._slots:
            self._start(slot)
        announced = False
        forwarded = 0
        stop_deadline: float | None = None
        gave_up: int | None = None
        while True:
            now = self.clock()
            if self._signals > forwarded:
                forwarded = self._signals
                if stop_deadline is None:
                    stop_deadline = now + self.stop_seconds
                    self.announce(f"stopping: {self._running()} worker process(es) told to drain")
                self._signal_all(signal.SIGTERM)
            stopping = stop_deadline is not None
            for slot in self._slots:
                child = slot.child
                if child is None or (code := child.poll()) is None:
                    continue
                slot.child, slot.exit_code = None, code
                if stopping:
                    continue
                gave_up = self._exited(slot, child.pid, code, now)
                if gave_up is not None:
                    stop_deadline = now + self.stop_seconds
                    self._signal_all(signal.SIGTERM)
                    break
            if stop_deadline is not None:
                if not self._running():
                    return gave_up if gave_up is not None else self._drained_code()
                if self.clock() >= stop_deadline:
                    self.announce(
                        f"stopping: {self._running()} worker process(es) still running "
                        f"after {self.stop_seconds:g} s; killed"
                    )
                    self._signal_all(signal.SIGKILL)
                    self._wait_all()
                    return gave_up if gave_up is not None else exitcodes.FAILED
            else:
                for slot in self._slots:
                    if slot.restart_at is not None and now >= slot.restart_at:
                        self._start(slot)
                if not announced and all(s.ready and s.child for s in self._slots):
                    announced = True
                    self.announce(
                        f"worker ready: {self.count} processes, pids "
                        f"{', '.join(str(s.child.pid) for s in self._slots if s.child)}"
                    )
            self.sleep(self.tick)

    def _start(self, slot: _Slot) -> None:
        slot.incarnation += 1
        slot.ready, slot.restart_at, slot.exit_code = False, None, None
        slot.started = self.clock()
        incarnation = slot.incarnation

        def ready() -> None:
            if slot.incarnation == incarnation:  # not an earlier run's late line
                slot.ready = True

        child = slot.child = self.spawn(slot.index, ready)
        if incarnation > 1:
            self.announce(f"worker process {slot.index} started again: pid {child.pid}")

    def _exited(self, slot: _Slot, pid: int, code: int, now: float) -> int | None:
        """Schedule the restart of a child that exited by itself, or give up
        (returns the exit code then)."""
        ran = now - slot.started
        slot.unready_exits = 0 if slot.ready else slot.unready_exits + 1
        slot.crashes = 1 if ran >= STABLE_SECONDS else slot.crashes + 1
        if slot.unready_exits >= self.max_quick:
            self.announce(
                f"worker process {slot.index} (pid {pid}) exited with {describe(code)}, "
                f"{slot.unready_exits} times in a row before it was ready: giving up "
                "(its log lines above say why; fix that and start the worker again)"
            )
            return code if code > 0 else exitcodes.UNAVAILABLE
        delay = backoff(slot.crashes)
        self.announce(
            f"worker process {slot.index} (pid {pid}) exited with {describe(code)} after "
            f"{ran:.1f} s; "
            f"restarting it in {delay:g} s"
        )
        slot.restart_at = now + delay
        return None

    def _running(self) -> int:
        return sum(1 for s in self._slots if s.child is not None)

    def forward(self, sig: int) -> None:
        """Send ``sig`` to every running child (may be called from a signal handler)."""
        self._signal_all(sig)

    def _signal_all(self, sig: int) -> None:
        for slot in self._slots:
            if slot.child is not None:
                try:
                    slot.child.send_signal(sig)
                except ProcessLookupError:
                    pass  # exited meanwhile: the next poll sees it

    def _wait_all(self) -> None:
        while self._running():
            for slot in self._slots:
                if slot.child is not None and slot.child.poll() is not None:
                    slot.child = None
            self.sleep(self.tick)

    def _drained_code(self) -> int:
        """0 when every child drained (or died of the SIGTERM it was sent)."""
        fine = (None, 0, -signal.SIGTERM)
        return exitcodes.OK if all(s.exit_code in fine for s in self._slots) else exitcodes.FAILED


_OUTPUT = threading.Lock()


def _relay(stream: IO[bytes], prefix: str, marker: bytes, ready: Callable[[], None]) -> None:
    """Copy a child's output to stderr line by line, prefixed; call ``ready`` at
    the marker."""
    for raw in stream:
        if marker in raw:
            ready()
        line = raw.decode("utf-8", "replace")
        with _OUTPUT:
            sys.stderr.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
            sys.stderr.flush()
    stream.close()


class _Relayed:
    """A child process that counts as exited once its last lines are relayed
    too (or ``RELAY_GRACE`` seconds after its exit: a grandchild, e.g. Chromium,
    may hold the pipe open)."""

    RELAY_GRACE = 2.0

    def __init__(self, process: subprocess.Popen, relay: threading.Thread) -> None:
        self.process, self.relay, self.pid = process, relay, process.pid
        self._exited_at: float | None = None

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None:
            return None
        if self._exited_at is None:
            self._exited_at = time.monotonic()
        if self.relay.is_alive() and time.monotonic() < self._exited_at + self.RELAY_GRACE:
            return None
        return code

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)


def process_spawner(argv_of: Callable[[int], Sequence[str]]) -> Spawn:
    """Children as real processes: ``argv_of(index)``, each in a process group of
    its own, its output relayed by a thread."""

    def spawn(index: int, ready: Callable[[], None]) -> Child:
        child = subprocess.Popen(
            list(argv_of(index)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        assert child.stdout is not None
        relay = threading.Thread(
            target=_relay,
            args=(child.stdout, f"[worker {index}] ", child_ready_line(index).encode(), ready),
            name=f"relay-{index}",
            daemon=True,
        )
        relay.start()
        return _Relayed(child, relay)

    return spawn


def child_argv(argv: Sequence[str], index: int, metrics: str) -> list[str]:
    """The command line of child ``index``: the supervisor's own ``argv`` (what
    followed ``warcflow``), as one process, its metrics at ``metrics`` (empty:
    none). Later options win in argparse, so these override ``argv``'s."""
    out = [sys.executable, "-m", "warcflow", *argv, "--processes", "1", "--child", str(index)]
    return [*out, "--metrics", metrics] if metrics else out


def metrics_of(address: str, index: int) -> str:
    """Child ``index``'s metrics address: ``address``'s port + ``index`` (empty: none)."""
    if not address:
        return ""
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + index}"


def install_signals(supervisor: Supervisor) -> None:
    """SIGTERM and SIGINT drain every child; SIGUSR1 is passed on to each, whose
    stack dump (``streams.stackdump``) its log relays — the supervisor has no
    stacks worth reading, and SIGUSR1 would otherwise end it."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _sig, _frame: supervisor.stop())
    signal.signal(signal.SIGUSR1, lambda _sig, _frame: supervisor.forward(signal.SIGUSR1))


def watch_parent(on_orphaned: Callable[[], None], every: float = 1.0) -> None:
    """Call ``on_orphaned`` (once) from a daemon thread when this process's parent
    is gone (its parent pid changes)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        on_orphaned()

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
