"""Browser capture in Debian's chromium, through the capture protocol.

A post that exists only once its scripts run (tests/support/jsposts.py) is
captured with ``mode=browser``: the WARC holds what the scripts fetched, the
lazily loaded image, a screenshot showing the rendered post, and the video the
script created is found for the media agent. Every browser request goes
through the recording fetcher, so the address policy holds: a page that tries
to load from a private address gets it refused, and that server sees nothing.

The store is ``MemoryStore`` here (the pipeline test in test_browser_pipeline.py
uses the real broker and S3 server); the site and the browser are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
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
from archivers.store.memory import MemoryStore
from tests.support import jsposts

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
AGENT = {"name": "warcflow", "version": "test"}


@pytest.fixture(autouse=True)
def _chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (infra/system-deps.sh)")


def make(site, *, sites=(), **browser):
    store = MemoryStore()
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


def test_a_script_rendered_post_is_captured_with_what_its_scripts_fetched(site, canary):
    jsposts.install(site, canary.origin)
    archiver, store = make(site)
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


def test_the_browser_cannot_reach_addresses_the_policy_refuses(site, canary):
    jsposts.install(site, canary.origin)
    archiver, store = make(site)
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


def test_site_rules_choose_the_browser_under_auto(site, canary):
    jsposts.install(site, canary.origin)
    archiver, _store = make(site, sites=(site.allow,))
    manifest = asyncio.run(capture(archiver, request_for(site.url("/post/1"), mode="auto")))
    assert manifest.manifest.mode == "browser" and manifest.manifest.screenshot_key
    static, _ = make(site, sites=("example.org",))
    other = asyncio.run(capture(static, request_for(site.url("/post/1"), mode="auto", offset=2)))
    assert other.manifest.mode == "static" and other.manifest.screenshot_key is None


def test_a_page_that_outlasts_the_deadline_is_retryable(site, canary):
    jsposts.install(site, canary.origin)
    from tests.support.site import Route

    site.routes["/slow.js"] = Route(
        b"//" + b"x" * 2000, content_type="application/javascript", drip=0.2
    )
    site.routes["/post/slow"] = Route(b'<!doctype html><p>slow</p><script src="/slow.js"></script>')
    archiver, store = make(site, timeout=2.0, idle_timeout=1.0)
    with pytest.raises(FetchUnavailable) as failed:
        asyncio.run(capture(archiver, request_for(site.url("/post/slow"))))
    assert failed.value.reason == "browser_timeout"
    assert store.objects == {}


def test_a_crashed_browser_is_launched_again(site, canary):
    jsposts.install(site, canary.origin)
    archiver, _store = make(site)

    async def twice():
        try:
            first = await archiver.capture(request_for(site.url("/post/1")))
            await archiver.browser._browser.close()  # as if Chromium had died
            second = await archiver.capture(request_for(site.url("/post/1"), offset=2))
            return first, second
        finally:
            await archiver.browser.close()

    first, second = asyncio.run(twice())
    assert first.manifest.status == second.manifest.status == "stored"
    assert archiver.browser.launches == 2


def test_a_redelivered_capture_keeps_the_screenshot_of_the_stored_warc(site, canary):
    """An attempt stored the WARC and died before the screenshot object and the
    manifest: the next attempt's own screenshot is dropped with its WARC, and the
    object is the stored WARC's resource record."""
    jsposts.install(site, canary.origin)
    archiver, store = make(site)
    request = request_for(site.url("/post/js"))
    first = asyncio.run(capture(archiver, request)).manifest
    original = store.get_bytes(first.screenshot_key)
    del store.objects[first.screenshot_key]
    del store.objects[layout.manifest_key(first.url, first.capture_id)]
    again, _store2 = make(site)
    again.store = store
    second = asyncio.run(capture(again, request))
    assert second.created and second.manifest.sha256 == first.sha256
    assert store.get_bytes(second.manifest.screenshot_key) == original
    assert second.manifest.screenshot == first.screenshot


def test_a_non_html_page_is_kept_as_fetched_without_a_screenshot(site, canary):
    jsposts.install(site, canary.origin)
    archiver, store = make(site)
    manifest = asyncio.run(capture(archiver, request_for(site.url("/img/lazy.png")))).manifest
    assert manifest.status == "stored" and manifest.mode == "browser"
    assert manifest.screenshot_key is None and manifest.outcome == "ok"
    assert not any(k.startswith("screenshots/") for k in store.objects)


def test_browser_captures_wait_for_a_place_without_losing_their_deadline(site, canary):
    """At most ``concurrency`` pages render at once; a capture's deadline covers its
    own rendering, not the wait for a place."""
    jsposts.install(site, canary.origin)
    archiver, _store = make(site, concurrency=1, timeout=6.0)
    browser = archiver.browser
    opened, most = [0], [0]
    plain = browser.context

    @contextlib.asynccontextmanager
    async def counted():
        async with plain() as context:
            opened[0] += 1
            most[0] = max(most[0], opened[0])
            try:
                yield context
            finally:
                opened[0] -= 1

    browser.context = counted

    async def three():
        try:
            return await asyncio.gather(
                *(archiver.capture(request_for(site.url("/post/js"), offset=n)) for n in range(3))
            )
        finally:
            await browser.close()

    results = asyncio.run(three())
    assert [r.manifest.status for r in results] == ["stored"] * 3
    assert all(r.manifest.screenshot_key for r in results)
    assert most[0] == 1


def test_a_deleted_post_is_kept_as_evidence_with_its_screenshot(site, canary):
    jsposts.install(site, canary.origin)
    archiver, store = make(site)
    manifest = asyncio.run(capture(archiver, request_for(site.url("/gone")))).manifest
    assert manifest.status == "failed" and manifest.outcome == "deleted"
    assert manifest.reason == "http_404" and manifest.warc_key
    assert jsposts.colours(store.get_bytes(manifest.screenshot_key))
