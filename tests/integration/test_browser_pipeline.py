"""Browser capture end to end: `warcflow submit --browser` → real Kafka → worker
process (with its Chromium) → real S3 → viewer → replay in a real browser.

The post renders its text and its video only by script, and an image only when
scrolled to (tests/support/jsposts.py). What a user sees is checked: the
capture JSON says ``mode: "browser"`` with a ``screenshot_key``; the WARC holds
what the scripts fetched; the screenshot in S3 shows the rendered post (its
pixels, decoded); the viewer serves it as a PNG with a caption giving the URL
and the UTC time; the replay shows the script-rendered text; the video goes to
the media agent. A page that tries to load from a server outside the
allow-list gets those requests refused, and that server sees no request.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from warcio.archiveiterator import ArchiveIterator

from infra.processes import free_port
from tests.support import jsposts
from tests.support.observe import replay_frame
from tests.support.site import TestSite
from tests.support.stack import ViewerProcess, WorkerProcess, cli, poll, store_of

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def canary_site():
    """A server outside the allow-list: nothing may reach it."""
    with TestSite() as running:
        yield running


@pytest.fixture(scope="module")
def browser_stack(stack, module_site, canary_site, media_set, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (infra/system-deps.sh)")
    jsposts.install(module_site, canary_site.origin)
    module_site.serve_dir("/media/", media_set.root)
    env = stack.agent_env(
        "b",
        module_site.allow,
        WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
        WARCFLOW_BROWSER_IDLE_TIMEOUT="3",
        WARCFLOW_HOME=str(tmp_path_factory.mktemp("browser-worker-home")),
    )
    logs = Path(tmp_path_factory.mktemp("browser-logs"))
    worker = WorkerProcess(env, logs / "worker.log").start()
    viewer_env = {
        **env,
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path_factory.mktemp("browser-viewer-home")),
    }
    viewer = ViewerProcess(viewer_env, logs / "viewer.log").start()
    try:
        yield {
            "env": env,
            "site": module_site,
            "canary": canary_site,
            "worker": worker,
            "base": f"http://127.0.0.1:{viewer_env['WARCFLOW_VIEWER_PORT']}",
        }
    finally:
        viewer.stop()
        worker.stop()


def captures(env, url):
    result = cli("captures", url, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def captured(stack, url, *, media=0, timeout=120):
    """Submit ``url`` with --browser; the capture object once stored with ``media`` media done."""
    env = stack["env"]
    submitted = cli("submit", "--browser", url, "--json", env=env)
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)[0]["mode"] == "browser"

    def done():
        found = captures(env, url)
        if found and found[0]["status"] != "stored":
            raise AssertionError(f"capture failed: {found[0]}\n{stack['worker'].log()[-3000:]}")
        return (
            found[0]
            if found and sum(m["status"] == "stored" for m in found[0]["media"]) >= media
            else None
        )

    return poll(done, timeout=timeout, interval=0.5, what=f"a browser capture of {url}")


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, dict(answer.headers), answer.read()


def test_a_script_rendered_post_is_captured_with_its_screenshot(browser_stack, tmp_path):
    env, site = browser_stack["env"], browser_stack["site"]
    url = site.url("/post/js")
    capture = captured(browser_stack, url, media=1)

    assert capture["mode"] == "browser" and capture["http_status"] == 200
    day = capture["warc_key"][len("warc/") : len("warc/YYYY/MM/DD")]
    assert capture["screenshot_key"] == f"screenshots/{day}/{capture['capture_id']}.png"
    [clip] = capture["media"]
    assert clip["source_url"] == site.url(jsposts.JS_VIDEO) and clip["width"] == 320

    warc = tmp_path / "capture.warc.gz"
    assert cli("get", capture["capture_id"], "-o", str(warc), env=env).returncode == 0
    responses, resources = {}, []
    for record in ArchiveIterator(io.BytesIO(warc.read_bytes()), check_digests="raise"):
        if record.rec_type == "response":
            responses[record.rec_headers.get_header("WARC-Target-URI")] = (
                record.content_stream().read()
            )
        elif record.rec_type == "resource":
            resources.append(record.content_stream().read())
    # what only the scripts (and the scroll) asked for is in the WARC
    assert json.loads(responses[site.url("/api/post.json")])["text"] == jsposts.JS_TEXT
    assert site.url("/static/render.js") in responses
    assert responses[site.url("/img/lazy.png")] == site.routes["/img/lazy.png"].body

    store = store_of(env)
    png = store.get_bytes(capture["screenshot_key"])
    assert resources == [png]  # the S3 object is the WARC's resource record
    shot = tmp_path / "shot.png"
    assert (
        cli("get", capture["capture_id"], "--screenshot", "-o", str(shot), env=env).returncode == 0
    )
    assert shot.read_bytes() == png
    seen = jsposts.colours(png)
    assert len(seen) > 3 and max(seen.values()) < sum(seen.values()), "a blank screenshot"
    assert seen.get((0x12, 0x3D, 0x7A), 0) > 50, "the rendered post is not in the screenshot"
    assert any(r > 200 and g > 180 and b < 120 for r, g, b in seen), "no post text in it"

    # the viewer serves it, as a PNG nothing in can run
    base = browser_stack["base"]
    poll(
        lambda: fetch(f"{base}/api/captures?url={quote_plus(url)}")[2] != b"[]",
        timeout=60,
        what="the viewer's catalog to have the capture",
    )
    status, headers, body = fetch(f"{base}/capture/{capture['capture_id']}/screenshot")
    assert status == 200 and headers["content-type"] == "image/png" and body == png
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    api = json.loads(fetch(f"{base}/api/captures/{capture['capture_id']}")[2])
    assert api["capture"]["mode"] == "browser"
    assert api["capture"]["screenshot_key"] == capture["screenshot_key"]
    assert api["manifest"]["screenshot"]["sha256"] == hashlib.sha256(png).hexdigest()


def test_the_browser_cannot_reach_a_server_outside_the_allow_list(browser_stack):
    site, canary = browser_stack["site"], browser_stack["canary"]
    capture = captured(browser_stack, site.url("/post/js-canary"))
    assert capture["status"] == "stored" and capture["outcome"] == "partial"
    assert "3 page requisite(s) could not be fetched" in capture["missing"]
    assert canary.hits == {}, f"the canary server was reached: {canary.hits}"


def test_the_viewer_shows_the_screenshot_and_replays_the_rendered_post(browser_stack):
    from playwright.sync_api import sync_playwright

    site, base = browser_stack["site"], browser_stack["base"]
    url = site.url("/post/js")
    found = captures(browser_stack["env"], url)
    capture = found[0] if found else captured(browser_stack, url)
    poll(
        lambda: fetch(f"{base}/api/captures?url={quote_plus(url)}")[2] != b"[]",
        timeout=60,
        what="the viewer's catalog to have the capture",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/url?u={quote_plus(url)}")
            thumb = page.locator("figure.thumb img")
            assert thumb.count() == 1
            page.goto(f"{base}/capture/{capture['capture_id']}")
            shot = page.locator("section.screenshot img")
            shot.wait_for()
            page.wait_for_function(
                "document.querySelector('section.screenshot img').naturalWidth > 0"
            )
            assert shot.evaluate("img => img.naturalWidth") == 1280
            caption = page.inner_text("section.screenshot figcaption")
            assert url in caption and " UTC" in caption and capture["fetched_at"][:10] in caption

            frame = replay_frame(page)
            frame.wait_for_selector(f"text={jsposts.JS_TEXT}", timeout=30_000)
            assert frame.locator("video#clip").count() == 1
            page.screenshot(path=str(ARTIFACTS / "browser-capture-page.png"), full_page=True)
        finally:
            browser.close()
