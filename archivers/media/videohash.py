"""vPDQ, Meta's video hash: the PDQ hash of one frame every ``seconds_per_hash``.

vPDQ (the ``vpdq`` package, Meta's C++ built against FFmpeg's libraries)
decodes the video itself: ``avformat_open_input`` with no protocol
whitelist, in-process. So it is fenced twice:

- it only ever opens a file warcflow wrote: ``ffmpeg.video_copy`` (ffmpeg
  with ``-protocol_whitelist file,pipe``) first copies the downloaded video
  stream, unchanged, into a fresh Matroska file, so no playlist, reference to
  another file or URL reaches vPDQ's demuxer;
- it runs in a child process (``python -m archivers.media.videohash FILE S``)
  under a CPU-time and an address-space limit (``RLIMIT_CPU``, ``RLIMIT_AS``)
  and a wall-clock deadline, with a minimal environment, so a decoder that
  crashes or spins on hostile bytes costs that child, never the worker.

The child prints one JSON object: ``{"features": [[frame, seconds, quality,
hex], …]}``, the features vPDQ computed (frame numbers 0, n, 2n … where n is
``int(seconds_per_hash × frame rate)``), or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from archivers.errors import Permanent

MEMORY_BYTES = 2 * 1024**3
"""Address space of the hashing process."""


@dataclass(frozen=True)
class Feature:
    """One hashed frame: its number, time (s), PDQ quality and hash (64 hex digits)."""

    frame: int
    t: float
    quality: int
    hash: str

    def row(self) -> list:
        return [self.frame, round(self.t, 3), self.quality, self.hash]


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("vpdq")
    except PackageNotFoundError:
        return "?"


def features(path: Path, seconds_per_hash: float, *, cpu_seconds: float, timeout: float):
    """vPDQ features of ``path`` (a Matroska file warcflow wrote), computed in a
    child process; ``Permanent`` (``vpdq_failed``) with the reason otherwise."""
    root = str(Path(__file__).resolve().parents[2])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": root,
        "LANG": "C.UTF-8",
        "WARCFLOW_VPDQ_CPU": str(int(cpu_seconds)),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archivers.media.videohash", str(path), f"{seconds_per_hash}"],
            capture_output=True,
            env=env,
            cwd=root,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise Permanent(f"vPDQ took longer than {timeout:g} s", reason="vpdq_failed") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = {}
    if done.returncode != 0 or "features" not in answer:
        why = answer.get("error") or (
            f"the hashing process ended with {done.returncode}"
            + (" (out of CPU time)" if done.returncode == -9 else "")
        )
        raise Permanent(f"vPDQ: {why}", reason="vpdq_failed")
    return [Feature(int(f), float(t), int(q), str(h)) for f, t, q, h in answer["features"]]


def _child(path: str, seconds_per_hash: float) -> int:
    cpu = int(os.environ.get("WARCFLOW_VPDQ_CPU", "600"))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    try:
        import vpdq

        found = vpdq.computeHash(path, seconds_per_hash=seconds_per_hash, thread_count=1)
    except Exception as exc:  # noqa: BLE001 - said to the parent, which decides
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    rows = sorted([f.frame_number, round(f.timestamp, 3), f.quality, f.hex] for f in found)
    print(json.dumps({"features": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], float(sys.argv[2])))
