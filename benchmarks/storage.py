"""Storage: 100 pages of one site sharing two 200 KB requisites, stored vs unique bytes.

Issue 21's target: stored bytes ≤ 1.15× the unique bytes (before revisits,
about 100×). A loopback site (``tests.support.site``) serves 100 post pages,
each a few hundred bytes of its own HTML linking the same two requisites of
200,000 random bytes (gzip saves nothing on them, as on a photo): a script
and an image, and nothing else. In the same invocation, each
run into a fresh bucket of the project's versitygw (started as the suite
starts it, ``TestStack.start_s3``):

- **warcflow** (revisits on, the default): ``wiring.archiver``'s
  ``PageArchiver`` + ``S3Store`` + ``PayloadIndex``, in this process; the first
  page alone (it stores the originals), then the other 99, four at a time;
- **warcflow, all at once**: the same, the 100 started together, as a burst of
  submissions meets a worker: every capture that fetched the requisites before
  the first WARC holding them was stored writes them in full (``archivers.warc.payloads``:
  a revisit never names a record that is not stored); ``runs`` times, since
  its bytes depend on that race;
- **warcflow, WARCFLOW_REVISITS=false**: every payload in every WARC, the
  figure before revisits;
- **wget**: ``wget -p --warc-file`` run once per page, as an archivist saving
  posts one by one would; its ``.warc.gz`` files.

Then the same with **post-sized pages**: each page 60 KB of its own HTML
(text drawn at random from a word list, different on every page, as a social
platform's post page with its inline state is; gzip saves on it what it saves
on HTML), warcflow (revisits on) and wget. With pages of a few hundred bytes
every capture's own records (request records, the metadata record, the CDXJ
index and the manifest: about 9 KB) outweigh the page itself, so the target
cannot be met there by any tool that keeps one WARC per capture (wget's own
records are about 4 KB a page); the post-sized run shows the figure on pages
of the size the issue's capacity model assumes.

Stored bytes: the size of every object version in the bucket (warc/, index/,
manifests/, payloads/; listed by prefix). Unique bytes: the 100 page bodies
plus the two requisites once (payload bytes as served, before gzip). The
figure is bytes, not time.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGES = 100
REQUISITE_BYTES = 200_000
CONCURRENCY = 4
TARGET = 1.15
SCRIPT = "/assets/app.js"
IMAGE = "/assets/header.jpg"
POST_BYTES = 60_000
"""HTML of a post-sized page."""
WORDS = (
    "the a of and to in is was for on that with as by at from video footage soldiers "
    "protest city shared account posted reported according morning evening crowd square "
    "street police local officials said claimed verified deleted original reposted channel "
    "comments replies views likes minutes hours kazan mobilised mobilized regional"
).split()


def add_site(site, prefix: str = "/posts", pad: int = 0) -> tuple[list[str], int]:
    """The pages (under ``prefix``, each padded with ``pad`` bytes of its own text)
    and their two shared requisites on ``site``: (page URLs, unique bytes)."""
    from tests.support.site import Route

    if SCRIPT not in site.routes:
        site.routes[SCRIPT] = Route(
            os.urandom(REQUISITE_BYTES), content_type="application/javascript"
        )
        site.routes[IMAGE] = Route(os.urandom(REQUISITE_BYTES), content_type="image/jpeg")
    urls, unique = [], 2 * REQUISITE_BYTES
    for i in range(PAGES):
        words = random.Random(f"{prefix}{i}").choices(WORDS, k=pad // 6 + 1)
        text = " ".join(words)[:pad]
        body = (
            f'<!doctype html><html><head><meta charset="utf-8"><title>Post {i}</title>'
            f'<script src="{SCRIPT}"></script></head><body><article><h1>Post {i}</h1>'
            f"<p>Post number {i} of the account, shared at {i % 24:02d}:{i % 60:02d}.</p>"
            f'<p>{text}</p><img src="{IMAGE}" alt="header"></article></body></html>'
        ).encode()
        site.routes[f"{prefix}/{i}"] = Route(body)
        urls.append(site.url(f"{prefix}/{i}"))
        unique += len(body)
    return urls, unique


def stored_bytes(store) -> dict[str, Any]:
    """Every object version in ``store``'s bucket: total bytes, and objects and bytes
    by first key segment (``warc/``, ``index/`` …)."""
    by_prefix: dict[str, dict[str, int]] = {}
    pages = store.client.get_paginator("list_object_versions").paginate(Bucket=store.bucket)
    for page in pages:
        for item in page.get("Versions", []):
            prefix = item["Key"].split("/", 1)[0] + "/"
            row = by_prefix.setdefault(prefix, {"objects": 0, "bytes": 0})
            row["objects"] += 1
            row["bytes"] += int(item["Size"])
    return {
        "stored_bytes": sum(row["bytes"] for row in by_prefix.values()),
        "by_prefix": dict(sorted(by_prefix.items())),
    }


def one_page(store, manifest) -> dict[str, Any]:
    """Where one capture's bytes are: its WARC's gzip members by record type, its
    CDXJ index and its manifest (and what its ``revisits`` list adds to it)."""
    import dataclasses
    import io

    from warcio.archiveiterator import ArchiveIterator

    from archivers.store import layout

    records: dict[str, int] = {}
    stream = ArchiveIterator(io.BytesIO(store.get_bytes(manifest.warc_key)))
    for record in stream:
        record.content_stream().read()
        records[record.rec_type] = records.get(record.rec_type, 0) + stream.get_record_length()
    return {
        "url": manifest.url,
        "warc_records": records,
        "warc": sum(records.values()),
        "index": len(store.get_bytes(layout.index_key(manifest.capture_id))),
        "manifest": len(store.get_bytes(layout.manifest_key(manifest.url, manifest.capture_id))),
        # what the manifest's revisits list adds to it
        "manifest_revisits": len(manifest.to_json())
        - len(dataclasses.replace(manifest, revisits=[]).to_json()),
    }


async def _capture(archiver, urls: list[str], *, at_once: bool) -> list:
    """Capture ``urls``: all together, or the first alone and then ``CONCURRENCY`` at a time."""
    from archivers.capture.archiver import CaptureRequest
    from archivers.clock import utc_now
    from archivers.store import layout

    now = utc_now()
    millis = int(now.timestamp() * 1000)
    requests = [
        CaptureRequest(
            layout.capture_id("bench.storage", 0, i, millis + i),
            url,
            now,
            request={"request_id": f"storage-{i}", "source": "bench"},
            provenance={"topic": "bench.storage", "partition": 0, "offset": i},
        )
        for i, url in enumerate(urls)
    ]
    if at_once:
        results = await asyncio.gather(*(archiver.capture(r) for r in requests))
        return [result.manifest for result in results]
    first = await archiver.capture(requests[0])
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(request):
        async with gate:
            return (await archiver.capture(request)).manifest

    return [first.manifest, *await asyncio.gather(*(one(r) for r in requests[1:]))]


def _warcflow(stack, site, urls: list[str], bucket: str, *, revisits: bool, at_once: bool):
    from tests.support.stack import settings_of
    from warcflow import wiring

    env = stack.env(
        WARCFLOW_S3_BUCKET=bucket,
        WARCFLOW_FETCH_ALLOW=site.allow,
        WARCFLOW_REVISITS="true" if revisits else "false",
    )
    settings = settings_of(env, "admin", local_stack=True)
    store = wiring.store(settings)
    store.ensure_bucket()
    archiver = wiring.archiver(settings, store)
    assert (archiver.payloads is not None) == revisits
    manifests = asyncio.run(_capture(archiver, urls, at_once=at_once))
    failed = [m.url for m in manifests if m.status != "stored"]
    if failed:
        raise RuntimeError(f"{len(failed)} captures were not stored, e.g. {failed[:3]}")
    revisit_records = sum(len(m.revisits) for m in manifests)
    return {
        **stored_bytes(store),
        "one_page": one_page(store, manifests[-1]),
        "requisite_records_full": 2 * len(urls) - revisit_records,
        "requisite_records_revisit": revisit_records,
    }


def _wget(urls: list[str], work: Path) -> dict[str, Any]:
    """One ``wget -p --warc-file`` per page (robots and log record off, as in
    ``benchmarks.pages``); the bytes of its WARCs."""
    work.mkdir(parents=True)
    total = 0
    for i, url in enumerate(urls):
        subprocess.run(
            [
                "wget",
                "-p",
                "-e",
                "robots=off",
                "--no-verbose",
                "--no-warc-keep-log",
                f"--warc-file={work / f'p{i}'}",
                "-P",
                str(work / f"p{i}-files"),
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        total += (work / f"p{i}.warc.gz").stat().st_size
    return {"stored_bytes": total, "files": len(urls)}


def wget_version() -> str:
    out = subprocess.run(["wget", "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "wget"
    return first.split(" built on ")[0]


def bench(runs: int = 3, *, log: Callable[[str], None] = print) -> dict:
    """One run of each contender, except the all-at-once one: ``runs`` of it (its
    bytes depend on a race; the median run is the row, every run's figures beside it)."""
    from infra.processes import free_port
    from tests.support.site import TestSite
    from tests.support.stack import TestStack

    work = Path(tempfile.mkdtemp(prefix="warcflow-bench-storage-"))
    stack = TestStack(work / "home", free_port(), free_port())
    rows: dict[str, dict[str, Any]] = {}
    steady = f"first page alone, then {CONCURRENCY} at a time"
    try:
        with TestSite() as site:
            urls, unique = add_site(site)
            log("storage: starting versitygw")
            s3 = stack.start_s3()
            try:
                what = f"revisits on, {steady}"
                log(f"  warcflow: {what}")
                row = _warcflow(stack, site, urls, "storage-revisits", revisits=True, at_once=False)
                rows["warcflow"] = {"label": what, **row}

                what = f"revisits on, all {PAGES} started at once"
                races = []
                for run in range(max(1, runs)):
                    log(f"  warcflow: {what}, run {run + 1}/{max(1, runs)}")
                    bucket = f"storage-at-once-{run}"
                    races.append(_warcflow(stack, site, urls, bucket, revisits=True, at_once=True))
                races.sort(key=lambda race: race["stored_bytes"])
                rows["warcflow_at_once"] = {
                    "label": what,
                    **races[len(races) // 2],
                    "runs_stored_bytes": [race["stored_bytes"] for race in races],
                    "runs_requisite_records_full": [
                        race["requisite_records_full"] for race in races
                    ],
                }

                what = f"WARCFLOW_REVISITS=false, {steady}"
                log(f"  warcflow: {what}")
                row = _warcflow(stack, site, urls, "storage-full", revisits=False, at_once=False)
                rows["warcflow_no_revisits"] = {"label": what, **row}

                what = f"post-sized pages ({POST_BYTES // 1000} KB of HTML each), revisits on"
                log(f"  warcflow: {what}, {steady}")
                post_urls, post_unique = add_site(site, "/long", POST_BYTES)
                row = _warcflow(
                    stack, site, post_urls, "storage-posts", revisits=True, at_once=False
                )
                rows["warcflow_post_sized"] = {
                    "label": f"{what}, {steady}",
                    **row,
                    "unique_bytes": post_unique,
                }
            finally:
                s3.stop()
            log("  wget: one process per page")
            rows["wget"] = {"label": "`wget -p --warc-file` per page", **_wget(urls, work / "wget")}
            log("  wget: one process per page, post-sized pages")
            rows["wget_post_sized"] = {
                "label": "`wget -p --warc-file` per page, post-sized pages",
                **_wget(post_urls, work / "wget-posts"),
                "unique_bytes": post_unique,
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows.values():
        row.setdefault("unique_bytes", unique)
        row["ratio_over_unique"] = round(row["stored_bytes"] / row["unique_bytes"], 3)
        row["met"] = row["stored_bytes"] <= TARGET * row["unique_bytes"]
    wget_bytes = rows["wget"]["stored_bytes"]
    return {
        "name": f"{PAGES} pages of one site sharing two {REQUISITE_BYTES // 1000} KB requisites",
        "runs": max(1, runs),
        "wget": wget_version(),
        "pages": PAGES,
        "requisite_bytes": REQUISITE_BYTES,
        "concurrency": CONCURRENCY,
        "unique_bytes": unique,
        "target_ratio": TARGET,
        "stored": rows,
        "ratio_warcflow_over_wget": round(rows["warcflow"]["stored_bytes"] / wget_bytes, 4),
        "ratio_at_once_over_wget": round(rows["warcflow_at_once"]["stored_bytes"] / wget_bytes, 4),
        "ratio_no_revisits_over_wget": round(
            rows["warcflow_no_revisits"]["stored_bytes"] / wget_bytes, 4
        ),
        "post_bytes": POST_BYTES,
        "ratio_post_sized_over_wget": round(
            rows["warcflow_post_sized"]["stored_bytes"] / rows["wget_post_sized"]["stored_bytes"],
            4,
        ),
    }


def lines(result: dict) -> list[str]:
    """What ``python -m benchmarks storage`` prints: each contender's stored bytes,
    its ratio over the unique bytes against the target, and warcflow / wget."""
    unique, target = result["unique_bytes"], result["target_ratio"]
    out = [
        f"unique bytes {unique:,} (the {result['pages']} pages + the 2 requisites once); "
        f"peer {result['wget']}"
    ]
    for name, row in result["stored"].items():
        prefixes = row.get("by_prefix")
        detail = (
            " ("
            + ", ".join(f"{p} {v['objects']} objects {v['bytes']:,} B" for p, v in prefixes.items())
            + f"; requisite records full {row['requisite_records_full']}, revisit "
            f"{row['requisite_records_revisit']})"
            if prefixes
            else ""
        )
        out.append(
            f"{name:21} stored {row['stored_bytes']:>12,} B of unique {row['unique_bytes']:>11,} B"
            f"  ratio {row['ratio_over_unique']:7.2f}x"
            f" | target ≤ {target}x: {'met' if row['met'] else 'MISSED'}{detail}"
        )
    one = result["stored"]["warcflow"]["one_page"]
    out.append(
        f"warcflow, one page's own objects: WARC {one['warc']:,} B ("
        + ", ".join(f"{kind} {size:,}" for kind, size in one["warc_records"].items())
        + f"), CDXJ {one['index']:,} B, manifest {one['manifest']:,} B (its revisits list "
        f"{one['manifest_revisits']:,} B)"
    )
    race = result["stored"]["warcflow_at_once"]
    out.append(
        f"all at once, every run: stored {race['runs_stored_bytes']} B, requisite records "
        f"full {race['runs_requisite_records_full']}"
    )
    out.append(
        f"stored bytes warcflow / wget {result['ratio_warcflow_over_wget']:.4f}x "
        f"(all at once {result['ratio_at_once_over_wget']:.4f}x, revisits off "
        f"{result['ratio_no_revisits_over_wget']:.4f}x); post-sized pages "
        f"{result['ratio_post_sized_over_wget']:.4f}x"
    )
    return out


if __name__ == "__main__":  # python -m benchmarks.storage
    for line in lines(bench(log=lambda message: print(message, flush=True))):
        print(line)
