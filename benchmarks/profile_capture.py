"""``python -m benchmarks.profile_capture [--pages N] [--out FILE]``: a capture's CPU, by part.

Captures N pages of a 0 ms loopback site (each with a stylesheet and an image,
distinct bytes per page, as ``benchmarks.pages``) with the worker's own
``PageArchiver`` (``warcflow.wiring.archiver``: the fetcher, the S3 client,
the payload index) into the project's versitygw (started as the suite starts
it), eight at a time, under cProfile, and prints the CPU seconds per page of
this process and how they divide among the parts: boto3/botocore (signing,
checksums, HTTP), the fetcher, WARC writing, gzip and hashing, the payload
index, asyncio and threads, the rest. Kafka is not in it (the agent's share is
the produce of one event a page). ``--out`` writes the pstats file for
``snakeviz``/``gprof2dot``.

Not part of ``make bench``: a probe for issue 21's "CPU per page" (the
closing note's profile).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import shutil
import tempfile
from pathlib import Path

GROUPS = (
    ("boto3/botocore/urllib3 (S3 client)", ("botocore", "boto3", "urllib3", "s3transfer")),
    ("fetcher and HTTP parsing (h11)", ("archivers/net/", "h11")),
    ("WARC writing, gzip, digests", ("archivers/warc/", "zlib", "hashlib", "gzip")),
    ("page parsing (lxml, css)", ("archivers/extract/", "lxml", "tinycss2")),
    ("capture protocol, manifests", ("archivers/capture/", "archivers/manifests/")),
    ("asyncio and threads", ("asyncio", "threading", "concurrent")),
)


def _group(filename: str) -> str:
    for name, needles in GROUPS:
        if any(needle in filename for needle in needles):
            return name
    return "the rest"


def profile(pages: int, out: Path | None) -> dict:
    from archivers.capture.archiver import CaptureRequest
    from archivers.clock import utc_now
    from archivers.store import layout
    from infra.processes import free_port
    from tests.support.site import Route, TestSite
    from tests.support.stack import TestStack, settings_of
    from warcflow import wiring

    work = Path(tempfile.mkdtemp(prefix="warcflow-profile-"))
    stack = TestStack(work / "home", free_port(), free_port())
    try:
        with TestSite() as site:
            urls = []
            for i in range(pages):
                site.routes[f"/p{i}/site.css"] = Route(
                    b"body{color:#222}/*" + os.urandom(600).hex().encode() + b"*/",
                    content_type="text/css",
                )
                site.routes[f"/p{i}/photo.png"] = Route(os.urandom(4000), content_type="image/png")
                site.routes[f"/p{i}/post"] = Route(
                    f'<html><head><link rel="stylesheet" href="/p{i}/site.css"></head>'
                    f'<body><p>post {i}</p><img src="/p{i}/photo.png"></body></html>'.encode()
                )
                urls.append(site.url(f"/p{i}/post"))
            s3 = stack.start_s3()
            try:
                env = stack.env(WARCFLOW_S3_BUCKET="profile", WARCFLOW_FETCH_ALLOW=site.allow)
                settings = settings_of(env, "admin", local_stack=True)
                store = wiring.store(settings)
                store.ensure_bucket()
                archiver = wiring.archiver(settings, store)
                now = utc_now()
                millis = int(now.timestamp() * 1000)
                requests = [
                    CaptureRequest(layout.capture_id("profile", 0, i, millis + i), url, now)
                    for i, url in enumerate(urls)
                ]

                async def run() -> None:
                    gate = asyncio.Semaphore(8)

                    async def one(request):
                        async with gate:
                            result = await archiver.capture(request)
                            assert result.manifest.status == "stored", result.manifest

                    await asyncio.gather(*(one(r) for r in requests))

                asyncio.run(run())  # warm: connections, imports, first-call caches
                requests = [
                    CaptureRequest(layout.capture_id("profile", 1, i, millis + i), url, now)
                    for i, url in enumerate(urls)
                ]
                before = resource.getrusage(resource.RUSAGE_SELF)
                profiler = cProfile.Profile()
                profiler.enable()
                asyncio.run(run())
                profiler.disable()
                after = resource.getrusage(resource.RUSAGE_SELF)
            finally:
                s3.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = pstats.Stats(profiler)
    if out:
        stats.dump_stats(str(out))
    own: dict[str, float] = {}
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        own[_group(filename)] = own.get(_group(filename), 0.0) + tottime
        total += tottime
    return {
        "pages": pages,
        "cpu_ms_per_page": 1000 * cpu / pages,
        "profiled_ms_per_page": 1000 * total / pages,
        "groups": {k: v / total for k, v in sorted(own.items(), key=lambda kv: -kv[1])},
        "top": _top(stats),
    }


def _top(stats: pstats.Stats, n: int = 12) -> list[tuple[str, float]]:
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]  # type: ignore[attr-defined]
    return [(f"{Path(f).name}:{line}({name})", tot) for (f, line, name), (_, _, tot, _, _) in rows]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_capture")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--out", type=Path, help="write the pstats file here")
    args = parser.parse_args()
    result = profile(args.pages, args.out)
    print(
        f"{result['pages']} pages: {result['cpu_ms_per_page']:.1f} ms CPU a page in this process "
        f"(profiled {result['profiled_ms_per_page']:.1f} ms: cProfile's own cost included)"
    )
    for name, share in result["groups"].items():
        print(f"  {share:6.1%}  {name}")
    print("functions with the most own time:")
    for where, seconds in result["top"]:
        print(f"  {1000 * seconds / result['pages']:6.2f} ms/page  {where}")


if __name__ == "__main__":
    main()
