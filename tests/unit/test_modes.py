"""Which mode a submission gets: its own choice, else the site rules; and how the
mode travels in SubmitRequest messages (old messages without it still decode)."""

import json
from datetime import UTC, datetime

import pytest

from archivers.capture.modes import SCRIPT_HEAVY_SITES, choose_mode, matches, parse_sites
from archivers.manifests.manifest import Manifest
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import SubmitRequest, decode_submit, submit_requests
from warcflow.settings import SettingsError, load_settings

WHEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def message(value: bytes) -> SourceMessage:
    return SourceMessage("warcflow.ingest", 0, 3, 1764000000123, b"k", value)


@pytest.mark.parametrize(
    "url, rule",
    [
        ("https://x.com/someone/status/1", "x.com"),
        ("https://mobile.x.com/someone/status/1", "x.com"),
        ("https://WWW.Instagram.com/p/abc/", "instagram.com"),
        ("https://notx.com/post/1", None),
        ("https://x.com.evil.example/post", None),
        ("https://example.org/x.com", None),
    ],
)
def test_default_rules_match_hosts_and_subdomains_only(url, rule):
    assert matches(url, SCRIPT_HEAVY_SITES) == rule


def test_a_rule_with_a_port_matches_that_port_only():
    rules = parse_sites("127.0.0.1:8080, *.Example.org")
    assert rules == ("127.0.0.1:8080", "example.org")
    assert matches("http://127.0.0.1:8080/post", rules) == "127.0.0.1:8080"
    assert matches("http://127.0.0.1:8081/post", rules) is None
    assert matches("https://a.example.org/", rules) == "example.org"


@pytest.mark.parametrize(
    "requested, url, chosen",
    [
        ("auto", "https://x.com/a/status/1", "browser"),
        ("auto", "https://example.org/post/1", "static"),
        ("static", "https://x.com/a/status/1", "static"),
        ("browser", "https://example.org/post/1", "browser"),
    ],
)
def test_the_submission_decides_and_auto_asks_the_rules(requested, url, chosen):
    assert choose_mode(requested, url, SCRIPT_HEAVY_SITES) == chosen


@pytest.mark.parametrize("text", ["https://x.com", "x.com/path", "a b", "host:port"])
def test_bad_site_rules_are_refused_by_name(text):
    with pytest.raises(SettingsError, match="WARCFLOW_BROWSER_SITES"):
        load_settings({"WARCFLOW_BROWSER_SITES": text})


def test_settings_carry_the_browser_options():
    settings = load_settings(
        {"WARCFLOW_BROWSER_SITES": "a.example, b.example:8443", "WARCFLOW_BROWSER_CONCURRENCY": "3"}
    )
    assert settings.browser.sites == ("a.example", "b.example:8443")
    assert settings.browser.concurrency == 3
    assert load_settings({}).browser.sites == SCRIPT_HEAVY_SITES


def test_mode_round_trips_and_old_messages_mean_auto():
    request = SubmitRequest.new("https://example.org/p/1", submitted_at=WHEN, mode="browser")
    assert json.loads(request.to_json())["mode"] == "browser"
    assert decode_submit(message(request.to_json())) == request
    old = {
        "schema": "warcflow.SubmitRequest",
        "version": 1,
        "url": "https://example.org/p/1",
        "submitted_at": "2026-11-25T10:00:00Z",
        "request_id": "r-1",
    }
    assert decode_submit(message(json.dumps(old).encode())).mode == "auto"
    assert decode_submit(message(b"https://example.org/p/2")).mode == "auto"


def test_an_unknown_mode_is_refused():
    bad = {
        "schema": "warcflow.SubmitRequest",
        "version": 1,
        "url": "https://example.org/p/1",
        "submitted_at": "2026-11-25T10:00:00Z",
        "request_id": "r-1",
        "mode": "headful",
    }
    with pytest.raises(Undecodable) as refused:
        decode_submit(message(json.dumps(bad).encode()))
    assert refused.value.reason == "bad_field"
    _requests, problems = submit_requests(
        [("argument 1", "https://example.org/")], submitted_at=WHEN, source="cli", mode="fancy"
    )
    assert problems and "mode" in problems[0]


