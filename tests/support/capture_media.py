"""Capture one media URL in a fresh process and report its peak memory.

    python -m tests.support.capture_media URL [KIND] [--repeat N]

Settings come from WARCFLOW_* variables. Prints one JSON object per capture:
the media manifest's summary, ``seconds`` (the capture alone, process start
excluded) and ``peak_rss_kib`` (the process's VmHWM: its own high-water mark,
not ffmpeg's). With ``--repeat N`` the process captures N times, each into a
fresh bucket (``<bucket>-<n>``) so no run profits from an earlier one's dedup:
the first run pays the imports and warm-up, the rest show a running agent.
Used by the bounded-memory test and the media benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from archivers.clock import utc_now
from archivers.media.archiver import MediaRequest
from archivers.store import layout
from warcflow import credentials, wiring
from warcflow.settings import load_settings


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def capture_once(url: str, kind: str, environ: dict[str, str]) -> dict:
    """As the worker, into a bucket the admin has just provisioned (the stack's
    credentials file: WARCFLOW_CREDENTIALS or HOME/credentials.json)."""
    base = load_settings(environ)
    wiring.provision_bucket(
        credentials.for_role(base, "admin", local_stack=True),
        credentials.load(credentials.path_of(base)),
    )
    settings = credentials.for_role(base, "worker")
    store = wiring.store(settings)
    archiver = wiring.media_archiver(settings, store)
    now = utc_now()
    parent = layout.capture_id("bench", 0, time.monotonic_ns() % 10**9, int(now.timestamp() * 1000))
    request = MediaRequest(layout.media_id(parent, url), parent, url, url, kind, "benchmark", now)
    start = time.perf_counter()
    result = asyncio.run(archiver.capture(request))
    seconds = time.perf_counter() - start
    return {
        **result.manifest.summary(),
        "seconds": round(seconds, 4),
        "timings": result.manifest.timings,
        "peak_rss_kib": peak_rss_kib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.capture_media")
    parser.add_argument("url")
    parser.add_argument("kind", nargs="?", default="direct")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    environ = dict(os.environ)
    bucket = environ.get("WARCFLOW_S3_BUCKET", "warcflow")
    for n in range(args.repeat):
        if args.repeat > 1:
            environ["WARCFLOW_S3_BUCKET"] = f"{bucket}-{n}"
        print(json.dumps(capture_once(args.url, args.kind, environ)), flush=True)


if __name__ == "__main__":
    main()
