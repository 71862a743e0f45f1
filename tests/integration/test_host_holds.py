"""One host budget for the cluster (issues 17 and 21): a 429 with Retry-After
that one worker meets slows *every* worker's requests to that host.

Two workers of one consumer group on the real broker and S3 server. The site
answers the first request for a post with ``429`` and ``Retry-After: 12``;
then posts of the same host are submitted one a second, spread over both
workers' partitions: the site is one of ``WARCFLOW_SPREAD_SITES``, as a very
large platform is (decision 0026) — a site that is not spread has one owner,
whose requests are the only ones (tests/integration/test_cluster_budget.py).
What a user sees is asserted: the site got no request at all, from
either worker, before the 12 seconds were over; both workers met the hold and
deferred their captures (their logs say so, and when they will try again);
every capture ends stored after the hold, none failed for lack of attempts
(three allowed, more deferrals than that).
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from tests.support.observe import read_topic
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, poll

pytestmark = pytest.mark.integration

RETRY_AFTER = 12
POSTS = 8


@pytest.fixture
def held_site():
    with TestSite() as site:
        arrivals: list[tuple[float, str]] = []
        lock = threading.Lock()
        for n in range(POSTS):
            site.routes[f"/held/{n}"] = Route(f"<p>post {n}</p>".encode())

        def gate(path: str, _cookie: str) -> Route | None:
            with lock:
                arrivals.append((time.time(), path))
                if len(arrivals) == 1:
                    return Route(
                        b"Please wait a few minutes before you try again.",
                        status=429,
                        headers=[("Retry-After", str(RETRY_AFTER))],
                    )
            return None

        site.gate = gate
        yield site, arrivals


@pytest.mark.alone  # both workers must join their group within the 12 s hold
def test_a_429_met_by_one_worker_holds_the_host_for_every_worker(stack, held_site, tmp_path):
    site, arrivals = held_site
    env = stack.agent_env(
        "h",
        site.allow,
        WARCFLOW_FETCH_HOLD_WAIT="0",  # a held capture is deferred, never waited in place
        WARCFLOW_MEDIA_PER_PAGE="0",
        WARCFLOW_RETRY_ATTEMPTS="3",
        WARCFLOW_SPREAD_SITES="127.0.0.1",  # its posts go to both workers
    )
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log") for n in range(2)]
    for worker in workers:
        worker.start()
    try:
        first = cli("submit", site.url("/held/0"), env=env)
        assert first.returncode == 0, first.stderr
        poll(lambda: arrivals, timeout=60, what="the first request (answered 429)")
        held_at = arrivals[0][0]
        # one a second while the host is held: by then the group has settled and
        # both workers own partitions, whenever the second one joined
        for n in range(1, POSTS):
            submitted = cli("submit", site.url(f"/held/{n}"), env=env)
            assert submitted.returncode == 0, submitted.stderr
            pause = held_at + n - time.time()
            if pause > 0:
                time.sleep(pause)  # pacing the submissions, not waiting for an outcome

        topic = env["WARCFLOW_TOPIC_PREFIX"] + ".captures"

        def all_done():
            events = [json.loads(m.value) for m in read_topic(env, topic)]
            ended = {e["url"]: e for e in events if e["schema"].startswith("warcflow.Capture")}
            return ended if len(ended) >= POSTS else None

        ended = poll(all_done, timeout=180, interval=1.0, what="every capture to end")
        assert {url: e["schema"] for url, e in ended.items()} == {
            site.url(f"/held/{n}"): "warcflow.CaptureStored" for n in range(POSTS)
        }, ended

        early = [(t - held_at, path) for t, path in arrivals[1:] if t < held_at + RETRY_AFTER]
        assert early == [], f"requests sent during the hold: {early}"
        deferring = [
            w
            for w in workers
            if re.search(rb"not sent: 127\.0\.0\.1 is on hold until \S+ \(429", w.log_bytes())
        ]
        assert len(deferring) == 2, "both workers must have met the hold:\n" + "\n".join(
            w.log()[-3000:] for w in workers
        )
        told = [w for w in workers if b"met by " in w.log_bytes()]
        assert told, "the worker that did not meet the 429 was told of it through the topic"
    finally:
        for worker in workers:
            worker.stop()
