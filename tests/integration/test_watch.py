"""Discovery on the real broker: watchers in `warcflow worker` find new posts on a
feed, a Telegram-like channel preview, a sitemap and a timeline page served by a
local site, and submit each exactly once to the ingest topic — across a stop
and restart of the worker, including posts published while it was down.

What is asserted is what a user sees: the SubmitRequests on the ingest topic
(URL, source `watch:<id>`, tags), `warcflow watch list --json`, the worker's
/metrics, and the CLI's exit codes.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections import Counter

import pytest

from infra.processes import free_port
from streams.clients.reader import read_topic
from tests.support.site import TestSite
from tests.support.sources import Sources
from tests.support.stack import WorkerProcess, cli, kafka_of, poll

pytestmark = pytest.mark.integration

KINDS = ("feed", "telegram", "sitemap", "links")


def watch_submissions(env: dict, prefix: str) -> list[dict]:
    """Every SubmitRequest a watcher put on the ingest topic so far."""
    docs = [json.loads(m.value) for m in read_topic(kafka_of(env, "operator"), f"{prefix}.ingest")]
    return [d for d in docs if d.get("source", "").startswith("watch:")]


def wait_for_urls(env, prefix, wanted: set[str], timeout=60) -> list[dict]:
    def found():
        docs = watch_submissions(env, prefix)
        return docs if wanted <= {d["url"] for d in docs} else None

    return poll(found, timeout=timeout, interval=0.5, what=f"watchers to submit {sorted(wanted)}")


def wait_for_polls(site: TestSite, paths, more: int = 2, timeout=60) -> None:
    """Until every watched path has been fetched ``more`` more times (later polls
    happened, and could have resubmitted)."""
    start = {p: site.count(p) for p in paths}
    poll(
        lambda: all(site.count(p) >= start[p] + more for p in paths),
        timeout=timeout,
        interval=0.3,
        what=f"{more} more polls of {list(paths)}",
    )


def metrics_text(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        return answer.read().decode()


@pytest.fixture
def watched(stack, tmp_path):
    prefix = f"w{uuid.uuid4().hex[:8]}"
    with TestSite() as site:
        metrics = f"127.0.0.1:{free_port()}"
        env = stack.env(
            WARCFLOW_TOPIC_PREFIX=prefix,
            WARCFLOW_S3_BUCKET=f"{prefix}-bucket",
            WARCFLOW_FETCH_ALLOW=site.allow,
            WARCFLOW_PARTITIONS="2",
            WARCFLOW_WATCH_MIN_EVERY="0.5",
            WARCFLOW_WATCH_MAX_BACKOFF="2",
            WARCFLOW_WORKER_METRICS=metrics,
        )
        stack.provision(env)
        worker = WorkerProcess(env, tmp_path / "worker.log")
        try:
            yield {
                "env": env,
                "site": site,
                "prefix": prefix,
                "worker": worker,
                "sources": Sources(site),
                "metrics": metrics,
            }
        finally:
            worker.stop()


def test_new_posts_are_submitted_once_across_a_worker_restart(watched):
    env, site, prefix = watched["env"], watched["site"], watched["prefix"]
    sources, worker = watched["sources"], watched["worker"]
    sources.publish(1, 2)
    worker.start()

    paths = {
        "feed": sources.feed,
        "telegram": sources.channel,
        "sitemap": sources.sitemap,
        "links": sources.timeline,
    }
    ids = {}
    for kind in KINDS:
        extra = ["--pattern", sources.pattern] if kind == "links" else []
        added = cli(
            "watch",
            "add",
            kind,
            site.url(paths[kind]),
            "--every",
            "1",
            "--tag",
            "kazan",
            "--tag",
            kind,
            "--json",
            *extra,
            env=env,
        )
        assert added.returncode == 0, added.stderr
        doc = json.loads(added.stdout)
        assert doc["kind"] == kind and doc["topic"] == f"{prefix}.watches"
        ids[kind] = doc["id"]

    def expected(*numbers):
        return {kind: set().union(*(sources.expected(n)[kind] for n in numbers)) for kind in KINDS}

    # first poll: what the sources list now
    first = expected(1, 2)
    wait_for_urls(env, prefix, set().union(*first.values()))

    # new posts appear between polls
    sources.publish(3)
    wait_for_urls(env, prefix, set().union(*expected(3).values()))
    wait_for_polls(site, paths.values())

    # the worker stops; posts appear while it is down; it starts again
    worker.stop()
    sources.publish(4, 5)
    worker.start()
    wait_for_urls(env, prefix, set().union(*expected(4, 5).values()))
    wait_for_polls(site, paths.values())

    docs = watch_submissions(env, prefix)
    everything = expected(1, 2, 3, 4, 5)
    by_url = Counter(d["url"] for d in docs)
    assert set(by_url) == set().union(*everything.values())
    assert [u for u, n in by_url.items() if n > 1] == []  # each exactly once
    for kind in KINDS:
        mine = [d for d in docs if d["source"] == f"watch:{ids[kind]}"]
        assert {d["url"] for d in mine} == everything[kind], kind
        assert all(d["tags"] == ["kazan", kind] for d in mine)
    photo = next(d for d in docs if d["url"] == site.url("/media/3.png"))
    assert photo["note"] == f"media of {site.url('/wartracker/3')}"

    listed = cli("watch", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    seen = {w["id"]: w["seen"] for w in json.loads(listed.stdout)}
    assert seen == {ids["feed"]: 5, ids["telegram"]: 5, ids["sitemap"]: 5, ids["links"]: 5}


def test_a_broken_source_is_counted_and_retried_and_remove_stops_a_watch(watched):
    site, sources, worker = watched["site"], watched["sources"], watched["worker"]
    from_settings = {
        "kind": "sitemap",
        "url": site.url(sources.sitemap),
        "every": 0.5,
        "tags": ["from-settings"],
    }
    env = dict(watched["env"], WARCFLOW_WATCHES=json.dumps([from_settings]))
    worker.env = dict(worker.env, WARCFLOW_WATCHES=env["WARCFLOW_WATCHES"])
    sources.publish(1)
    worker.start()
    broken = cli("watch", "add", "feed", site.url("/broken.xml"), "--every", "0.5", env=env)
    assert broken.returncode == 0, broken.stderr
    watch_id = broken.stdout.split()[0]
    feed = cli("watch", "add", "feed", site.url(sources.feed), "--every", "0.5", env=env)
    assert feed.returncode == 0, feed.stderr

    # retried with backoff (0.5 s, 1 s, then 2 s: WARCFLOW_WATCH_MAX_BACKOFF), counted
    poll(lambda: site.count("/broken.xml") >= 3, timeout=60, what="three polls of the broken feed")
    text = poll(
        lambda: (lambda t: t if 'reason="not_xml"' in t else None)(
            metrics_text(watched["metrics"])
        ),
        timeout=30,
        what="the failure in /metrics",
    )
    assert 'warcflow_watch_failures_total{kind="feed",reason="not_xml"}' in text
    assert worker.proc.poll() is None  # the worker is unharmed
    wait_for_urls(env, watched["prefix"], sources.expected(1)["feed"])

    # the settings' watch runs beside the topic's, and is removed in the settings only
    [page] = [
        d
        for d in wait_for_urls(env, watched["prefix"], sources.expected(1)["sitemap"])
        if d["url"] in sources.expected(1)["sitemap"]
    ]
    assert page["tags"] == ["from-settings"]
    settings_id = page["source"].removeprefix("watch:")
    assert cli("watch", "remove", settings_id, env=env).returncode == 2

    removed = cli("watch", "remove", watch_id, env=env)
    assert removed.returncode == 0, removed.stderr
    assert cli("watch", "remove", watch_id, env=env).returncode == 4  # gone already
    listed = json.loads(cli("watch", "list", "--json", env=env).stdout)
    assert sorted((w["url"], w["origin"], w["seen"]) for w in listed) == [
        (site.url(sources.feed), "topic", 1),
        (site.url(sources.sitemap), "settings", 1),
    ]
    # once the worker has seen the removal, the broken feed is no longer fetched
    wait_for_polls(site, [sources.feed], more=2)
    after = site.count("/broken.xml")
    wait_for_polls(site, [sources.feed], more=4)
    assert site.count("/broken.xml") == after


def test_watch_commands_refuse_bad_input_and_an_absent_broker(stack):
    env = stack.env(WARCFLOW_TOPIC_PREFIX=f"x{uuid.uuid4().hex[:8]}")
    stack.provision(env)
    assert cli("watch", "add", "links", "https://example.org/", env=env).returncode == 2
    assert cli("watch", "add", "rss", "https://example.org/", env=env).returncode == 2
    assert cli("watch", "add", "feed", "file:///etc/passwd", env=env).returncode == 2
    short = cli("watch", "add", "feed", "https://example.org/f", "--every", "1", env=env)
    assert short.returncode == 2 and "WARCFLOW_WATCH_MIN_EVERY" in short.stderr
    assert cli("watch", "remove", "wdoesnotexist", env=env).returncode == 4
    away = dict(env, WARCFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    result = cli("watch", "list", env=away)
    assert result.returncode == 3 and "cannot reach" in result.stderr


def test_with_two_workers_one_polls_and_the_other_takes_over(watched, tmp_path):
    env, site, prefix, sources = (
        watched["env"],
        watched["site"],
        watched["prefix"],
        watched["sources"],
    )
    first = watched["worker"]
    second = WorkerProcess(
        dict(env, WARCFLOW_WORKER_METRICS=f"127.0.0.1:{free_port()}"), tmp_path / "second.log"
    )
    sources.publish(1, 2)
    first.start()
    try:
        second.start()
        added = cli("watch", "add", "feed", site.url(sources.feed), "--every", "0.5", env=env)
        assert added.returncode == 0, added.stderr
        watch_id = added.stdout.split()[0]
        wait_for_urls(env, prefix, sources.expected(1)["feed"] | sources.expected(2)["feed"])
        wait_for_polls(site, [sources.feed], more=3)
        polling = [w for w in (first, second) if f"watch {watch_id}" in w.log()]
        assert len(polling) == 1  # the group's leader only

        polling[0].stop()  # the leader goes; the other worker takes the lead
        [other] = [w for w in (first, second) if w is not polling[0]]
        sources.publish(3)
        wait_for_urls(env, prefix, sources.expected(3)["feed"], timeout=90)
        wait_for_polls(site, [sources.feed], more=2)
        urls = Counter(d["url"] for d in watch_submissions(env, prefix))
        assert urls == Counter({site.url(f"/posts/{n}"): 1 for n in (1, 2, 3)})
        assert f"watch {watch_id}" in other.log()
    finally:
        second.stop()
