"""In a real browser (Debian's chromium, driven by Playwright): the Kazan case.

A post with a video is captured; the poster deletes it (the site answers 404);
a person opens the viewer, finds the timeline, opens the capture, and the
replay shows the post's text with its video playing. Archived pages run on
the replay origin and cannot read the viewer's cookies or DOM.
Screenshots go to tests/artifacts/ (kept by CI, not committed).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from infra.processes import free_port
from tests.support import media as testmedia
from tests.support.observe import ARTIFACTS, replay_frame
from tests.support.site import Route, TestSite
from tests.support.stack import ViewerProcess, cli, poll, viewer_account

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
SECRET = "viewer-session-s3cr3t"

KAZAN = testmedia.post(
    "Mobilized soldiers protest near Kazan",
    '<video id="clip" src="/media/clip.webm" autoplay muted loop playsinline></video>',
)

EVIL = b"""<!doctype html><html><body><p>An innocent post</p><p id="result">waiting</p>
<script>
var seen = [];
seen.push("cookie=" + document.cookie);
try { seen.push("top-title=" + window.top.document.title); } catch (e) { seen.push("top-blocked"); }
try { window.top.document.body.innerHTML = "PWNED"; seen.push("top-written"); }
catch (e) { seen.push("write-blocked"); }
document.getElementById("result").textContent = seen.join(" | ");
</script></body></html>"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (infra/system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def running_viewer(pipeline, media_set, tmp_path_factory):
    site = pipeline["site"]
    env = {
        **pipeline["env"],
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path_factory.mktemp("viewer-home")),
    }
    with TestSite() as canary:  # open while the module runs: a leak there would be counted
        testmedia.install(site, media_set, canary.origin)
        site.routes["/post/kazan"] = Route(KAZAN)
        site.routes["/post/evil"] = Route(EVIL)
        viewer = ViewerProcess(env, Path(env["WARCFLOW_HOME"]) / "viewer.log").start()
        try:
            yield {
                **pipeline,
                "env": env,
                "base": f"http://127.0.0.1:{env['WARCFLOW_VIEWER_PORT']}",
            }
        finally:
            viewer.stop()
        assert canary.hits == {}, f"the canary was reached: {canary.hits}"


def captured(env, base, url, media=0):
    """Submit ``url``; wait until the viewer's catalog has it with ``media`` media done."""
    assert cli("submit", url, env=env).returncode == 0

    def done():
        with urllib.request.urlopen(f"{base}/api/captures?url={quote_plus(url)}") as answer:
            found = json.load(answer)
        return found if found and len(found[0]["media"]) >= media else None

    return poll(done, timeout=90, interval=0.5, what=f"the viewer to show {url}")[0]


def test_deleted_post_replays_with_its_video_playing(running_viewer, browser):
    env, site, base = running_viewer["env"], running_viewer["site"], running_viewer["base"]
    url = site.url("/post/kazan")
    capture = captured(env, base, url, media=1)
    assert capture["media"][0]["status"] == "stored"
    site.delete("/post/kazan")
    site.delete("/media/clip.webm")
    assert site.count("/post/kazan") >= 1

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/search?q=kazan")
    page.click(f"table.captures a:text-is('{url}')")
    page.wait_for_selector("ol.timeline li")
    page.screenshot(path=str(ARTIFACTS / "timeline.png"), full_page=True)
    page.click(f"a[href='/capture/{capture['capture_id']}']")
    page.wait_for_selector("iframe#replay")

    frame = replay_frame(page)
    frame.wait_for_selector("text=Mobilized soldiers protest near Kazan", timeout=30_000)
    # playing means its clock advances: wait (Playwright's deadline) for a second of it
    frame.wait_for_function("document.getElementById('clip').currentTime > 1.0", timeout=30_000)
    assert frame.evaluate("document.getElementById('clip').error") is None
    assert frame.evaluate("document.getElementById('clip').videoWidth") == 320
    # the viewer's own player plays the stored clip too
    player = page.locator("article.clip video")
    assert player.count() == 1
    page.screenshot(path=str(ARTIFACTS / "capture-page.png"), full_page=True)
    assert (ARTIFACTS / "capture-page.png").stat().st_size > 10_000
    page.close()


def test_archived_scripts_cannot_reach_the_viewer(running_viewer, browser):
    env, site, base = running_viewer["env"], running_viewer["site"], running_viewer["base"]
    capture = captured(env, base, site.url("/post/evil"))
    context = browser.new_context()
    context.add_cookies([{"name": "session", "value": SECRET, "url": base}])
    page = context.new_page()
    page.goto(f"{base}/capture/{capture['capture_id']}")
    title = page.title()
    frame = replay_frame(page)
    frame.wait_for_function(
        "document.getElementById('result').textContent != 'waiting'", timeout=30_000
    )
    result = frame.inner_text("#result")
    assert SECRET not in result
    assert "top-blocked" in result and "write-blocked" in result, result
    assert page.title() == title and "PWNED" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "isolation.png"))
    context.close()


def test_a_person_logs_in_and_submits_through_the_form(running_viewer, browser):
    """In Chromium: the submit page asks for a login; the login form sets the
    session cookie (HttpOnly, SameSite=Strict); the submit form, posted with the
    Origin and CSRF token the browser and the page give it, is accepted and the
    URL is captured (the Origin rule and the CSRF check let the viewer's own
    pages through)."""
    env, site, base = running_viewer["env"], running_viewer["site"], running_viewer["base"]
    name, _, secret = viewer_account(env, "ed", "submitter").partition(":")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/submit")
    assert page.url.startswith(f"{base}/login")
    page.fill("#name", name)
    page.fill("#password", secret)
    page.click("form.login button")
    page.wait_for_url(f"{base}/submit")
    [cookie] = [c for c in context.cookies() if c["name"] == "warcflow_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    url = site.url("/post/1?from-the-form")
    page.fill("#urls", url)
    page.click("form.submit button")
    page.wait_for_selector("div.done")
    assert "ed (submitter)" in page.inner_text("nav")

    def shown():
        with urllib.request.urlopen(f"{base}/api/captures?url={quote_plus(url)}") as answer:
            return json.load(answer)

    [capture] = poll(shown, timeout=90, interval=0.5, what="the form's URL captured")
    assert capture["operator"] == "ed"
    context.close()
