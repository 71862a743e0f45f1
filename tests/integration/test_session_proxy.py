"""A session with a proxy, end to end (issue 17): `warcflow session add --proxy`
→ a worker (real Kafka, real S3, Debian's Chromium) capturing a platform's
walled post through a local CONNECT proxy (tests/support/proxy.py) that
requires a user and password and records each tunnel's target.

What a user sees is asserted: the static capture (page, requisites, the
video the media agent stores) and a browser capture are ``ok`` and name the
session and the proxy's ``host:port``; every request the platform answered
came through a tunnel of the proxy, each to the address warcflow checked;
`session test` goes through it too, and a wrong proxy password is refused
with the proxy named. The proxy's password is in no stored object, no topic
message and not the worker's log.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from archivers.store import layout
from tests.integration.test_sessions import _topics, capture_of
from tests.support.observe import media_of, read_topic
from tests.support.platform import Platform, cookies_txt
from tests.support.proxy import ConnectProxy
from tests.support.stack import WorkerProcess, cli, poll, store_of

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "proxy-pw-" + "7c1d9e"


@pytest.fixture(scope="module")
def proxied(stack, module_site, media_set, tmp_path_factory):
    platform = Platform(module_site, clip=media_set.path("clip.mp4").read_bytes())
    home = tmp_path_factory.mktemp("proxy-worker-home")
    env = stack.agent_env(
        "p",
        module_site.allow,  # the platform on 127.0.0.1; the proxy needs no allow rule
        WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
        WARCFLOW_BROWSER_IDLE_TIMEOUT="3",
        WARCFLOW_HOME=str(home),
    )
    with ConnectProxy(user="agent", password=PASSWORD) as proxy:
        worker = WorkerProcess(env, Path(tmp_path_factory.mktemp("proxy-logs")) / "worker.log")
        worker.start()
        try:
            yield {"env": env, "platform": platform, "proxy": proxy, "worker": worker}
        finally:
            worker.stop()


def add_session(env, platform, token, handle, proxy_url, tmp_path) -> dict:
    cookies = tmp_path / f"{handle.strip('@')}_cookies.txt"
    cookies.write_text(cookies_txt(platform.site, token))
    proxy_file = tmp_path / f"{handle.strip('@')}_proxy.txt"  # the password off the command line
    proxy_file.write_text(proxy_url + "\n")
    done = cli(
        "session", "add", platform.site.host, "--cookies", str(cookies), "--handle", handle,
        "--proxy", f"@{proxy_file}", "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_proxied_session_captures_through_its_proxy_and_keeps_its_password(proxied, tmp_path):
    env, platform, proxy = proxied["env"], proxied["platform"], proxied["proxy"]
    site = platform.site
    added = add_session(env, platform, platform.token(), "@research_account", proxy.url(), tmp_path)
    good = added["id"]
    assert added["proxy"] == proxy.address
    assert added["proxy_url"] == f"http://agent:***@{proxy.address}"
    listed = cli("session", "list", env=env)
    assert f"http://agent:***@{proxy.address}" in listed.stdout

    requests_before = sum(site.hits.values())
    named = {"id": good, "site": site.host, "handle": "@research_account", "proxy": proxy.address}
    static = capture_of(env, platform.url(1))
    assert static["outcome"] == "ok" and static["session"] == named, static
    assert static["final_url"] == platform.url(1)
    store = store_of(env)
    manifest = json.loads(
        store.get_bytes(layout.manifest_key(platform.url(1), static["capture_id"]))
    )
    # the connection: from this end of the one to the proxy, to the origin's checked address
    assert manifest["network"]["proxy"] == proxy.address
    assert manifest["network"]["remote_address"] == f"127.0.0.1:{site.port}"
    media = media_of(env, platform.url(1))["media"][0]
    assert media["status"] == "stored" and media["session"] == named, media
    assert store.get_bytes(media["key"]) == platform.clip
    browser = capture_of(env, platform.url(2), browser=True)
    assert browser["mode"] == "browser" and browser["outcome"] == "ok", browser
    assert browser["session"] == named

    # the page, its stylesheet and image, the video, everything Chromium asked for:
    # every request the platform answered came through a tunnel, to the checked address
    for path in ("/status/1", "/static/site.css", "/walled/photo1.png", "/walled/clip1.mp4"):
        assert site.count(path) >= 1, path
    assert site.count("/status/2") >= 1
    served = sum(site.hits.values()) - requests_before
    tunnels = proxy.targets()
    assert set(tunnels) == {f"127.0.0.1:{site.port}"}
    assert len(tunnels) == served  # one tunnel a request (Connection: close): none went around
    assert all(proxy.carried())  # each carried its answer: none opened, then gone around

    # the custody ledger's entry names the proxy too, and the export's report says so
    def entry():
        audit = json.loads(cli("audit", static["capture_id"], "--json", env=env).stdout)
        found = [e for e in audit["captures"][0]["custody"] if e["event"] == "capture"]
        return found[0] if found else None

    ledger = poll(entry, timeout=60, interval=0.5, what="the ledger entry")
    assert ledger["detail"]["session"] == named

    # `session test` goes through the proxy; a wrong proxy password is refused, named
    before = len(proxy.targets())
    tested = cli("session", "test", good, platform.url(3), "--json", env=env)
    assert tested.returncode == 0 and json.loads(tested.stdout)[0]["state"] == "active"
    assert len(proxy.targets()) == before + 1
    wrong = add_session(
        env, platform, platform.token(), "@other_account", proxy.url(password="not-it"), tmp_path
    )
    tested = cli("session", "test", wrong["id"], platform.url(3), "--json", env=env)
    assert tested.returncode == 3, tested.stderr  # UNAVAILABLE: the site could not be asked
    why = json.loads(tested.stdout)[0]["why"]
    assert f"the proxy {proxy.address} answered 407" in why and "not-it" not in why
    assert cli("session", "remove", wrong["id"], env=env).returncode == 0

    # the proxy's password: in no stored object, topic message or the worker's log
    leaks = []
    for key in store.list_keys(""):
        data = store.get_bytes(key)
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        leaks += [f"s3://{key}"] if PASSWORD.encode() in data else []
    for topic in _topics(env):
        for message in read_topic(env, topic, "admin"):
            leaks += [f"topic {topic}"] if PASSWORD.encode() in (message.value or b"") else []
    leaks += ["the worker's log"] if PASSWORD in proxied["worker"].log() else []
    assert leaks == []
    # and the WARC's metadata record says the capture went through the proxy
    warc = gzip.decompress(store.get_bytes(static["warc_key"]))
    assert f'"proxy": "{proxy.address}"'.encode() in warc
    assert b"CONNECT " not in warc and b"Proxy-Authorization" not in warc
