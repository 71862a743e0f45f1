"""The viewer's catalog at scale: synthetic capture events fed into ``viewer.catalog``.

Each side runs in its own process (``benchmarks.catalog_run``), on the same
synthetic events (``benchmarks.catalog_events``), into a new SQLite file:
warcflow's ``Catalog.apply`` path and the floor, a plain sqlite3 loop writing
the same rows into minimal tables with the same indexes. Figures: catch-up
rate, lookup p50/p95 (exact URL and URL prefix, as the Memento routes, the
replay index and the search box ask), the file's size and the peak RSS, each
against the issue 21 target and against the floor. One run per side: a full
run of 10 M events is long.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import harness

EVENTS = 10_000_000
TARGET_EVENTS_PER_S = 5000
TARGET_P50_MS = 5.0
TARGET_P95_MS = 20.0
S3_EVENTS = 5000
"""Events of the S3 sides (their objects are put into the bucket first)."""


def run_side(
    side: str, events: int, db: Path, log: Callable[[str], None], extra: list[str] | None = None
) -> dict:
    """One side's JSON result, with its peak RSS (``wait4``) and wall seconds."""
    start = time.perf_counter()
    argv = [sys.executable, "-m", "benchmarks.catalog_run", side, "--events", str(events)]
    argv += extra or []
    proc = subprocess.Popen([*argv, "--db", str(db)], cwd=harness.ROOT, stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        raise RuntimeError(f"catalog_run {side} exited with {proc.returncode}")
    result = json.loads(out)
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    log(f"  {side}: {result['events_per_s']:,.0f} events/s, {result['wall_seconds']} s wall")
    return result


def s3_sides(work: Path, events: int, log: Callable[[str], None]) -> dict:
    """Catch-up reading from versitygw: one event at a time (the feed before) and
    in batches (the feed now), on the same objects (put once, untimed)."""
    from infra.processes import free_port
    from tests.support.stack import TestStack

    stack = TestStack(work / "home", free_port(), free_port())
    log("catalog: starting versitygw for the S3 sides")
    s3 = stack.start_s3()
    try:
        env_file = work / "s3-env.json"
        env_file.write_text(json.dumps(stack.env(WARCFLOW_S3_BUCKET="catalog-bench")))
        found = {}
        for n, side in enumerate(("s3-one-by-one", "s3-batched")):
            extra = ["--s3-env", str(env_file), *(["--upload"] if n == 0 else [])]
            found[side] = run_side(side, events, work / side / "catalog.sqlite", log, extra)
        return found
    finally:
        s3.stop()


def bench(runs: int, log: Callable[[str], None] = print, events: int = EVENTS) -> dict:
    """``runs`` is ignored: one run per side (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="warcflow-catalog-bench-") as tmp:
        sides = {
            side: run_side(side, events, Path(tmp) / side / "catalog.sqlite", log)
            for side in ("warcflow", "floor")
        }
        s3 = s3_sides(Path(tmp), min(events, S3_EVENTS), log)
    ours, floor = sides["warcflow"], sides["floor"]
    lookups = {
        name: {
            "warcflow": row,
            "floor": floor["lookups"][name],
            "ratio_p50": round(row["p50_ms"] / max(floor["lookups"][name]["p50_ms"], 1e-6), 4),
            "met": row["p50_ms"] <= TARGET_P50_MS and row["p95_ms"] <= TARGET_P95_MS,
        }
        for name, row in ours["lookups"].items()
    }
    return {
        "events": events,
        "full_size": events == EVENTS,
        "load_average": os.getloadavg(),
        "targets": {
            "events_per_s": TARGET_EVENTS_PER_S,
            "p50_ms": TARGET_P50_MS,
            "p95_ms": TARGET_P95_MS,
        },
        "warcflow": ours,
        "floor": floor,
        "catch_up": {
            "warcflow_events_per_s": ours["events_per_s"],
            "floor_events_per_s": floor["events_per_s"],
            "ratio_over_floor": round(ours["events_per_s"] / floor["events_per_s"], 3),
            "met": ours["events_per_s"] >= TARGET_EVENTS_PER_S,
        },
        "lookups": lookups,
        "from_s3": {
            **s3,
            "ratio_batched_over_one_by_one": round(
                s3["s3-batched"]["events_per_s"] / s3["s3-one-by-one"]["events_per_s"], 2
            ),
        },
    }


def lines(result: dict) -> list[str]:
    """What ``python -m benchmarks catalog`` prints: each figure, its target and the floor."""
    c, ours, floor = result["catch_up"], result["warcflow"], result["floor"]
    out = [
        f"{result['events']:,} events ({ours['distinct_urls']:,} URLs on {ours['hosts']:,} hosts)"
        + ("" if result["full_size"] else f", not the full {EVENTS:,}"),
        f"catch-up: warcflow {c['warcflow_events_per_s']:,.0f} events/s | floor "
        f"{c['floor_events_per_s']:,.0f} | ratio {c['ratio_over_floor']:.3f}x | target ≥ "
        f"{TARGET_EVENTS_PER_S:,}: {'met' if c['met'] else 'MISSED'}",
    ]
    s3 = result.get("from_s3")
    if s3:
        one, many = s3["s3-one-by-one"], s3["s3-batched"]
        out.append(
            f"catch-up from versitygw ({many['events']:,} events): one by one "
            f"{one['events_per_s']:,.0f} events/s | batched {many['events_per_s']:,.0f} | "
            f"ratio {s3['ratio_batched_over_one_by_one']:.2f}x"
        )
    for name, row in result["lookups"].items():
        w, f = row["warcflow"], row["floor"]
        out.append(
            f"{name:20} p50 {w['p50_ms']:8.3f} ms p95 {w['p95_ms']:8.3f} ms | floor p50 "
            f"{f['p50_ms']:8.3f} ms p95 {f['p95_ms']:8.3f} ms | ratio p50 {row['ratio_p50']:.3g}x"
            f" | target p50 ≤ {TARGET_P50_MS:g}, p95 ≤ {TARGET_P95_MS:g}: "
            + ("met" if row["met"] else "MISSED")
        )
    out.append(
        f"disk: warcflow {ours['db_bytes'] / 2**20:,.0f} MiB "
        f"({ours['db_bytes'] / result['events']:,.0f} B/event) | floor "
        f"{floor['db_bytes'] / 2**20:,.0f} MiB; peak RSS warcflow {ours['peak_rss_mib']:.0f} MiB"
        f" | floor {floor['peak_rss_mib']:.0f} MiB"
    )
    return out
