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

Then, each against its target (issue 21, one host budget for the cluster):

- **three hosts**: the same kind of pages on the 50 ms site, but the stylesheet
  on a second loopback host and the image on a third (each host has its own
  per-host budget), warcflow with default settings vs ``wget
  --page-requisites --span-hosts`` (without ``--span-hosts`` wget fetches no
  requisite from another host); target 10× wget;
- latency of single submissions on the idle pipeline (submit → event,
  p50/p95/p99);
- **one host-limited site, one vs two workers**: every message about a page is
  keyed by its site, so one member of the group owns the site and its
  per-host budget (``WARCFLOW_FETCH_PER_HOST``, the default) is the
  cluster's (decision 0026). The site counts the requests in their latency
  phase at one moment (``TestSite.most_answering``, reset before each run):
  target at most the budget with two workers, and two workers' throughput at
  least 0.95× one worker's (a second worker must not slow the owner down);
- **scale-out across sites**: a site's pages go to one worker, so adding
  workers helps only a batch over several sites: the same batch spread over
  8 sites on distinct loopback addresses, chosen so that their site keys fall
  on the 8 partitions one each (``streams.keys.owner``), so any balanced
  assignment gives every worker the same number of sites; 1, 2 and 4 worker
  processes; target 2 workers ≥ 1.8× one.

Every page in a run has its own URL prefix, and its requisites are bytes of
its own (a stylesheet naming the page, an image of a colour no other page
has): "requisites stored once" (``archivers.warc.payloads``) writes a
requisite whose payload an earlier capture stored as a revisit record, so
shared requisite bytes would let later pages and runs profit from earlier
ones. (These requisites are also under ``payloads.MIN_PAYLOAD``, never
deduplicated; distinct bytes keep that so if it is lowered.) No capture
profits from an earlier one; warcflow's events are checked (all N stored),
and the peers' requests are counted at the sites (3 a page).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
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

PARTITIONS = 8
"""Partitions of every topic in the benchmark's pipeline (``WARCFLOW_PARTITIONS``)."""

TARGET_OVER_WGET = 10.0  # 50 ms site, default settings: ≥ 10× wget
TARGET_OVER_WARCIO = 0.7  # 0 ms site: ≥ 0.7× the warcio loop end-to-end
TARGET_SCALE_TWO = 1.8  # two workers ≥ 1.8× one, across sites
TARGET_ONE_SITE_TWO = 0.95  # one host-limited site: two workers ≥ 0.95× one

_colours = itertools.count(1)


