"""One host budget for the cluster, on the real broker and S3 server (decision 0026).

Two worker processes in one consumer group, one site whose every answer takes
a while, a per-host budget of two connections: the site never sees more than
two connections at once, whichever worker the URLs were submitted to, because
every message about a page is keyed by its site and one member owns it
(streams.keys). URLs produced the way kcat or a script would (a bare URL line
with a random key, so on any partition) are forwarded to the owner and stored
all the same. (Without the site key, 40 URLs over four partitions reach the
site from both workers: up to four connections at once.)
"""

from __future__ import annotations

import os

import pytest
from kafka import KafkaProducer

from archivers.manifests.listing import list_captures
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, poll, settings_of, store_of

pytestmark = pytest.mark.integration

BUDGET = 2


def pages(site: TestSite, prefix: str, count: int) -> list[str]:
    for i in range(count):
        site.routes[f"/{prefix}/{i}"] = Route(f"<p>{prefix} {i}</p>".encode())
    return [site.url(f"/{prefix}/{i}") for i in range(count)]


def stored(env: dict, urls: list[str]) -> bool:
    store = store_of(env)
    return all([m.status for m in list_captures(store, url)] == ["stored"] for url in urls)


def test_two_workers_together_keep_one_sites_connection_budget(stack, tmp_path):
    with TestSite(delay=0.15) as site:
        env = stack.agent_env(
            "cb",
            site.allow,
            WARCFLOW_PARTITIONS="4",
            WARCFLOW_FETCH_PER_HOST=str(BUDGET),
            WARCFLOW_MEDIA_PER_PAGE="0",
        )
        workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in (1, 2)]
        try:
            for worker in workers:
                worker.start(timeout=180)
            from tests.integration.test_worker_processes import group_members

            poll(lambda: len(group_members(env)) == 2, timeout=60, what="two group members")

            submitted = pages(site, "cli", 30)
            assert cli("submit", *submitted, env=env).returncode == 0

            # as kcat would: bare URL lines, random keys, spread over every partition
            loose = pages(site, "kcat", 10)
            settings = settings_of(env, "submitter")
            producer = KafkaProducer(**settings.streams.kafka.client_kwargs())
            try:
                partitions = set()
                for url in loose:
                    future = producer.send(
                        f"{env['WARCFLOW_TOPIC_PREFIX']}.ingest",
                        key=os.urandom(8),
                        value=url.encode(),
                    )
                    partitions.add(future.get(30).partition)
            finally:
                producer.close()
            assert len(partitions) > 1  # they did land on other partitions than the site's

            every = submitted + loose
            poll(lambda: stored(env, every), timeout=180, interval=1, what="all 40 captures")
            # one connection per request (the fetcher sends Connection: close), so the
            # requests the site answered at one moment are its connections then
            assert site.most_answering <= BUDGET, site.most_answering
            assert site.most_answering == BUDGET  # the budget was used, not starved
            logs = "".join(worker.log() for worker in workers)
            assert logs.count("to the owner of its site") >= 1, logs[-3000:]
        finally:
            for worker in workers:
                worker.stop()
