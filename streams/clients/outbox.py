"""A durable outbox: messages kept on disk until the broker has acknowledged them.

For a producer that must not lose a message while the broker is away, and
must not make its caller wait for the broker either (the viewer recording a
download as a custody event while the download itself goes on).

``put`` writes one file per message — to a temporary name, flushed to disk,
then renamed, so a file in the directory is always whole — and returns; a
sender (``run``, in a thread of its own) produces the files in the order they
were written and deletes each only once the broker has acknowledged it. A
broker that is down is waited out with backoff; files written before a
restart (or a crash) are sent by the next process that opens the directory.

Invariant: a message is on disk, on the topic, or both — never neither. Both
(a crash between the ack and the delete) means it is sent twice, so what goes
through an outbox must be harmless to receive twice (custody events are: the
ledger appends an ``event_id`` once).
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("warcflow.outbox")

BACKOFF_MAX = 30.0
SUFFIX = ".msg"


class Outbox:
    """``put`` messages for the broker; ``run`` sends them (see the module docstring)."""

    def __init__(self, directory: Path, send: Callable[[str, bytes | None, bytes], object]) -> None:
        self.directory = directory
        self.send = send
        self.directory.mkdir(parents=True, exist_ok=True)
        self._wake = threading.Event()
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def put(self, topic: str, key: bytes | None, value: bytes) -> Path:
        """Keep one message on disk for the sender; returns once it is durable."""
        doc = {
            "topic": topic,
            "key_b64": None if key is None else base64.b64encode(key).decode("ascii"),
            "value_b64": base64.b64encode(value).decode("ascii"),
        }
        with self._lock:
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}{SUFFIX}"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(json.dumps(doc).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _sync_directory(self.directory)
        self._wake.set()
        return final

    def pending(self) -> list[Path]:
        """The messages not yet acknowledged, oldest first."""
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    def run(self, stopped: Callable[[], bool]) -> None:
        """Send every kept message, oldest first, until ``stopped()``."""
        delay = 0.5
        while not stopped():
            files = self.pending()
            if not files:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            for path in files:
                if stopped():
                    return
                try:
                    doc = json.loads(path.read_bytes())
                    key = None if doc["key_b64"] is None else base64.b64decode(doc["key_b64"])
                    topic, value = str(doc["topic"]), base64.b64decode(doc["value_b64"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    # not ours, or damaged on disk: set aside, never sent, never lost
                    log.error("outbox: %s is unreadable (%s); moved aside", path.name, exc)
                    path.rename(path.with_suffix(".unreadable"))
                    continue
                try:
                    self.send(topic, key, value)
                except Exception as exc:  # noqa: BLE001 - the broker away: keep it, wait, retry
                    log.warning(
                        "outbox: %d message(s) wait for the broker (%s); again in %.0f s",
                        len(self.pending()),
                        exc,
                        delay,
                    )
                    self._wake.wait(delay)
                    self._wake.clear()
                    delay = min(delay * 2, BACKOFF_MAX)
                    break
                path.unlink()
                delay = 0.5

    def wake(self) -> None:
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sender to have sent everything
        kept (while it runs); True if nothing is left. What is left stays on disk
        for the next process that opens the directory."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # the sender deletes each file once the broker acked it
        return True


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
