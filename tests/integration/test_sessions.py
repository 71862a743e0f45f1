"""Behind the login wall, end to end (issue 17): `warcflow session add` → a worker
(real Kafka, real S3, Debian's Chromium) capturing a platform's walled posts.

The platform (tests/support/platform.py) shows a post, its image and its video
only to a valid ``auth_token`` cookie, redirects everyone else to its login
page, and sets a fresh ``ct0`` secret on every logged-in answer. What a user
sees is asserted: with only a spent session, the capture is tried again
through the retry topic and ends ``login_wall`` naming the session, which
`session list` shows ``expired``; with a good session added, a static and a
browser capture hold the post and name the session, and the video is stored
by the media agent with the same session; `session test` tells a good session
from a spent one. The operator is told of the spent session once: the webhook
receiver (on 127.0.0.1, started by the test) gets one ``session_expired`` event
naming it, and the worker's /metrics shows it expired. No secret — not the
session's cookie, not one ``ct0`` the platform handed out — is in any stored
object, any topic message, the worker's log or a webhook's body.
"""

from __future__ import annotations

import gzip
import json
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from infra.processes import free_port
from tests.support.hooks import WebhookReceiver
from tests.support.observe import media_of, read_topic
from tests.support.platform import LOGIN, Platform, cookies_txt
from tests.support.stack import WorkerProcess, cli, kafka_of, poll, store_of

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def walled(stack, module_site, media_set, tmp_path_factory):
    platform = Platform(module_site, clip=media_set.path("clip.mp4").read_bytes())
    home = tmp_path_factory.mktemp("sessions-worker-home")
    with WebhookReceiver() as hook:
        metrics = f"127.0.0.1:{free_port()}"
        env = stack.agent_env(
            "l",
            module_site.allow,
            WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
            WARCFLOW_BROWSER_IDLE_TIMEOUT="3",
            WARCFLOW_HOME=str(home),
            WARCFLOW_SESSION_WEBHOOK=hook.url,
            WARCFLOW_WORKER_METRICS=metrics,
        )
        worker = WorkerProcess(env, Path(tmp_path_factory.mktemp("sessions-logs")) / "worker.log")
        worker.start()
        try:
            yield {
                "env": env,
                "platform": platform,
                "worker": worker,
                "home": home,
                "hook": hook,
                "metrics": f"http://{metrics}/metrics",
            }
        finally:
            worker.stop()


