"""Page capture: throughput, latency and scale-out, warcflow end-to-end vs wget and warcio.

A local test site serves N small pages, each with a stylesheet and an image
(3 requests a page), once with a realistic per-request latency (50 ms added by
the server, each answer) and once with none. In the same invocation:

- **warcflow**: real Kafka broker and S3 server (the project's infra/ code), real
  ``warcflow worker`` processes already running; the clock starts before the
  N submissions are produced and stops at the Kafka timestamp of the last
  capture event: submit → WARC, index and manifest stored in S3 → event;
- **wget**: ``wget --warc-file --page-requisites -i URLS`` (Debian's wget), the
  sequential crawl a user runs instead; WARC on local disk;
- **warcio loop**: ``benchmarks.warcio_loop``, warcio's ``capture_http`` around a
  ``requests`` session, page after page; WARC on local disk.

Then: latency of single submissions on the idle pipeline (submit → event,
p50/p95/p99), and scale-out: the same batch on the 50 ms site with 1, 2 and
4 worker processes.

Every page in a run has its own URL prefix, so no capture profits from an
earlier one; warcflow's events are checked (all N stored).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import run_measured

TEXT = (
    "Footage shared by several accounts shows a crowd in a courtyard; the poster "
    "says it was filmed this morning. "
) * 20


def add_pages(site, prefix: str, count: int) -> list[str]:
    """``count`` pages under ``/prefix/``, each with a stylesheet and an image."""
    from tests.support.site import Route, png

    image = png(64, 48, (40, 90, 160))
    urls = []
    for i in range(count):
        base = f"/{prefix}/p{i}"
        site.routes[base] = Route(
            (
                f'<!doctype html><html><head><meta charset="utf-8"><title>Post {i}</title>'
                f'<link rel="stylesheet" href="{base}.css"></head><body><article>'
                f'<h1>Post {i}</h1><p>{TEXT}</p><img src="{base}.png" alt="photo">'
                f"</article></body></html>"
            ).encode()
        )
        site.routes[base + ".css"] = Route(
            b"article { font: 16px serif; color: #222 }\n", content_type="text/css"
        )
        site.routes[base + ".png"] = Route(image, content_type="image/png")
        urls.append(site.url(base))
    return urls


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class Pipeline:
    """warcflow's real services and workers, and a client that submits and watches events."""

    def __init__(self, work: Path, site_allow: str) -> None:
        from infra.processes import free_port
        from tests.support.stack import TestStack

        self.work = work
        self.stack = TestStack(work / "home", free_port(), free_port())
        self.env = self.stack.env(WARCFLOW_FETCH_ALLOW=site_allow, WARCFLOW_PARTITIONS="8")
        self.base_env = self.env
        self.settings = self.stack.settings(
            WARCFLOW_FETCH_ALLOW=site_allow, WARCFLOW_PARTITIONS="8"
        )
        self.workers: list = []
        self.submitter: Any = None
        self.consumer: Any = None

    def start(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from streams.clients.producer import Submitter
        from streams.topics import TopicNames

        self.stack.start()
        self.stack.provision(self.env)
        names = TopicNames(self.settings.streams.topic_prefix)
        self.submitter = Submitter(self.stack.kafka("submitter"), names)
        self.consumer = KafkaConsumer(
            **self.stack.kafka("operator").client_kwargs(), group_id=None, enable_auto_commit=False
        )
        parts = self.consumer.partitions_for_topic(names.captures) or set()
        self.consumer.assign([TopicPartition(names.captures, p) for p in sorted(parts)])
        self.consumer.seek_to_end()
        for tp in self.consumer.assignment():
            self.consumer.position(tp)

    def scale(self, count: int, **extra: str) -> None:
        """Run exactly ``count`` workers with settings ``extra`` (WARCFLOW_* values
        on top of the pipeline's), and wait until the group has settled."""
        from tests.support.stack import WorkerProcess

        env = {**self.base_env, **extra}
        if env != self.env:
            while self.workers:
                self.workers.pop().stop()
            self.env = env
        while len(self.workers) > count:
            self.workers.pop().stop()
        while len(self.workers) < count:
            n = len(self.workers)
            # a worker that was stopped may hold the group until its session ends
            self.workers.append(
                WorkerProcess(self.env, self.work / f"worker{n}.log").start(timeout=180)
            )
        self._wait_stable(count)

    def _wait_stable(self, members: int, timeout: float = 120.0) -> None:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(**self.stack.kafka("worker").client_kwargs())
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                app_id = self.settings.streams.app_id
                group = admin.describe_groups([app_id]).get(app_id) or {}
                if (
                    group.get("group_state") == "Stable"
                    and len(group.get("members") or ()) == members
                ):
                    return
                time.sleep(0.5)
            raise RuntimeError(f"the consumer group did not settle with {members} members")
        finally:
            admin.close()

    def capture(self, urls: list[str], timeout: float = 900.0) -> tuple[float, dict]:
        """Submit ``urls``; seconds from submit to the last event, and the event per URL."""
        from archivers.clock import utc_now
        from streams.messages.capture import SubmitRequest

        requests = [SubmitRequest.new(url, submitted_at=utc_now(), source="bench") for url in urls]
        wanted = {r.request_id: r.url for r in requests}
        start = time.time()
        self.submitter.submit(requests)
        events: dict[str, dict] = {}
        last = start
        deadline = time.monotonic() + timeout
        while len(events) < len(wanted):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(wanted) - len(events)} of {len(wanted)} captures "
                    f"had no event after {timeout:g} s"
                )
            for records in self.consumer.poll(timeout_ms=200).values():
                for record in records:
                    doc = json.loads(record.value)
                    if doc.get("request_id") in wanted:
                        events[doc["request_id"]] = doc
                        last = max(last, record.timestamp / 1000)
        failed = [doc["url"] for doc in events.values() if doc.get("status") != "stored"]
        if failed:
            raise RuntimeError(f"{len(failed)} captures failed, e.g. {failed[:3]}")
        return last - start, events

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the worker processes have used so far."""
        import os

        total = 0.0
        for worker in self.workers:
            fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.submitter:
            self.submitter.close()
        if self.consumer:
            self.consumer.close()
        self.stack.stop()


def _peer_wget(urls: list[str], work: Path) -> float:
    work.mkdir(parents=True)
    listing = work / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    run = run_measured(
        [
            "wget",
            "--warc-file",
            str(work / "wget"),
            "--page-requisites",
            "-e",
            "robots=off",
            "--no-verbose",
            "--no-warc-keep-log",
            "-i",
            str(listing),
            "-P",
            str(work / "files"),
        ],
        timeout=1800,
    )
    return run.seconds


def _peer_warcio(urls: list[str], work: Path) -> float:
    work.mkdir(parents=True)
    listing = work / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    run = run_measured(
        [
            sys.executable,
            "-m",
            "benchmarks.warcio_loop",
            str(listing),
            str(work / "warcio.warc.gz"),
        ],
        timeout=1800,
    )
    done = json.loads(run.output.strip().splitlines()[-1])
    if done["requests"] != 3 * len(urls):
        raise RuntimeError(f"warcio loop made {done['requests']} requests, not {3 * len(urls)}")
    return run.seconds


def bench(
    runs: int,
    *,
    pages: int = 300,
    delay_ms: int = 50,
    latency_samples: int = 30,
    scale: tuple[int, ...] = (1, 2, 4),
    log=print,
) -> dict:
    from tests.support.site import TestSite
    from warcflow.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="warcflow-bench-pages-"))
    counter = iter(range(1_000_000))

    def fresh(site, count: int) -> list[str]:
        return add_pages(site, f"r{next(counter)}", count)

    throughput: dict[str, dict] = {}
    defaults = load_settings({"WARCFLOW_HOME": str(work)})
    concurrency = defaults.streams.concurrency
    per_host = defaults.fetch.politeness.per_host
    requisites = defaults.fetch.requisite_concurrency
    try:
        with TestSite() as site:
            pipeline = Pipeline(work, site.allow)
            log("pages: starting Kafka, S3 and one worker")
            try:
                pipeline.start()  # inside: a half-started stack is stopped too
                pipeline.scale(1)
                pipeline.capture(fresh(site, 10))  # warm-up: connections, topic metadata
                for label, delay in ((f"{delay_ms} ms site", delay_ms / 1000), ("0 ms site", 0.0)):
                    site.delay = delay
                    rows: dict[str, list[float]] = {"warcflow": [], "wget": [], "warcio": []}
                    busy: list[float] = []
                    for run in range(runs):
                        cpu = pipeline.cpu_seconds()
                        seconds, _ = pipeline.capture(fresh(site, pages))
                        busy.append((pipeline.cpu_seconds() - cpu) / seconds)
                        rows["warcflow"].append(pages / seconds)
                        rows["wget"].append(
                            pages / _peer_wget(fresh(site, pages), work / f"wget{next(counter)}")
                        )
                        rows["warcio"].append(
                            pages
                            / _peer_warcio(fresh(site, pages), work / f"warcio{next(counter)}")
                        )
                        log(
                            f"  {label}, run {run + 1}/{runs}: pages/s warcflow "
                            f"{rows['warcflow'][-1]:.1f}, wget {rows['wget'][-1]:.1f}, "
                            f"warcio loop {rows['warcio'][-1]:.1f}"
                        )
                    med = {name: statistics.median(values) for name, values in rows.items()}
                    throughput[label] = {
                        "pages_per_s": {name: round(value, 2) for name, value in med.items()},
                        "ratio_over_wget": round(med["warcflow"] / med["wget"], 2),
                        "ratio_over_warcio": round(med["warcflow"] / med["warcio"], 2),
                        "worker_cpu_cores": round(statistics.median(busy), 2),
                        "worker_cpu_ms_per_page": round(
                            1000 * statistics.median(busy) / med["warcflow"], 1
                        ),
                        "runs": {
                            name: [round(v, 2) for v in values] for name, values in rows.items()
                        },
                    }

                # the same 50 ms site with twice the default connections per host
                site.delay = delay_ms / 1000
                label = f"{delay_ms} ms site, {2 * per_host} per host"
                pipeline.scale(1, WARCFLOW_FETCH_PER_HOST=str(2 * per_host))
                pipeline.capture(fresh(site, 10))
                values = []
                for _run in range(runs):
                    cpu = pipeline.cpu_seconds()
                    seconds, _ = pipeline.capture(fresh(site, pages))
                    values.append((pages / seconds, (pipeline.cpu_seconds() - cpu) / seconds))
                rate = statistics.median(v for v, _ in values)
                cores = statistics.median(c for _, c in values)
                wget_rate = throughput[f"{delay_ms} ms site"]["pages_per_s"]["wget"]
                throughput[label] = {
                    "pages_per_s": {"warcflow": round(rate, 2)},
                    "ratio_over_wget": round(rate / wget_rate, 2),
                    "worker_cpu_cores": round(cores, 2),
                    "worker_cpu_ms_per_page": round(1000 * cores / rate, 1),
                    "settings": {"WARCFLOW_FETCH_PER_HOST": 2 * per_host},
                }
                log(f"  {label}: warcflow {rate:.1f} pages/s ({rate / wget_rate:.1f}x wget)")
                pipeline.scale(1)

                site.delay = 0.0
                log(f"pages: latency of {latency_samples} single submissions, idle pipeline")
                latencies = []
                for _ in range(latency_samples):
                    seconds, _ = pipeline.capture(fresh(site, 1))
                    latencies.append(seconds)
                latency = {
                    "p50_s": round(percentile(latencies, 0.5), 3),
                    "p95_s": round(percentile(latencies, 0.95), 3),
                    "p99_s": round(percentile(latencies, 0.99), 3),
                    "samples": len(latencies),
                }
                log(
                    f"  submit → event p50 {latency['p50_s']:.3f} s, p95 {latency['p95_s']:.3f}"
                    f" s, p99 {latency['p99_s']:.3f} s"
                )

                site.delay = delay_ms / 1000
                scaling: dict[str, float] = {}
                for workers in scale:
                    log(f"pages: scale-out, {workers} worker process(es), {delay_ms} ms site")
                    pipeline.scale(workers)
                    pipeline.capture(fresh(site, 4 * workers))  # every worker warm
                    rates = [pages / pipeline.capture(fresh(site, pages))[0] for _ in range(runs)]
                    scaling[str(workers)] = round(statistics.median(rates), 2)
                    log(f"  {workers} worker(s): {scaling[str(workers)]:.1f} pages/s")
            finally:
                pipeline.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    one = scaling[str(scale[0])]
    return {
        "name": f"{pages} pages with 2 requisites each (3 requests a page)",
        "runs": runs,
        "pages": pages,
        "delay_ms": delay_ms,
        "defaults": {
            "concurrency": concurrency,
            "per_host": per_host,
            "requisite_concurrency": requisites,
        },
        "throughput": throughput,
        "latency": latency,
        "scale_out": {
            "pages_per_s": scaling,
            "factor": {k: round(v / one, 2) for k, v in scaling.items()},
        },
        "notes": [
            "warcflow: submit (kafka-python, acks=all) → worker (faust, default settings: "
            f"{concurrency} captures at a time per worker, {per_host} connections per host, "
            f"requisites {requisites} at a time per page) → WARC, "
            "CDXJ index and manifest stored in versitygw → event on warcflow.captures; "
            "timed from before the first submission to the broker timestamp of the last "
            "event. Workers were already running, as in production.",
            "wget: `wget --warc-file --page-requisites -i URLS`, one process, sequential, "
            "gzip WARC on local disk (plus its mirror of the files).",
            "warcio loop: warcio `capture_http` around one requests.Session, page after page, "
            "gzip WARC on local disk; process start included, as for wget.",
            "The test site is a Python ThreadingHTTPServer in the benchmark process; the "
            f"{delay_ms} ms is slept before every answer. Machine shared by all contenders: "
            "server, broker, S3 server, workers.",
            "Scale-out: the same batch on the same site with 1, 2, 4 `warcflow worker` "
            "processes in one consumer group on 8 partitions, on this machine's cores.",
        ],
    }


if __name__ == "__main__":  # python -m benchmarks.pages [RUNS]
    print(json.dumps(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=2))
