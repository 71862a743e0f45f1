"""The viewer's catalog, fed events by hand with manifests in the fake store.

A unit test of ``viewer.catalog``: the capture archiver only makes its input.
On the real broker and S3 server (a delete marker, poison on the topic):
tests/integration/test_viewer.py and test_error_paths.py.
"""

import asyncio
import json

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from streams.messages.capture import capture_event
from viewer.catalog import Catalog


def captured(site, store, path, offset):
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        agent={"name": "warcflow", "version": "test"},
    )
    now = utc_now()
    cid = layout.capture_id("t", 0, offset, int(now.timestamp() * 1000))
    manifest = asyncio.run(archiver.capture(CaptureRequest(cid, site.url(path), now))).manifest
    return json.loads(capture_event(manifest, layout.manifest_key(manifest.url, cid)))


def test_events_fill_captures_and_the_replay_index(site, tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    first = captured(site, store, "/post/1", 1)
    second = captured(site, store, "/post/1", 2)
    gone = captured(site, store, "/gone", 3)
    for offset, event in enumerate([first, second, gone]):
        catalog.apply(0, offset, event, store)
    assert catalog.offsets() == {0: 3}
    found = catalog.captures_of(site.url("/post/1"))
    assert [c["capture_id"] for c in found] == [second["capture_id"], first["capture_id"]]
    assert catalog.capture(gone["capture_id"])["reason"] == "http_404"
    from archivers.warc.cdxj import cdx_key

    lines = list(catalog.cdx(cdx_key(site.url("/post/1")), cdx_key(site.url("/post/1")) + "!"))
    assert len(lines) == 2 and all('"filename": "warc/' in line for line in lines)
    everything = list(
        catalog.cdx(
            cdx_key(site.url("/")).split(")")[0] + ")",
            cdx_key(site.url("/")).split(")")[0] + ")\uffff",
        )
    )
    assert len(everything) == 2 * 5 + 1  # page + 4 requisites, twice; the 404 once


def test_applying_an_event_again_changes_nothing(site, tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    event = captured(site, store, "/post/1", 1)
    catalog.apply(0, 0, event, store)
    before = catalog.counts()
    catalog.apply(0, 0, event, store)
    assert catalog.counts() == before and catalog.offsets() == {0: 1}


def test_unknown_events_only_move_the_offset(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.apply(2, 41, {"schema": "something.else"}, MemoryStore())
    catalog.apply(2, 42, None, MemoryStore())
    assert catalog.offsets() == {2: 43} and catalog.counts()["captures"] == 0


def test_search_by_substring_and_by_host_prefix(site, tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    for offset, path in enumerate(["/post/1", "/gzip", "/chunked"]):
        catalog.apply(0, offset, captured(site, store, path, offset), store)
    assert [r["url"] for r in catalog.search("gzip")] == [site.url("/gzip")]
    assert len(catalog.search(f"127.0.0.1:{site.port}")) == 3
    assert catalog.search("nothing-like-this") == []
    assert catalog.search("50%_") == []  # LIKE wildcards are literal


def test_an_event_the_catalog_cannot_apply_is_quarantined_and_the_next_applied(site, tmp_path):
    """Review F10: a deleted or damaged manifest raised, the feed retried the same
    offset for ever and the catalog stopped for good."""
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    deleted = captured(site, store, "/post/1", 1)
    damaged = captured(site, store, "/gzip", 2)
    fine = captured(site, store, "/chunked", 3)
    kept = store.objects.pop(deleted["manifest_key"])
    store.objects[damaged["manifest_key"]].data = b"{not a manifest"
    catalog.apply(0, 0, deleted, store)
    catalog.apply(0, 1, damaged, store)
    catalog.apply(0, 2, [1], store, problem="the JSON value is not an object")  # type: ignore[arg-type]
    catalog.apply(0, 3, None, store, problem="bad_json: nested deeper than 32 levels")
    catalog.apply(0, 4, fine, store)
    assert catalog.offsets() == {0: 5}
    assert [c["capture_id"] for c in catalog.recent()] == [fine["capture_id"]]
    assert catalog.counts()["quarantined"] == 4
    reasons = {q["offset"]: q["reason"] for q in catalog.quarantined()}
    assert "KeyError" in reasons[0] and "not an object" in reasons[2]
    # the manifest restored (from the version Object Lock kept): applied at the next start
    store.objects[deleted["manifest_key"]] = kept
    assert catalog.retry_quarantined(store) == 1
    assert catalog.capture(deleted["capture_id"]) is not None
    assert catalog.counts()["quarantined"] == 3
