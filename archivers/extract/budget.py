"""Hostile documents are parsed in worker processes, each parse under a budget.

A page, a stylesheet or a watched source is written by whoever controls the
URL. Its parse must never hold the worker's event loop (the Kafka group
heartbeat, every other capture, the S3 callbacks run there), and must end
whatever the document contains. So every parse of such a document goes
through ``ParsePool.run``:

- it runs in a child process (``python -m archivers.extract.budget``), one
  parse at a time per child, ``workers`` children at most; the caller awaits
  it, so the loop goes on;
- the child gets ``CPU_SECONDS`` of CPU time for one parse (``ITIMER_PROF``:
  the kernel ends the child when it is spent, even inside C code) and at most
  ``MEMORY_BYTES`` of address space (``RLIMIT_AS``); a wall-clock deadline in
  the parent (``WALL_SECONDS``) ends a child that is starved or stuck;
- a parse that runs out of budget returns ``Parsed(None, over_budget=...)``,
  a sentence for ``limits_hit``; the child is replaced. Never a stall.

Protocol: the parent writes a length-prefixed pickle ``(task, args)`` to the
child's stdin (trusted direction); the child answers with a length-prefixed
pickle of ``("ok", value)`` or ``("error", exception)``, which the parent reads
with an unpickler that builds only plain data and the classes in ``RESULTS``
(the child has read hostile bytes: its answer is not trusted to name code).
``task`` is ``"module:function"`` of a module under ``TASK_MODULES``.
The child runs with a minimal environment (no warcflow secret).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import io
import os
import pickle
import queue
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CPU_SECONDS = 5.0
"""CPU time one parse may use (a linear parser needs well under a second for
the largest document it is given)."""
WALL_SECONDS = 60.0
"""Wall-clock time one parse may take, however busy the machine."""
MEMORY_BYTES = 1536 * 1024 * 1024
"""Address space of a parser process."""
WORKERS = 2
"""Parser processes per worker process (the machine's cores, not captures)."""

TASK_MODULES = ("archivers.extract.", "streams.watchers.")
"""Only functions of these packages run in a parser process."""

RESULTS = {
    ("streams.watchers.items", "Item"),
    ("streams.watchers.items", "MalformedSource"),
    ("streams.watchers.sitemaps", "Sitemap"),
    ("streams.watchers.sheet", "SheetRows"),
    ("archivers.extract.media", "Found"),
    ("builtins", "ValueError"),
    ("builtins", "MemoryError"),
    ("builtins", "RecursionError"),
}
"""The classes (besides plain data) a parser's answer may contain."""

_HEADER = struct.Struct(">Q")


@dataclass(frozen=True)
class Parsed:
    """What a parse gave: ``value``, or None and why (``over_budget``)."""

    value: Any
    over_budget: str | None = None


class _Answer(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in RESULTS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a parser answered with {module}.{name}")


def _read_exactly(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = stream.read(size - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def _write(stream, payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


class _Child:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": root,
            "LANG": "C.UTF-8",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "archivers.extract.budget"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=root,
        )

    def call(self, task: str, args: tuple, cpu: float, wall: float) -> tuple[str, Any]:
        """(``"ok"``/``"error"``, value) or (``"over"``, why)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            _write(self.process.stdin, pickle.dumps((task, args, cpu), protocol=5))
        except (BrokenPipeError, OSError):
            return "over", "the parser process had ended"
        ready, _, _ = select.select([self.process.stdout], [], [], wall)
        if not ready:
            self.kill()
            return "over", f"it took more than {wall:g} s"
        try:
            size = _HEADER.unpack(_read_exactly(self.process.stdout, _HEADER.size))[0]
            payload = _read_exactly(self.process.stdout, size)
        except (EOFError, OSError):
            self.kill()
            return "over", f"it used more than {cpu:g} s of CPU time"
        status, value = _Answer(io.BytesIO(payload)).load()
        return status, value

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class ParsePool:
    """``workers`` parser processes, started on first use, replaced when spent."""

    def __init__(
        self,
        workers: int = WORKERS,
        *,
        cpu_seconds: float = CPU_SECONDS,
        wall_seconds: float = WALL_SECONDS,
    ) -> None:
        self.workers = workers
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self.in_flight = 0
        """Parses running now (tests watch the loop go on meanwhile)."""
        self._idle: queue.SimpleQueue[_Child] = queue.SimpleQueue()
        self._all: list[_Child] = []
        self._lock = threading.Lock()
        self._gate: asyncio.Semaphore | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None

    async def run(self, task: str, *args: Any, what: str = "the document") -> Parsed:
        """Run ``task(*args)`` in a parser process; its exceptions are raised here."""
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:
            self._gate, self._gate_loop = asyncio.Semaphore(self.workers), loop
        async with self._gate:
            self.in_flight += 1
            try:
                return await asyncio.to_thread(self.run_blocking, task, *args, what=what)
            finally:
                self.in_flight -= 1

    def run_blocking(self, task: str, *args: Any, what: str = "the document") -> Parsed:
        """The same, for a caller already off the loop (a thread)."""
        if not task.startswith(TASK_MODULES):
            raise ValueError(f"{task} is not a parser task")
        child = self._take()
        try:
            status, value = child.call(task, args, self.cpu_seconds, self.wall_seconds)
        except BaseException:
            self._drop(child)  # an answer we could not read: that child is done
            raise
        if status == "over":
            self._drop(child)
            return Parsed(None, over_budget=f"parse_budget: {what} was not parsed: {value}")
        self._idle.put(child)
        if status == "error" and isinstance(value, MemoryError):
            return Parsed(None, over_budget=f"parse_budget: {what} was not parsed: {value}")
        if status == "error":
            raise value
        return Parsed(value)

    def _take(self) -> _Child:
        while True:
            try:
                child = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    if len(self._all) < self.workers:
                        child = _Child()
                        self._all.append(child)
                        return child
                child = self._idle.get()
            if child.alive:
                return child
            self._drop(child)

    def _drop(self, child: _Child) -> None:
        child.kill()
        with self._lock:
            if child in self._all:
                self._all.remove(child)

    def close(self) -> None:
        with self._lock:
            children, self._all = self._all, []
        for child in children:
            child.kill()


_pool: ParsePool | None = None
_pool_lock = threading.Lock()


def pool() -> ParsePool:
    """The process's parser pool (closed at exit)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ParsePool()
            atexit.register(_pool.close)
        return _pool


# -- the child ------------------------------------------------------------------


def _serve() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # CPU budget spent: the kernel ends us
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing a task prints may corrupt the answers
    while True:
        try:
            size = _HEADER.unpack(_read_exactly(stdin, _HEADER.size))[0]
        except EOFError:
            return
        task, args, cpu = pickle.loads(_read_exactly(stdin, size))  # noqa: S301 - our parent's
        module, _, name = task.partition(":")
        signal.setitimer(signal.ITIMER_PROF, cpu)
        try:
            answer: tuple[str, Any] = ("ok", getattr(importlib.import_module(module), name)(*args))
        except MemoryError:
            answer = ("error", MemoryError(f"it ran out of memory ({MEMORY_BYTES} bytes)"))
        except Exception as exc:  # noqa: BLE001 - handed back to the caller to raise
            kind = (type(exc).__module__, type(exc).__name__)
            answer = ("error", exc if kind in RESULTS else ValueError(f"{kind[1]}: {exc}"))
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            payload = pickle.dumps(answer, protocol=5)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            payload = pickle.dumps(("error", ValueError(f"{task}: {exc}")), protocol=5)
        _write(stdout, payload)


if __name__ == "__main__":
    _serve()