def add_session(walled, token: str, handle: str, tmp_path) -> str:
    cookies = tmp_path / f"{handle.strip('@')}_cookies.txt"
    cookies.write_text(cookies_txt(walled["platform"].site, token))
    site = walled["platform"].site.host
    done = cli(
        "session", "add", site, "--cookies", str(cookies), "--handle", handle, "--json",
        env=walled["env"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def capture_of(env, url, *, browser=False):
    submitted = cli("submit", *(["--browser"] if browser else []), url, env=env)
    assert submitted.returncode == 0, submitted.stderr

    def done():
        found = json.loads(cli("captures", url, "--json", env=env).stdout)
        return found[0] if found and found[0]["status"] in ("stored", "failed") else None

    return poll(done, timeout=180, interval=0.5, what=f"the capture of {url}")


def sessions_listed(env) -> dict:
    listed = cli("session", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return {s["id"]: s for s in json.loads(listed.stdout)}


def test_logged_in_posts_are_captured_and_name_their_session_never_a_secret(walled, tmp_path):
    env, platform = walled["env"], walled["platform"]
    spent_token, good_token = platform.token(uses=0), platform.token()

    # 1. only a spent session: detected, marked, the capture retried, then a login wall
    spent = add_session(walled, spent_token, "@spent_account", tmp_path)
    walledoff = capture_of(env, platform.url(1))
    assert walledoff["outcome"] == "login_wall" and walledoff["final_url"].endswith(LOGIN)
    assert walledoff["session"]["id"] is None
    assert spent in walledoff["session"]["unavailable"][0]
    assert "expired" in walledoff["session"]["unavailable"][0]
    assert sessions_listed(env)[spent]["state"] == "expired"
    # the operator is told: the webhook's receiver got the event, /metrics shows it
    hook, site = walled["hook"], platform.site.host
    [post] = poll(hook.received, timeout=30, what="the webhook's POST")
    assert post["body"]["event"] == "session_expired"
    assert post["body"]["session"] == {"id": spent, "site": site, "handle": "@spent_account"}
    assert "login" in post["body"]["reason"] and post["body"]["at"].endswith("Z")
    assert post["path"] == f"/hook/{hook.token}"
    assert post["body"]["worker"].endswith(f":{walled['worker'].proc.pid}")  # host:pid
    with urllib.request.urlopen(walled["metrics"], timeout=10) as answer:
        scraped = answer.read().decode()
    assert f'warcflow_sessions{{site="{site}",state="expired"}} 1.0' in scraped
    assert f'warcflow_sessions{{site="{site}",state="active"}} 0.0' in scraped
    assert f'warcflow_sessions_marked_total{{site="{site}",state="expired"}} 1.0' in scraped

    # 2. a good session: the post in a static and a browser capture, its video stored
    good = add_session(walled, good_token, "@research_account", tmp_path)
    named = {"id": good, "site": platform.site.host, "handle": "@research_account"}
    static = capture_of(env, platform.url(2))
    assert static["outcome"] == "ok" and static["session"] == named
    assert static["final_url"] == platform.url(2)
    browser = capture_of(env, platform.url(3), browser=True)
    assert browser["mode"] == "browser" and browser["outcome"] == "ok"
    assert browser["session"] == named
    media = media_of(env, platform.url(2))["media"][0]
    assert media["status"] == "stored", media
    assert media["session"] == named
    store = store_of(env)
    assert store.get_bytes(media["key"]) == platform.clip  # the full-quality clip
    listed = sessions_listed(env)
    assert listed[good]["state"] == "active" and listed[good]["uses"] >= 3

    # 2b. a second session that has expired meanwhile: it goes first (used least
    # recently), is found out and marked, and the retry with the good one succeeds
    lapsed = add_session(walled, platform.token(uses=0), "@lapsed_account", tmp_path)
    retried = capture_of(env, platform.url(5))
    assert retried["outcome"] == "ok" and retried["session"] == named
    assert sessions_listed(env)[lapsed]["state"] == "expired"

    # the custody ledger's entry of the capture names the session too
    def entry():
        audit = json.loads(cli("audit", static["capture_id"], "--json", env=env).stdout)
        found = [e for e in audit["captures"][0]["custody"] if e["event"] == "capture"]
        return found[0] if found else None

    assert (
        poll(entry, timeout=60, interval=0.5, what="the ledger entry")["detail"]["session"] == named
    )

    # 3. `session test` tells them apart (exit 0 only when logged in)
    tested = cli("session", "test", good, platform.url(4), "--json", env=env)
    assert tested.returncode == 0 and json.loads(tested.stdout)[0]["state"] == "active"
    tested = cli("session", "test", spent, platform.url(4), "--json", env=env)
    assert tested.returncode == 1 and json.loads(tested.stdout)[0]["state"] == "expired"
    # one event per session marked: the retries, the good session's captures
    # and `session test` told the webhook nothing more
    assert [p["body"]["session"]["id"] for p in hook.received()] == [spent, lapsed]

    # 4. no secret anywhere: stored objects, every topic's messages, the worker's log
    secrets = [*platform.tokens, *platform.fresh]
    assert len(secrets) > 10  # the platform did hand out fresh ones
    leaks = []
    for key in store.list_keys(""):
        data = store.get_bytes(key)
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        leaks += [f"s3://{key}" for s in secrets if s.encode() in data]
    for topic in _topics(env):
        for message in read_topic(env, topic, "admin"):
            leaks += [f"topic {topic}" for s in secrets if s.encode() in (message.value or b"")]
    log = walled["worker"].log()
    leaks += ["the worker's log" for s in secrets if s in log]
    leaks += ["the webhook" for s in secrets if s in json.dumps(hook.received())]
    assert leaks == []
    # the WARCs say which session saw the post, in the records themselves
    warc = store.get_bytes(static["warc_key"])
    assert f"withheld-by-warcflow (session {good})".encode() in gzip.decompress(warc)


def _topics(env) -> list[str]:
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    consumer = KafkaConsumer(**kafka_of(env, "admin").client_kwargs())
    try:
        return sorted(t for t in consumer.topics() if t.startswith(prefix + "."))
    finally:
        consumer.close()
