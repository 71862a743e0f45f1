"""Browser capture in Debian's chromium, through the capture protocol.

A post that exists only once its scripts run (tests/support/jsposts.py) is
captured with ``mode=browser``: the WARC holds what the scripts fetched, the
lazily loaded image, a screenshot showing the rendered post, and the video the
script created is found for the media agent. Every browser request goes
through the recording fetcher, so the address policy holds: a page that tries
to load from a private address gets it refused, and that server sees nothing.

The store is the real S3 server (versitygw, a bucket of this module's), so
the redelivery case runs on its conditional writes, which are not atomic
(``archivers.store.base``); the site and the browser are real, and nothing in
them is patched: a crashed browser is a Chromium process killed, concurrency
is what the site sees arrive at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import uuid
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.capture.browser import Browser, BrowserSettings
from archivers.clock import utc_now
from archivers.errors import FetchUnavailable
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.s3 import S3Store
from tests.support import jsposts
from tests.support.site import Route
from tests.support.stack import settings_of

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
AGENT = {"name": "warcflow", "version": "test"}
_OFFSETS = iter(range(1, 1_000_000))


@pytest.fixture(autouse=True)
def _chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (infra/system-deps.sh)")


@pytest.fixture(scope="module")
def s3(stack):
    """A bucket of this module's on the session's S3 server (Object Lock, versions),
    used with the server's root credentials: this module tests the browser capture,
    not the roles (tests/integration/test_access.py does)."""
    env = stack.env(WARCFLOW_S3_BUCKET=f"b{uuid.uuid4().hex[:8]}-bucket")
    store = S3Store(settings_of(env, "admin", local_stack=True).store)
    store.ensure_bucket()
    return store


def make(site, store, *, sites=(), **browser):
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    settings = BrowserSettings(
        executable=CHROMIUM, sites=sites, **{"idle_timeout": 3.0, "timeout": 60.0, **browser}
    )
    return PageArchiver(
        fetcher,
        store,
        agent=AGENT,
        recognises=lambda _url: False,
        browser=Browser(settings),
        browser_sites=sites,
    ), store


def request_for(url, mode="browser", offset=1):
    now = utc_now()
    # a fresh offset each time: every capture of the module has its own id in the bucket
    offset = offset * 1_000_000 + next(_OFFSETS)
    cid = layout.capture_id("warcflow.ingest", 0, offset, int(now.timestamp() * 1000))
    return CaptureRequest(
        cid,
        url,
        now,
        request={"request_id": "r1", "mode": mode},
        provenance={"topic": "warcflow.ingest", "partition": 0, "offset": offset},
        mode=mode,
    )


async def capture(archiver, request):
    try:
        return await archiver.capture(request)
    finally:
        await archiver.browser.close()


def warc_records(data: bytes):
    out = []
    for record in ArchiveIterator(io.BytesIO(data), check_digests="raise"):
        out.append((record.rec_type, record.rec_headers, record.content_stream().read()))
    return out


def test_a_script_rendered_post_is_captured_with_what_its_scripts_fetched(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, store = make(site, s3)
    url = site.url("/post/js-redirect")
    manifest = asyncio.run(capture(archiver, request_for(url))).manifest

    assert manifest.status == "stored" and manifest.mode == "browser"
    assert manifest.final_url == site.url("/post/js")
    assert manifest.redirects == [url, site.url("/post/js")]
    data = store.get_bytes(manifest.warc_key)
    assert hashlib.sha256(data).hexdigest() == manifest.sha256
    found = warc_records(data)
    responses = {
        h.get_header("WARC-Target-URI"): body for kind, h, body in found if kind == "response"
    }
    requests = {h.get_header("WARC-Target-URI") for kind, h, _ in found if kind == "request"}
    for path in (
        "/post/js-redirect",
        "/post/js",
        "/static/render.js",
        "/api/post.json",
        "/img/lazy.png",
    ):
        assert site.url(path) in responses, path
        assert site.url(path) in requests, path
    # the JSON the script fetched, exactly as served (gzip: the raw bytes are kept)
    assert responses[site.url("/img/lazy.png")] == site.routes["/img/lazy.png"].body
    assert site.count("/img/lazy.png") == 1  # loaded only because the page was scrolled

    # the page's text is the rendered DOM's: the post text the script put there
    assert jsposts.JS_TEXT in manifest.page_text

    # the video the script created goes to the media agent, not into the page WARC
    assert [m["url"] for m in manifest.media] == [site.url(jsposts.JS_VIDEO)]
    assert site.url(jsposts.JS_VIDEO) not in responses

    # the screenshot: a resource record in the WARC and its own object, the same bytes
    assert manifest.summary()["screenshot_key"] == layout.screenshot_key(manifest.capture_id)
    png = store.get_bytes(manifest.screenshot_key)
    [shot] = [(h, body) for kind, h, body in found if kind == "resource"]
    assert shot[1] == png and shot[0].get_header("Content-Type") == "image/png"
    assert shot[0].get_header("WARC-Target-URI") == "urn:warcflow:screenshot:" + site.url(
        "/post/js"
    )
    assert manifest.screenshot["sha256"] == hashlib.sha256(png).hexdigest()
    assert manifest.screenshot["url"] == site.url("/post/js")
    assert manifest.fetched_at <= manifest.screenshot["taken_at"] <= manifest.finished_at
    # the rendered post (dark blue box, yellow text) and the lazy image (green) are in it
    seen = jsposts.colours(png)
    assert seen.get((0x12, 0x3D, 0x7A), 0) > 50, "the post's box is not in the screenshot"
    assert seen.get((30, 160, 60), 0) > 50, "the lazily loaded image is not in the screenshot"
    assert any(r > 200 and g > 180 and b < 120 for r, g, b in seen), "no post text pixels"

    # the metadata record says it too (the manifest can be rebuilt from the WARC)
    [meta] = [json.loads(body) for kind, _, body in found if kind == "metadata"]
    assert meta["mode"] == "browser" and meta["screenshot"]["record_id"] == shot[0].get_header(
        "WARC-Record-ID"
    )


def test_the_browser_cannot_reach_addresses_the_policy_refuses(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, store = make(site, s3)
    manifest = asyncio.run(capture(archiver, request_for(site.url("/post/js-canary")))).manifest

    assert manifest.status == "stored" and manifest.outcome == "partial"
    assert canary.hits == {}, f"the canary was reached: {canary.hits}"
    assert manifest.requisites["failed"] >= 3
    data = store.get_bytes(manifest.warc_key)
    [meta] = [json.loads(body) for kind, _, body in warc_records(data) if kind == "metadata"]
    failures = {f["url"]: f["reason"] for f in meta["requisite_failures"]}
    for path in ("/pixel.png", "/api/secret", "/evil.js"):
        assert failures[canary.url(path)] == "policy_refused", failures
    assert not any(
        canary.origin in h.get_header("WARC-Target-URI") or ""
        for kind, h, _ in warc_records(data)
        if kind == "response"
    )


def test_site_rules_choose_the_browser_under_auto(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, _store = make(site, s3, sites=(site.allow,))
    manifest = asyncio.run(capture(archiver, request_for(site.url("/post/1"), mode="auto")))
    assert manifest.manifest.mode == "browser" and manifest.manifest.screenshot_key
    static, _ = make(site, s3, sites=("example.org",))
    other = asyncio.run(capture(static, request_for(site.url("/post/1"), mode="auto", offset=2)))
    assert other.manifest.mode == "static" and other.manifest.screenshot_key is None


def test_a_page_that_outlasts_the_deadline_is_retryable(site, canary, s3):
    jsposts.install(site, canary.origin)
    site.routes["/slow.js"] = Route(
        b"//" + b"x" * 2000, content_type="application/javascript", drip=0.2
    )
    site.routes["/post/slow"] = Route(b'<!doctype html><p>slow</p><script src="/slow.js"></script>')
    archiver, store = make(site, s3, timeout=2.0, idle_timeout=1.0)
    request = request_for(site.url("/post/slow"))
    with pytest.raises(FetchUnavailable) as failed:
        asyncio.run(capture(archiver, request))
    assert failed.value.reason == "browser_timeout"
    cid = request.capture_id
    for key in (layout.warc_key(cid), layout.screenshot_key(cid), layout.index_key(cid)):
        assert store.head(key) is None, key  # nothing of it was stored
    assert list(store.list_keys(layout.manifest_prefix(request.url))) == []


def _cmdline(pid: int) -> list[bytes]:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def chromium_pids() -> set[int]:
    """Chromium's browser processes that descend from this test: a chromium whose
    parent is not a chromium (its renderers, GPU and zygotes are its children)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or b"chromium" not in (_cmdline(int(entry)) or [b""])[0]:
            continue
        pid = int(entry)
        if b"chromium" in (_cmdline(_parent(pid)) or [b""])[0]:
            continue
        ancestor = _parent(pid)
        while ancestor > 1 and ancestor != me:
            ancestor = _parent(ancestor)
        if ancestor == me:
            found.add(pid)
    return found