def _colour() -> tuple[int, int, int]:
    """A colour no image of this process had before (16 million of them)."""
    n = next(_colours)
    return (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF


def add_pages(site, prefix: str, count: int, *, css_on=None, image_on=None) -> list[str]:
    """``count`` pages under ``/prefix/`` of ``site``, each with a stylesheet and an
    image of its own bytes, served by ``css_on`` and ``image_on`` (other test
    sites) if given, else by ``site``."""
    from tests.support.site import Route, png

    css_on = css_on or site
    image_on = image_on or site
    urls = []
    for i in range(count):
        base = f"/{prefix}/p{i}"
        css, image = css_on.url(base + ".css"), image_on.url(base + ".png")
        if css_on is site and image_on is site:
            css, image = base + ".css", base + ".png"
        site.routes[base] = Route(
            (
                f'<!doctype html><html><head><meta charset="utf-8"><title>Post {i}</title>'
                f'<link rel="stylesheet" href="{css}"></head><body><article>'
                f'<h1>Post {i}</h1><p>{TEXT}</p><img src="{image}" alt="photo">'
                f"</article></body></html>"
            ).encode()
        )
        css_on.routes[base + ".css"] = Route(
            f"/* {prefix} p{i} */\narticle {{ font: 16px serif; color: #222 }}\n".encode(),
            content_type="text/css",
        )
        image_on.routes[base + ".png"] = Route(png(64, 48, _colour()), content_type="image/png")
        urls.append(site.url(base))
    return urls


def spread_pages(sites: list, prefix: str, count: int) -> list[str]:
    """``count`` pages spread evenly over ``sites``, interleaved site by site."""
    share = [count // len(sites) + (1 if n < count % len(sites) else 0) for n in range(len(sites))]
    groups = [add_pages(site, prefix, k) for site, k in zip(sites, share, strict=True)]
    return [url for row in itertools.zip_longest(*groups) for url in row if url]


def one_per_partition(partitions: int, taken: set[str]) -> list[str]:
    """Loopback addresses (127.0.0.2 upwards, not in ``taken``) whose site keys
    fall on ``partitions`` distinct partitions, one each, in partition order."""
    from streams.keys import owner, site_key

    hosts: dict[int, str] = {}
    for k in range(2, 255):
        host = f"127.0.0.{k}"
        if host not in taken:
            hosts.setdefault(owner(site_key(f"http://{host}/"), partitions), host)
        if len(hosts) == partitions:
            return [hosts[p] for p in sorted(hosts)]
    raise RuntimeError(f"no {partitions} loopback addresses on distinct partitions")


def served(sites) -> int:
    """Requests the sites have answered so far (GETs)."""
    return sum(sum(site.hits.values()) for site in sites)


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
        self.env = self.stack.env(
            WARCFLOW_FETCH_ALLOW=site_allow, WARCFLOW_PARTITIONS=str(PARTITIONS)
        )
        self.base_env = self.env
        self.settings = self.stack.settings(
            WARCFLOW_FETCH_ALLOW=site_allow, WARCFLOW_PARTITIONS=str(PARTITIONS)
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
        return sum(self.cpu_by_worker())

    def cpu_by_worker(self) -> list[float]:
        """CPU time (user + system) each worker process has used so far."""
        times = []
        for worker in self.workers:
            fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            times.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        return times

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.submitter:
            self.submitter.close()
        if self.consumer:
            self.consumer.close()
        self.stack.stop()


def _peer_wget(urls: list[str], work: Path, *, span_hosts: bool = False) -> float:
    work.mkdir(parents=True)
    listing = work / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    run = run_measured(
        [
            "wget",
            "--warc-file",
            str(work / "wget"),
            "--page-requisites",
            *(["--span-hosts"] if span_hosts else []),
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


def _counted(sites, pages: int, name: str, peer) -> float:
    """Run ``peer()`` (seconds) and check the sites answered 3 requests a page."""
    before = served(sites)
    seconds = peer()
    made = served(sites) - before
    if made != 3 * pages:
        raise RuntimeError(f"{name} made {made} requests, not {3 * pages}")
    return seconds


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

    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="warcflow-bench-pages-"))
    counter = iter(range(1_000_000))
    delay = delay_ms / 1000

    def fresh(site, count: int, **hosts) -> list[str]:
        return add_pages(site, f"r{next(counter)}", count, **hosts)

    throughput: dict[str, dict] = {}
    defaults = load_settings({"WARCFLOW_HOME": str(work)})
    concurrency = defaults.streams.concurrency
    per_host = defaults.fetch.politeness.per_host
    requisites = defaults.fetch.requisite_concurrency
    try:
        with contextlib.ExitStack() as servers:
            site = servers.enter_context(TestSite())
            css_host = servers.enter_context(TestSite(host="127.0.0.2", delay=delay))
            image_host = servers.enter_context(TestSite(host="127.0.0.3", delay=delay))
            spread = [
                servers.enter_context(TestSite(host=host, delay=delay))
                for host in one_per_partition(PARTITIONS, {"127.0.0.2", "127.0.0.3"})
            ]
            every = [site, css_host, image_host, *spread]
            pipeline = Pipeline(work, ",".join(s.allow for s in every))
            log("pages: starting Kafka, S3 and one worker")
            try:
                pipeline.start()  # inside: a half-started stack is stopped too
                pipeline.scale(1)
                pipeline.capture(fresh(site, 10))  # warm-up: connections, topic metadata
                for label, wait in ((f"{delay_ms} ms site", delay), ("0 ms site", 0.0)):
                    site.delay = wait
                    rows: dict[str, list[float]] = {"warcflow": [], "wget": [], "warcio": []}
                    busy: list[float] = []
                    for run in range(runs):
                        cpu = pipeline.cpu_seconds()
                        seconds, _ = pipeline.capture(fresh(site, pages))
                        busy.append((pipeline.cpu_seconds() - cpu) / seconds)
                        rows["warcflow"].append(pages / seconds)
                        urls = fresh(site, pages)
                        rows["wget"].append(
                            pages
                            / _counted(
                                [site],
                                pages,
                                "wget",
                                lambda urls=urls: _peer_wget(urls, work / f"wget{next(counter)}"),
                            )
                        )
                        urls = fresh(site, pages)
                        rows["warcio"].append(
                            pages / _peer_warcio(urls, work / f"warcio{next(counter)}")
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
                    throughput[label]["target"] = (
                        {"peer": "wget", "ratio": TARGET_OVER_WGET}
                        if wait
                        else {"peer": "warcio", "ratio": TARGET_OVER_WARCIO}
                    )

                # the same 50 ms site with twice the default connections per host
                site.delay = delay
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

                # requisites on two other hosts, default settings: warcflow vs wget -p -H
                label = f"{delay_ms} ms site, requisites on three hosts"
                hosts = {"css_on": css_host, "image_on": image_host}
                three = [site, css_host, image_host]
                pipeline.capture(fresh(site, 10, **hosts))
                rows = {"warcflow": [], "wget": []}
                busy = []
                for run in range(runs):
                    cpu = pipeline.cpu_seconds()
                    seconds, _ = pipeline.capture(fresh(site, pages, **hosts))
                    busy.append((pipeline.cpu_seconds() - cpu) / seconds)
                    rows["warcflow"].append(pages / seconds)
                    urls = fresh(site, pages, **hosts)
                    rows["wget"].append(
                        pages
                        / _counted(
                            three,
                            pages,
                            "wget --span-hosts",
                            lambda urls=urls: _peer_wget(
                                urls, work / f"wget{next(counter)}", span_hosts=True
                            ),
                        )
                    )
                    log(
                        f"  {label}, run {run + 1}/{runs}: pages/s warcflow "
                        f"{rows['warcflow'][-1]:.1f}, wget {rows['wget'][-1]:.1f}"
                    )
                med = {name: statistics.median(values) for name, values in rows.items()}
                throughput[label] = {
                    "pages_per_s": {name: round(value, 2) for name, value in med.items()},
                    "ratio_over_wget": round(med["warcflow"] / med["wget"], 2),
                    "worker_cpu_cores": round(statistics.median(busy), 2),
                    "worker_cpu_ms_per_page": round(
                        1000 * statistics.median(busy) / med["warcflow"], 1
                    ),
                    "hosts": [s.host for s in three],
                    "target": {"peer": "wget", "ratio": TARGET_OVER_WGET},
                    "runs": {name: [round(v, 2) for v in values] for name, values in rows.items()},
                }

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

                # by worker count, so the group changes size as few times as possible
                site.delay = delay
                alone: dict[str, float] = {}  # one site: pages/s
                peaks: dict[str, int] = {}  # one site: most requests answering at once
                alone_cores: dict[str, list[float]] = {}  # one site: CPU cores by worker
                scaling: dict[str, float] = {}  # the batch over the spread sites: pages/s
                spread_peaks: dict[str, int] = {}  # the most at once at any one of them
                for workers in scale:
                    pipeline.scale(workers)
                    if workers <= 2:
                        log(f"pages: one {delay_ms} ms site, {workers} worker process(es)")
                        pipeline.capture(fresh(site, 10))
                        rates: list[float] = []
                        most: list[int] = []
                        by_worker: list[list[float]] = []
                        for _run in range(runs):
                            site.reset_most()
                            before = pipeline.cpu_by_worker()
                            seconds = pipeline.capture(fresh(site, pages))[0]
                            rates.append(pages / seconds)
                            most.append(site.most_answering)
                            used = zip(pipeline.cpu_by_worker(), before, strict=True)
                            by_worker.append(
                                sorted(((b - a) / seconds for b, a in used), reverse=True)
                            )
                        alone[str(workers)] = round(statistics.median(rates), 2)
                        peaks[str(workers)] = max(most)
                        # each worker's, busiest first: the owner, then the one without the site
                        alone_cores[str(workers)] = [
                            round(statistics.median(c[w] for c in by_worker), 2)
                            for w in range(workers)
                        ]
                        log(
                            f"  {workers} worker(s): {alone[str(workers)]:.1f} pages/s, at most "
                            f"{peaks[str(workers)]} requests at once at the site "
                            f"(budget {per_host}), worker CPU cores {alone_cores[str(workers)]}"
                        )
                    log(
                        f"pages: scale-out, {workers} worker process(es), {len(spread)} "
                        f"{delay_ms} ms sites"
                    )
                    pipeline.capture(spread_pages(spread, f"r{next(counter)}", 2 * len(spread)))
                    rates, most = [], []
                    for _run in range(runs):
                        for s in spread:
                            s.reset_most()
                        batch = spread_pages(spread, f"r{next(counter)}", pages)
                        rates.append(pages / pipeline.capture(batch)[0])
                        most.append(max(s.most_answering for s in spread))
                    scaling[str(workers)] = round(statistics.median(rates), 2)
                    spread_peaks[str(workers)] = max(most)
                    log(f"  {workers} worker(s): {scaling[str(workers)]:.1f} pages/s")
            finally:
                pipeline.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    one = scaling[str(scale[0])]
    load = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
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
        "load_average_1min": load,
        "throughput": throughput,
        "latency": latency,
        "one_site": {
            "host": site.host,
            "per_host": per_host,
            "pages_per_s": alone,
            "most_answering": peaks,
            "worker_cpu_cores": alone_cores,
            "ratio_two_over_one": round(alone["2"] / alone["1"], 2),
            "target_ratio": TARGET_ONE_SITE_TWO,
        },
        "scale_out": {
            "sites": [s.host for s in spread],
            "pages_per_s": scaling,
            "factor": {k: round(v / one, 2) for k, v in scaling.items()},
            "most_answering_per_site": spread_peaks,
            "target_two_over_one": TARGET_SCALE_TWO,
        },
        "notes": [
            "warcflow: submit (kafka-python, acks=all) → worker (faust, default settings: "
            f"{concurrency} captures at a time per worker, {per_host} connections per host, "
            f"requisites {requisites} at a time per page) → WARC, "
            "CDXJ index and manifest stored in versitygw → event on warcflow.captures; "
            "timed from before the first submission to the broker timestamp of the last "
            "event. Workers were already running, as in production.",
            "wget: `wget --warc-file --page-requisites -i URLS`, one process, sequential, "
            "gzip WARC on local disk (plus its mirror of the files); with `--span-hosts` "
            "for requisites on other hosts. Its requests are counted at the sites: 3 a page.",
            "warcio loop: warcio `capture_http` around one requests.Session, page after page, "
            "gzip WARC on local disk; process start included, as for wget.",
            "Every page's stylesheet and image are bytes no other page has, so no capture "
            "is written as revisits of an earlier one (requisites stored once, decision 0025).",
            "The test sites are Python ThreadingHTTPServers in the benchmark process; the "
            f"{delay_ms} ms is slept before every answer. Machine shared by all contenders: "
            "servers, broker, S3 server, workers.",
            f"Three hosts: the page on {site.host}, its stylesheet on {css_host.host}, its "
            f"image on {image_host.host}, each answering after {delay_ms} ms.",
            f"One site: the {delay_ms} ms site ({site.host}) with 1 and 2 `warcflow worker` "
            f"processes at the default {per_host} connections per host; the site counts "
            "the requests it is answering at one moment (one connection each: the fetcher "
            "sends `Connection: close`).",
            f"Scale-out: the same batch spread evenly over {len(spread)} {delay_ms} ms sites "
            f"({', '.join(s.host for s in spread)}: their site keys fall one on each of the "
            f"{PARTITIONS} partitions) with 1, 2, 4 `warcflow worker` processes in one "
            "consumer group, on this machine's cores.",
        ],
    }


def lines(result: dict) -> list[str]:
    """What ``python -m benchmarks pages`` prints: each figure with its peer and target."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    out = []
    if "load_average_1min" in result:
        load = result["load_average_1min"]
        out.append(
            f"load average (1 min): {load['start']:.2f} at the start, {load['end']:.2f} at the end"
        )
    for label, row in result["throughput"].items():
        rate = row["pages_per_s"]
        peers = "".join(
            f" | {name} {rate[name]:.1f}" for name in ("wget", "warcio") if name in rate
        )
        text = (
            f"{label}: pages/s warcflow {rate['warcflow']:.1f}{peers} | ratio "
            f"warcflow/wget {row['ratio_over_wget']:.2f}x"
            + (
                f", warcflow/warcio {row['ratio_over_warcio']:.2f}x"
                if "ratio_over_warcio" in row
                else ""
            )
        )
        target = row.get("target")
        if target:
            got = row[f"ratio_over_{target['peer']}"]
            text += (
                f" | target ≥ {target['ratio']:g}x {target['peer']}: "
                f"{verdict(got >= target['ratio'])}"
            )
        out.append(text)
    lat = result["latency"]
    out.append(
        f"submit → event: p50 {lat['p50_s']:.3f} s, p95 {lat['p95_s']:.3f} s, "
        f"p99 {lat['p99_s']:.3f} s | target p50 < 0.5 s: {verdict(lat['p50_s'] < 0.5)}"
    )
    alone = result.get("one_site")
    if alone:
        budget = alone["per_host"]
        ok = alone["ratio_two_over_one"] >= alone["target_ratio"]
        out.append(
            f"one {result['delay_ms']} ms site, {budget} per host: pages/s 1 worker "
            f"{alone['pages_per_s']['1']:.1f} | 2 workers {alone['pages_per_s']['2']:.1f} | "
            f"ratio 2/1 {alone['ratio_two_over_one']:.2f}x | target ≥ "
            f"{alone['target_ratio']:g}x: {verdict(ok)}"
        )
        out.append(
            f"one site, peak requests at once (measured by the site): 1 worker "
            f"{alone['most_answering']['1']} | 2 workers {alone['most_answering']['2']} | "
            f"target ≤ {budget}: {verdict(alone['most_answering']['2'] <= budget)}"
        )
        if "worker_cpu_cores" in alone:
            out.append(
                "one site, worker CPU, cores (busiest first): "
                + " | ".join(
                    f"{n} worker(s) " + ", ".join(f"{c:.2f}" for c in cores)
                    for n, cores in alone["worker_cpu_cores"].items()
                )
            )
    scale = result["scale_out"]
    where = f" over {len(scale['sites'])} sites" if "sites" in scale else ""
    text = f"scale-out{where}: " + ", ".join(
        f"{n} worker(s) {rate:.1f} pages/s ({scale['factor'][n]:.2f}x)"
        for n, rate in scale["pages_per_s"].items()
    )
    if "target_two_over_one" in scale and "2" in scale["factor"]:
        target = scale["target_two_over_one"]
        text += f" | target 2 workers ≥ {target:g}x one: {verdict(scale['factor']['2'] >= target)}"
    out.append(text)
    return out


if __name__ == "__main__":  # python -m benchmarks.pages [RUNS]
    print(json.dumps(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=2))