def test_capture_json_says_the_mode_and_old_manifests_are_static():
    old = Manifest(
        capture_id="01M894TV61TJ0X30734E5QKMXK",
        url="https://example.org/",
        surt="org,example)/",
        status="stored",
        submitted_at="2026-11-25T10:00:00Z",
    )
    assert old.summary()["mode"] == "static" and old.summary()["screenshot_key"] is None
    shot = Manifest.from_json(
        Manifest(
            capture_id="01M894TV61TJ0X30734E5QKMXK",
            url="https://x.com/a/status/1",
            surt="com,x)/a/status/1",
            status="stored",
            submitted_at="2026-11-25T10:00:00Z",
            mode="browser",
            screenshot_key="screenshots/2026/11/25/01M894TV61TJ0X30734E5QKMXK.png",
        ).to_json()
    )
    assert shot.summary()["mode"] == "browser"
    assert shot.summary()["screenshot_key"].endswith(".png")


def _archiver(site, sites):
    from archivers.capture.archiver import PageArchiver
    from archivers.net.addresses import parse_allow_list
    from archivers.net.fetcher import Fetcher, FetchSettings
    from archivers.store.memory import MemoryStore

    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    return PageArchiver(
        fetcher, MemoryStore(), agent={"name": "warcflow"}, browser=None, browser_sites=sites
    )


def _request(url, mode):
    from archivers.capture.archiver import CaptureRequest
    from archivers.store import layout

    cid = layout.capture_id("warcflow.ingest", 0, 1, int(WHEN.timestamp() * 1000))
    return CaptureRequest(cid, url, WHEN, mode=mode)


def test_without_a_browser_site_rules_fall_back_to_static_and_say_so(site):
    import asyncio

    archiver = _archiver(site, (site.allow,))
    manifest = asyncio.run(archiver.capture(_request(site.url("/post/1"), "auto"))).manifest
    assert manifest.status == "stored" and manifest.mode == "static"
    assert manifest.outcome == "partial"
    assert any("WARCFLOW_BROWSER_SITES" in line for line in manifest.missing)


def test_without_a_browser_an_explicit_browser_capture_fails_permanently(site):
    import asyncio

    from archivers.errors import Permanent

    archiver = _archiver(site, ())
    with pytest.raises(Permanent) as refused:
        asyncio.run(archiver.capture(_request(site.url("/post/1"), "browser")))
    assert refused.value.reason == "browser_unavailable"
    failed = asyncio.run(
        archiver.record_failure(
            _request(site.url("/post/1"), "browser"), reason="browser_unavailable", message="x"
        )
    )
    assert failed.manifest.mode == "browser" and failed.manifest.status == "failed"


def test_chromium_gets_no_warcflow_variable_and_never_the_no_sandbox_flag(monkeypatch):
    # review F6: Playwright used to hand Chromium the worker's whole environment
    from archivers.capture.browser import LAUNCH_ARGS, browser_environment

    monkeypatch.setenv("WARCFLOW_S3_SECRET_KEY", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    env = browser_environment("/tmp/x")
    assert not [name for name in env if "SECRET" in name or name.startswith("WARCFLOW_")]
    assert "secret" not in env.values()
    assert "--no-sandbox" not in LAUNCH_ARGS
    assert "--webrtc-ip-handling-policy=disable_non_proxied_udp" in LAUNCH_ARGS


def test_the_launcher_stays_roots_and_only_chromiums_home_is_given_away(tmp_path):
    # Chromium runs as nobody: if it could edit its launcher, root would run that
    # at the next launch
    import os
    import pwd

    from archivers.capture.browser import fenced_launcher

    launchers, home = tmp_path / "launcher", tmp_path / "home"
    launchers.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    script = fenced_launcher(str(launchers), "/usr/bin/chromium", "nobody", str(home))
    nobody = pwd.getpwnam("nobody")
    assert os.stat(script).st_uid == os.geteuid() and os.stat(script).st_mode & 0o077 == 0
    assert os.stat(launchers).st_uid == os.geteuid()
    assert os.stat(home).st_uid == nobody.pw_uid  # (the worker is root here, as in CI)
    text = open(script).read()
    assert "--no-new-privs" in text and "unshare --net" in text.replace("/usr/bin/", "")
    assert "chown -hR" in text.replace("/usr/bin/", "").replace("/bin/", "")
