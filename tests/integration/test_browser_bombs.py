"""Gzip bombs in a browser capture (security review F4): what the browser is handed
is decoded with a limit per response and per page, and the page says so; the
WARC keeps every response as served."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from archivers.capture import browser as browser_module
from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.capture.browser import Browser, BrowserSettings
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from tests.support.site import Route

pytestmark = pytest.mark.integration


def test_a_page_of_gzip_bombs_is_cut_at_the_per_page_budget(site, monkeypatch):
    monkeypatch.setattr(browser_module, "DECODED_PER_PAGE", 5 * 512 * 1024)
    bomb = gzip.compress(b"\0" * (2 * 1024 * 1024), 9)  # 2 KB served, 2 MiB decoded
    for n in range(3):
        site.routes[f"/bomb{n}.png"] = Route(
            bomb, content_type="image/png", headers=[("Content-Encoding", "gzip")]
        )
    images = "".join(f'<img src="/bomb{n}.png">' for n in range(3))
    site.routes["/page"] = Route(f"<html><body><p>bombs</p>{images}</body></html>".encode())
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow), max_response_bytes=1024 * 1024)),
        MemoryStore(),
        agent={"name": "warcflow"},
        browser=Browser(BrowserSettings(idle_timeout=3, timeout=60)),
    )
    now = utc_now()
    request = CaptureRequest(
        layout.capture_id("t", 0, 7, int(now.timestamp() * 1000)),
        site.url("/page"),
        now,
        mode="browser",
    )

    async def run():
        try:
            return await archiver.capture(request)
        finally:
            await archiver.browser.close()

    manifest = asyncio.run(run()).manifest
    assert manifest.status == "stored"
    cut = [hit for hit in manifest.limits_hit if hit.startswith("decoded_limit=")]
    # each bomb is over the 1 MiB response limit; the last finds the page's 2.5 MiB
    # nearly spent and gets what is left of it
    assert len(cut) == 3, manifest.limits_hit
    limits = sorted(int(hit.split("=", 1)[1].split(":", 1)[0]) for hit in cut)
    assert limits[1:] == [1024 * 1024] * 2 and limits[0] < 512 * 1024 + 1
    assert {site.count(f"/bomb{n}.png") for n in range(3)} == {1}