class Crash(BaseException):
    """The worker dying at this point of a capture."""


class DiesBeforeScreenshot(S3Store):
    """The real store, in a worker that dies once the WARC is stored: before the
    screenshot object and the manifest are written."""

    def _dies(self, key):
        if key.startswith(("screenshots/", "manifests/")):
            raise Crash(f"died before writing {key}")

    def put_new(self, key, body, **kwargs):
        self._dies(key)
        return super().put_new(key, body, **kwargs)

    def put_if_absent(self, key, body, **kwargs):
        self._dies(key)
        return super().put_if_absent(key, body, **kwargs)


def test_a_crashed_browser_is_launched_again(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, _store = make(site, s3)

    async def twice():
        try:
            first = await archiver.capture(request_for(site.url("/post/1")))
            [browser] = chromium_pids()
            os.kill(browser, signal.SIGKILL)  # Chromium dies (OOM, a crash)
            request = request_for(site.url("/post/1"), offset=2)
            try:
                second = await archiver.capture(request)
            except FetchUnavailable:
                # the crash noticed mid-capture: a retryable failure, and the retry
                # (the same capture id, as the retry topic would bring it) relaunches
                second = await archiver.capture(request)
            return first, second
        finally:
            await archiver.browser.close()

    first, second = asyncio.run(twice())
    assert first.manifest.status == second.manifest.status == "stored"
    assert archiver.browser.launches == 2


def test_a_redelivered_capture_keeps_the_screenshot_of_the_stored_warc(site, canary, s3):
    """An attempt stored the WARC and died before the screenshot object and the
    manifest: the next attempt's own screenshot is dropped with its WARC, and the
    object is the stored WARC's resource record. On the real server, whose
    If-None-Match is checked before the write rather than atomically."""
    jsposts.install(site, canary.origin)
    dying, _ = make(site, DiesBeforeScreenshot(s3.settings))
    request = request_for(site.url("/post/js"))
    with pytest.raises(Crash):
        asyncio.run(capture(dying, request))
    store = s3
    warc_key = layout.warc_key(request.capture_id)
    stored_warc = store.get_bytes(warc_key)
    assert store.head(layout.screenshot_key(request.capture_id)) is None
    again, _ = make(site, s3)  # another worker, after the redelivery
    second = asyncio.run(capture(again, request))
    assert second.created and second.manifest.sha256 == hashlib.sha256(stored_warc).hexdigest()
    png = store.get_bytes(second.manifest.screenshot_key)
    [shot] = [body for kind, _h, body in warc_records(stored_warc) if kind == "resource"]
    assert png == shot  # the stored WARC's screenshot, not the second attempt's
    assert second.manifest.screenshot["sha256"] == hashlib.sha256(png).hexdigest()
    assert len(store.versions(warc_key)) == 1  # one WARC: the second attempt's was dropped


def test_a_non_html_page_is_kept_as_fetched_without_a_screenshot(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, store = make(site, s3)
    request = request_for(site.url("/img/lazy.png"))
    manifest = asyncio.run(capture(archiver, request)).manifest
    assert manifest.status == "stored" and manifest.mode == "browser"
    assert manifest.screenshot_key is None and manifest.outcome == "ok"
    assert store.head(layout.screenshot_key(request.capture_id)) is None


SLOW_RENDER = b"""<!doctype html><p id="t">loading</p><script>
fetch("/api/slow.json").then(function (r) { return r.text(); })
  .then(function (t) { document.getElementById("t").textContent = t; });
</script>"""


def test_at_most_concurrency_pages_render_at_once(site, canary, s3):
    """Seen from the site: the request each page's script makes never arrives two
    at a time when one page may render at a time."""
    jsposts.install(site, canary.origin)
    site.routes["/post/slow-render"] = Route(SLOW_RENDER)
    site.routes["/api/slow.json"] = Route(b'"rendered"' * 30, drip=0.1)  # 0.3 s a render
    archiver, _store = make(site, s3, concurrency=1, timeout=60.0)

    async def three():
        try:
            return await asyncio.gather(
                *(
                    archiver.capture(request_for(site.url("/post/slow-render"), offset=n))
                    for n in range(3)
                )
            )
        finally:
            await archiver.browser.close()

    results = asyncio.run(three())
    assert [r.manifest.status for r in results] == ["stored"] * 3
    assert all(r.manifest.screenshot_key for r in results)
    assert site.count("/api/slow.json") == 3 and site.most_at_once["/api/slow.json"] == 1


def test_a_capture_waiting_for_a_place_keeps_its_whole_deadline(site, canary, s3):
    """The first page holds the only place until its own deadline ends it; the
    second, which waited that long for the place, still gets its whole deadline
    to render (the deadline covers rendering, not the wait)."""
    jsposts.install(site, canary.origin)
    site.routes["/post/hold"] = Route(
        b'<!doctype html><p>held</p><script>fetch("/api/hold").catch(function () {})</script>'
    )
    site.routes["/api/hold"] = Route(b"x" * 300, drip=10.0)  # 30 s: outlasts the deadline
    archiver, _store = make(site, s3, concurrency=1, timeout=8.0)
    held, waiting = request_for(site.url("/post/hold")), request_for(site.url("/post/1"))

    async def queue():
        try:
            first = asyncio.create_task(archiver.capture(held))
            deadline = asyncio.get_running_loop().time() + 60
            while site.count("/api/hold") == 0:  # poll: the first page has the place
                assert asyncio.get_running_loop().time() < deadline, "the first page never rendered"
                await asyncio.sleep(0.05)
            second = await archiver.capture(waiting)
            with pytest.raises(FetchUnavailable) as timed_out:
                await first
            return second, timed_out.value
        finally:
            await archiver.browser.close()

    second, timed_out = asyncio.run(queue())
    assert timed_out.reason == "browser_timeout"
    assert second.manifest.status == "stored" and second.manifest.screenshot_key


def test_a_deleted_post_is_kept_as_evidence_with_its_screenshot(site, canary, s3):
    jsposts.install(site, canary.origin)
    archiver, store = make(site, s3)
    manifest = asyncio.run(capture(archiver, request_for(site.url("/gone")))).manifest
    assert manifest.status == "failed" and manifest.outcome == "deleted"
    assert manifest.reason == "http_404" and manifest.warc_key
    assert jsposts.colours(store.get_bytes(manifest.screenshot_key))
