"""Running, timing and reporting benchmarks: paired runs, medians, ratios, JSON.

Each comparison runs warcflow (A) and the peer tool (B) in turn, A B A B …,
on the same input in the same invocation, and reports the median of each and
the median of the per-pair ratios A/B, so a machine that drifts in speed
during the run does not bias the ratio. Peak memory is each process's own
maximum resident set (``wait4``), children such as ffmpeg not included.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    output: str = ""


def run_measured(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 1800,
) -> Run:
    """Run ``argv`` to completion: wall seconds, its own peak RSS (``wait4``), stdout.

    Raises RuntimeError with the end of stderr if it fails or times out.
    """
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=errors)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = proc.stdout.read() if proc.stdout else b""
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv[:3])} … exited with {proc.returncode}: {tail}")
    return Run(seconds, usage.ru_maxrss / 1024, out.decode("utf-8", "replace"))


@dataclass
class Comparison:
    name: str
    a_label: str
    b_label: str
    a: list[Run] = field(default_factory=list)
    b: list[Run] = field(default_factory=list)
    unit: str = "s"
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [x.seconds / y.seconds for x, y in zip(self.a, self.b, strict=False)]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "a": self.a_label,
            "b": self.b_label,
            "a_seconds_median": statistics.median(r.seconds for r in self.a),
            "b_seconds_median": statistics.median(r.seconds for r in self.b),
            "a_peak_rss_mib_max": max(r.peak_rss_mib for r in self.a),
            "b_peak_rss_mib_max": max(r.peak_rss_mib for r in self.b),
            "ratio_a_over_b_median": statistics.median(self.ratios()),
            "ratios": [round(r, 3) for r in self.ratios()],
            "runs": len(self.a),
            "notes": self.notes,
        }


def paired(
    comparison: Comparison,
    a: Callable[[int], Run],
    b: Callable[[int], Run],
    runs: int,
    log: Callable[[str], None] = print,
) -> Comparison:
    for i in range(runs):
        comparison.a.append(a(i))
        comparison.b.append(b(i))
        log(
            f"  run {i + 1}/{runs}: {comparison.a_label} {comparison.a[-1].seconds:.2f} s, "
            f"{comparison.b_label} {comparison.b[-1].seconds:.2f} s"
        )
    return comparison


def machine() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3),
    }


def save(results: dict, name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")
    return path
