"""Faults on the real broker and S3 server: killed workers, an S3 outage, dead letters.

What a user must be able to rely on: every submitted URL ends with exactly one
stored capture or a recorded failure, whatever happens to the processes, and
`warcflow reconcile` proves it; what could not be done is on the dead-letter
topic, where `warcflow dlq` lists it and resubmits it.
"""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest
from kafka import KafkaProducer

from archivers.manifests.listing import list_captures
from infra.s3server import S3Server
from tests.support.site import Route, TestSite
from tests.support.stack import (
    WorkerProcess,
    cli,
    kafka_of,
    poll,
    poll_agent,
    settings_of,
    store_of,
)

pytestmark = pytest.mark.integration


def add_pages(site: TestSite, prefix: str, count: int) -> list[str]:
    for i in range(count):
        base = f"/{prefix}/p{i}"
        site.routes[base] = Route(
            f'<html><head><link rel="stylesheet" href="{base}.css">'
            f"</head><body><p>post {i}</p></body></html>".encode()
        )
        site.routes[base + ".css"] = Route(b"p { color: red }", content_type="text/css")
    return [site.url(f"/{prefix}/p{i}") for i in range(count)]


def reconciled(env: dict) -> dict | None:
    """`warcflow reconcile --json` once every message has an outcome, else None."""
    result = cli("reconcile", "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return report if result.returncode == 0 else None


def stored_objects_are_all_captures(env: dict, urls: list[str]) -> None:
    """Exactly one stored capture per URL, and no WARC in the bucket without one."""
    store = store_of(env)
    warcs = set()
    for url in urls:
        manifests = list_captures(store, url)
        assert [m.status for m in manifests] == ["stored"], (url, manifests)
        warcs.add(manifests[0].warc_key)
    assert set(store.list_keys("warc/")) == warcs  # no orphan half-objects


@pytest.fixture
def faulty(stack, tmp_path):
    """A worker of its own (topics, bucket) on a site that answers in 50 ms."""
    prefix = f"f{uuid.uuid4().hex[:8]}"
    with TestSite(delay=0.05) as site:
        env = stack.env(
            WARCFLOW_TOPIC_PREFIX=prefix,
            WARCFLOW_S3_BUCKET=f"{prefix}-bucket",
            WARCFLOW_FETCH_ALLOW=site.allow,
            WARCFLOW_PARTITIONS="4",
            WARCFLOW_RETRY_ATTEMPTS="8",
            WARCFLOW_RETRY_BASE_DELAY="0.5",
            WARCFLOW_RETRY_MAX_DELAY="4",
            WARCFLOW_MEDIA_PER_PAGE="0",
        )
        stack.provision(env)
        worker = WorkerProcess(env, tmp_path / "worker.log").start()
        try:
            yield {"env": env, "site": site, "worker": worker, "prefix": prefix, "stack": stack}
        finally:
            worker.stop()


def test_a_worker_killed_again_and_again_loses_and_duplicates_nothing(faulty):
    env, site, worker = faulty["env"], faulty["site"], faulty["worker"]
    # three kills over 60 captures here; the soak (test_soak.py, `make soak`) kills
    # at random over more work
    total = 60
    urls = add_pages(site, "kill", total)
    assert cli("submit", *urls, env=env).returncode == 0
    store = store_of(env)
    for round_ in range(3):
        # kill -9 while captures are in every phase: fetching, uploading, publishing
        floor = len(list(store.list_keys("warc/")))
        poll(
            lambda floor=floor, round_=round_: (
                len(list(store.list_keys("warc/"))) >= floor + 4 + round_
            ),
            timeout=120,
            interval=0.05,
            what="captures under way",
        )
        # every kill lands while work remains (not on an idle worker)
        assert len(list(store.list_keys("warc/"))) < total
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        worker.start(timeout=120)

    report = poll(
        lambda: reconciled(env),
        timeout=180,
        interval=1.0,
        what="every submission to have an outcome",
    )
    assert report["counts"]["stored"] == total and report["counts"]["pending"] == 0
    assert report["duplicates"] == []
    stored_objects_are_all_captures(env, urls)


def test_captures_wait_out_an_s3_outage(faulty):
    env, site = faulty["env"], faulty["site"]
    urls = add_pages(site, "outage", 30)
    s3 = S3Server(settings_of(env, "admin", local_stack=True).services)
    store = store_of(env)
    assert cli("submit", *urls[:10], env=env).returncode == 0
    poll_agent(
        faulty["worker"],
        lambda: len(list(store.list_keys("warc/"))) >= 3,
        timeout=60,
        interval=0.05,
        what="the first captures",
    )
    assert s3.stop()
    try:
        assert cli("submit", *urls[10:], env=env).returncode == 0  # Kafka takes them meanwhile
        worker_log = faulty["worker"].log
        poll_agent(
            faulty["worker"],
            lambda: worker_log().count("retry in") >= 3,
            timeout=60,
            what="captures to meet the outage and wait to retry",
        )
    finally:
        s3.start(lambda message: None)
    report = poll_agent(
        faulty["worker"],
        lambda: reconciled(env),
        timeout=180,
        interval=1.0,
        what="every submission to have an outcome",
    )
    assert report["counts"]["stored"] == 30, report["counts"]
    stored_objects_are_all_captures(env, urls)
    assert "S3 not reachable" in faulty["worker"].log()  # what the operator sees meanwhile


def test_dead_letters_are_listed_and_replayed_once_the_site_is_back(faulty):
    env, site, prefix = faulty["env"], faulty["site"], faulty["prefix"]
    site.routes["/down"] = Route(b"<p>back</p>", fail_first=10_000)
    producer = KafkaProducer(**kafka_of(env, "submitter").client_kwargs(), acks="all")
    producer.send(f"{prefix}.ingest", key=b"junk", value=b"{not json").get(10)
    producer.close()
    assert cli("submit", site.url("/down"), env=env).returncode == 0

    def letters():
        result = cli("dlq", "list", "--json", env=env)
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        return found if len(found) >= 2 else None

    found = poll(letters, timeout=120, what="two dead letters")
    by_reason = {letter["reason"]: letter for letter in found}
    down = by_reason["retries_exhausted:http_503"]
    junk = by_reason["bad_json"]
    assert down["url"] == site.url("/down") and down["replayable"]
    assert len(down["attempts"]) == 8  # the whole history, one entry per attempt
    assert not junk["replayable"] and "invalid" in junk["replay_note"]
    text = cli("dlq", "list", env=env)
    assert down["id"] in text.stdout and "retries_exhausted:http_503" in text.stdout

    site.routes["/down"] = Route(b"<p>back</p>")  # the site recovers
    replay = cli("dlq", "replay", down["id"], env=env)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1" in replay.stderr
    skipped = cli("dlq", "replay", junk["id"], env=env)
    assert skipped.returncode == 1 and "not replayed" in skipped.stderr
    assert cli("dlq", "replay", "9:999999", env=env).returncode == 4

    captures = poll(
        lambda: (lambda c: c if len(c) == 2 else None)(
            json.loads(cli("captures", site.url("/down"), "--json", env=env).stdout)
        ),
        timeout=60,
        what="the replayed capture",
    )
    assert sorted(c["status"] for c in captures) == ["failed", "stored"]  # both on the timeline

    report = poll(lambda: reconciled(env), timeout=60, what="every submission accounted for")
    assert report["counts"] == {"stored": 1, "failed": 1, "dead-letter": 1, "pending": 0}
    assert len(json.loads(cli("dlq", "list", "--json", env=env).stdout)) == 2  # unchanged


@pytest.mark.alone  # its 240 s deadline is for the broker's restart, not a loaded machine
def test_captures_survive_a_broker_restart(faulty):
    """The broker stops mid-batch (clean shutdown, data kept) and comes back."""
    from infra.kafka import KafkaBroker

    env, site = faulty["env"], faulty["site"]
    urls = add_pages(site, "broker", 30)
    store = store_of(env)
    assert cli("submit", *urls, env=env).returncode == 0
    poll(
        lambda: len(list(store.list_keys("warc/"))) >= 3,
        timeout=60,
        interval=0.05,
        what="the first captures",
    )
    broker = KafkaBroker(settings_of(env, "admin", local_stack=True).services)
    assert broker.stop()
    broker.start(lambda message: None)
    report = poll(
        lambda: reconciled(env),
        timeout=240,
        interval=2.0,
        what="every submission to have an outcome after the restart",
    )
    assert report["counts"]["stored"] == 30, report["counts"]
    assert report["duplicates"] == []
    stored_objects_are_all_captures(env, urls)
    assert faulty["worker"].proc.poll() is None  # the worker rode it out


def test_a_worker_asked_with_sigusr1_says_where_each_capture_waits(faulty):
    """What an operator does with a worker that seems stuck: ``kill -USR1`` it and
    read, in its log, where every task waits; with no secret of the worker's in it."""
    env, site, worker = faulty["env"], faulty["site"], faulty["worker"]
    (url,) = add_pages(site, "slow", 1)
    site.delay = 6.0  # the site is slow now: the capture waits on its answer
    assert cli("submit", url, env=env).returncode == 0
    poll(lambda: site.in_flight.get("/slow/p0"), timeout=60, what="the capture to ask the site")
    start = len(worker.log_bytes())
    stacks = worker.stacks()
    # the capture's whole await chain, from the agent down to the socket read
    assert "streams/agents/capture.py" in stacks, stacks
    assert "archivers/capture/archiver.py" in stacks and "in _read_response" in stacks, stacks
    dump = worker.log_bytes()[start:].decode(errors="replace")
    dump = dump[dump.index("STACK DUMP BEGIN") : dump.index("STACK DUMP END")]
    assert "THREADS (" in dump and "ASYNCIO TASKS (" in dump
    # code locations only: no frame's locals, so none of the worker's credentials
    for secret in (worker.env["WARCFLOW_KAFKA_PASSWORD"], worker.env["WARCFLOW_S3_SECRET_KEY"]):
        assert secret not in dump
    site.delay = 0.05
    poll(
        lambda: [m.status for m in list_captures(store_of(env), url)] == ["stored"],
        timeout=60,
        what="the slow capture to end stored: the dump changed nothing",
    )
