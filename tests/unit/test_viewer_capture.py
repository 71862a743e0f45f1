"""The viewer's capture page shows the capture record: who asked, the post's
claims, the connection and the para 155 items.

A unit test of the page (the archiver and the fake store only make its input);
the page over real captures on the real services: tests/integration/test_viewer.py.
"""

import asyncio
import json

from fastapi.testclient import TestClient

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from streams.messages.capture import SubmitRequest, capture_event
from tests.support.site import Route
from viewer.app import create_app
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings


def test_the_capture_page_shows_the_capture_record(site, tmp_path):
    site.routes["/status/8841"] = Route(
        b'<html><head><meta name="author" content="War Tracker">'
        b'<meta property="article:published_time" content="2022-11-16T16:04:05Z"></head>'
        b"<body><p>Kazan</p></body></html>"
    )
    store = MemoryStore()
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        agent={"name": "warcflow", "version": "test"},
    )
    submitted = SubmitRequest.new(
        site.url("/status/8841"),
        submitted_at=utc_now(),
        operator="anna",
        case_id="KZN-17",
        purpose="protest footage",
    )
    now = utc_now()
    request = CaptureRequest(
        layout.capture_id("warcflow.ingest", 0, 1, int(now.timestamp() * 1000)),
        submitted.url,
        now,
        request=submitted.describe(),
    )
    manifest = asyncio.run(archiver.capture(request)).manifest
    catalog = Catalog(tmp_path / "catalog.sqlite")
    event = capture_event(manifest, layout.manifest_key(manifest.url, manifest.capture_id))
    catalog.apply(0, 0, json.loads(event), store)
    web = TestClient(
        create_app(ViewerSettings(state_dir=tmp_path), catalog, store, submit=lambda *a, **k: [])
    )
    page = web.get(f"/capture/{manifest.capture_id}")
    assert page.status_code == 200
    for shown in (
        "anna",
        "case KZN-17",
        "protest footage",
        "by War Tracker",
        "published 2022-11-16T16:04:05.000000Z",
        manifest.network["local_address"],
        "html ✓",
        "screenshot ✗",
    ):
        assert shown in page.text, shown
    api = web.get("/api/captures", params={"url": submitted.url}).json()
    assert api[0]["operator"] == "anna" and api[0]["items"]["html"] is True
