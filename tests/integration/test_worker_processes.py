"""``warcflow worker --processes 2`` on the real broker and S3 server (decision 0023):
two members of the consumer group under one supervisor, each serving its own
/metrics port; a child killed with SIGKILL is restarted and the captures still
end stored; SIGTERM to the supervisor drains both and it exits 0 within the
drain time, leaving no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request

import pytest
from kafka.admin import KafkaAdminClient

from archivers.manifests.listing import list_captures
from infra.processes import free_port
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, poll, settings_of, store_of

pytestmark = pytest.mark.integration

DRAIN = 5.0  # agent_env's WARCFLOW_WORKER_DRAIN


def two_free_ports() -> int:
    """A port P with P+1 also free (child 1 serves there)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def add_pages(site: TestSite, prefix: str, count: int) -> list[str]:
    for i in range(count):
        site.routes[f"/{prefix}/p{i}"] = Route(
            f"<html><body><p>{prefix} {i}</p></body></html>".encode()
        )
    return [site.url(f"/{prefix}/p{i}") for i in range(count)]


def all_stored(env: dict, urls: list[str]) -> bool:
    store = store_of(env)
    return all([m.status for m in list_captures(store, url)] == ["stored"] for url in urls)


def group_members(env: dict) -> list:
    """The members of the workers' consumer group, once it is stable (else [])."""
    settings = settings_of(env, "admin", local_stack=True)
    admin = KafkaAdminClient(**settings.streams.kafka.client_kwargs())
    try:
        group_id = settings.streams.app_id
        group = admin.describe_groups([group_id]).get(group_id) or {}
    finally:
        admin.close()
    return list(group.get("members") or ()) if group.get("group_state") == "Stable" else []


def healthz(address: str) -> dict:
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as response:
        return json.loads(response.read())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_processes_share_the_group_survive_a_killed_child_and_drain_on_sigterm(stack, tmp_path):
    port = two_free_ports()
    with TestSite(delay=0.02) as site:
        env = stack.agent_env(
            "p",
            site.allow,
            WARCFLOW_PARTITIONS="4",
            WARCFLOW_MEDIA_PER_PAGE="0",
            WARCFLOW_WORKER_METRICS=f"127.0.0.1:{port}",
        )
        worker = WorkerProcess(env, tmp_path / "worker.log", "--processes", "2")
        worker.start(timeout=180)
        try:
            ready = re.search(r"worker ready: 2 processes, pids (\d+), (\d+)", worker.log())
            assert ready, worker.log()
            first, second = int(ready[1]), int(ready[2])
            assert worker.proc is not None and worker.proc.pid not in (first, second)
            # each child is a member of the group and serves its own port
            poll(lambda: len(group_members(env)) == 2, timeout=60, what="two group members")
            for address in (f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"):
                poll(
                    lambda address=address: healthz(address)["status"] == "ok",
                    timeout=30,
                    what=f"/healthz at {address}",
                )

            urls = add_pages(site, "before", 20)
            assert cli("submit", *urls, env=env).returncode == 0
            poll(lambda: all_stored(env, urls), timeout=120, what="the captures to be stored")

            os.kill(second, signal.SIGKILL)
            restarted = poll(
                lambda: re.search(r"worker process 1 started again: pid (\d+)", worker.log()),
                timeout=60,
                what="the supervisor to restart the killed child",
            )
            assert f"worker process 1 (pid {second}) exited with signal SIGKILL" in worker.log()
            third = int(restarted[1])
            # the new child is in the group before the test goes on: the URLs below are
            # of one site, which one member owns (decision 0026), so they may all be done
            # by the other child before this one has even started
            poll(
                lambda: re.search(
                    r"\[worker 1\] warcflow: process 1 ready",
                    worker.log().split(restarted[0], 1)[1],
                ),
                timeout=90,
                what="the restarted child to be ready",
            )
            urls = add_pages(site, "after", 20)
            assert cli("submit", *urls, env=env).returncode == 0
            poll(lambda: all_stored(env, urls), timeout=120, what="the captures after the kill")
            poll(lambda: len(group_members(env)) == 2, timeout=60, what="two members again")

            started = time.monotonic()
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.proc.wait(DRAIN + 20) == 0, worker.log()
            # each child drains (DRAIN) and leaves the group (at most 5 s more)
            assert time.monotonic() - started < DRAIN + 5 + 3, worker.log()
            assert not any(alive(pid) for pid in (first, second, third))
            for child in (0, 1):  # each drained, by its own account
                assert re.search(rf"\[worker {child}\] .*worker stopped: ", worker.log())
        finally:
            worker.stop(signal.SIGKILL)
