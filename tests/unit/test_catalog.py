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


def test_search_counts_each_urls_captures_once_latest_first_in_any_case(site, tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    events = [
        captured(site, store, path, i) for i, path in enumerate(["/post/1", "/gzip", "/post/1"])
    ]
    for offset, event in enumerate(events):
        catalog.apply(0, offset, event, store)
    catalog.apply(0, 0, events[0], store)  # the same event again: not a fourth capture
    found = catalog.search("POST/")  # the URL's case does not matter, as LIKE's did not
    assert [(r["url"], r["captures"]) for r in found] == [(site.url("/post/1"), 2)]
    assert found[0]["latest_capture_id"] == events[2]["capture_id"]
    # newest first; two characters are too few for the trigram index: read in full
    assert [r["url"] for r in catalog.search("/p")] == [site.url("/post/1")]
    assert [r["url"] for r in catalog.search("127.0.0.1")] == [
        site.url("/post/1"),
        site.url("/gzip"),
    ]
    assert catalog.search('"') == [] and catalog.search('zip" OR x') == []


def test_a_catalog_made_before_the_url_index_fills_it_at_open(site, tmp_path):
    store, path = MemoryStore(), tmp_path / "c.sqlite"
    catalog = Catalog(path)
    for offset, page in enumerate(["/post/1", "/gzip", "/post/1"]):
        catalog.apply(0, offset, captured(site, store, page, offset), store)
    catalog._db.executescript(  # what a catalog of the last release has
        "DROP TABLE url_grams; DROP TABLE urls;"
    )
    catalog.close()
    reopened = Catalog(path)
    assert [(r["url"], r["captures"]) for r in reopened.search("post")] == [
        (site.url("/post/1"), 2)
    ]


class Unreachable(MemoryStore):
    """A store that stops answering for one manifest."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        from archivers.errors import Retryable

        if key == self.failing:
            raise Retryable(f"S3 not reachable for {key}", reason="store_unavailable")
        return super().get_bytes(key, version_id)


def test_a_batch_is_one_transaction_and_stops_at_the_event_the_store_cannot_answer(site, tmp_path):
    import pytest

    from archivers.errors import Retryable
    from viewer.catalog import Record

    store = MemoryStore()
    events = [captured(site, store, f"/post/{i}", i) for i in range(1, 6)]
    flaky = Unreachable(events[3]["manifest_key"])
    flaky.objects = store.objects
    catalog = Catalog(tmp_path / "c.sqlite")
    batch = [
        Record(0, 10, events[0]),
        Record(1, 7, events[1]),
        Record(0, 11, None, "bad_json: not JSON"),
        Record(0, 12, events[2]),
        Record(1, 8, events[3]),  # the store does not answer for this one
        Record(0, 13, events[4]),
    ]
    with pytest.raises(Retryable):
        catalog.apply_batch(batch, flaky)
    # what came before it is recorded, with its offsets; nothing after it
    assert catalog.offsets() == {0: 13, 1: 8}
    assert {c["capture_id"] for c in catalog.recent()} == {e["capture_id"] for e in events[:3]}
    assert [q["offset"] for q in catalog.quarantined()] == [11]
    # the store is back: the feed gives the rest again, and all is there once
    catalog.apply_batch(batch[4:], store)
    assert catalog.offsets() == {0: 14, 1: 9} and catalog.counts()["captures"] == 5


def moved(store, event: dict, url: str, n: int) -> dict:
    """``event``'s capture as if it had been of ``url``: its manifest stored anew."""
    from archivers.urls import surt

    doc = json.loads(store.get_bytes(event["manifest_key"]))
    cid = layout.capture_id("m", 0, n, 1_764_000_000_000 + n)
    doc.update(url=url, surt=surt(url), capture_id=cid, warc_key=None)
    key = layout.manifest_key(url, cid)
    store.put_state(key, json.dumps(doc).encode())
    return {**event, "capture_id": cid, "manifest_key": key, "url": url}


def test_a_host_alone_finds_its_subdomains_and_ports_and_a_path_only_what_is_under_it(
    site, tmp_path
):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    base = captured(site, store, "/post/1", 0)
    urls = [
        "https://x.com/kazan_front/status/1",
        "https://mobile.x.com/kazan_front/status/2",
        "https://x.com:8443/kazan_front/status/3",
        "https://xyz.com/kazan_front/status/4",  # another host that starts the same
        "https://mirror.example/x.com/kazan_front/status/5",
    ]
    for n, url in enumerate(urls, 1):
        catalog.apply(0, n, moved(store, base, url, n), store)
    found = {r["url"] for r in catalog.search("x.com")}
    assert found == set(urls[:3])
    assert {r["url"] for r in catalog.search("https://www.x.com/kazan_front/")} == {urls[0]}
    # not a URL: the URLs containing it, wherever, in any case
    assert {r["url"] for r in catalog.search("KAZAN_front")} == set(urls)


class Meeting(MemoryStore):
    """A store whose manifest reads return only once ``parties`` of them are
    waiting at once: reads one after the other would never get past the first."""

    def __init__(self, parties: int) -> None:
        import threading

        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=20)

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        if key.startswith("manifests/"):
            self.barrier.wait()
        return super().get_bytes(key, version_id)


def test_a_batch_reads_its_manifests_from_the_store_at_once(site, tmp_path):
    from viewer.catalog import Record

    store = MemoryStore()
    events = [captured(site, store, f"/post/{i}", i) for i in range(1, 9)]
    meeting = Meeting(len(events))
    meeting.objects = store.objects
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.apply_batch([Record(0, n, e) for n, e in enumerate(events)], meeting)
    assert catalog.counts()["captures"] == 8 and catalog.counts()["quarantined"] == 0


def test_a_file_name_is_searched_as_text_and_a_nul_is_no_error(site, tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "c.sqlite")
    base = captured(site, store, "/post/1", 0)
    url = "https://x.com/kazan_front/status/1/index.html"
    catalog.apply(0, 1, moved(store, base, url, 1), store)
    # "a dot before any slash", but no host of that name: looked for as text
    assert [r["url"] for r in catalog.search("index.html")] == [url]
    assert catalog.search("https://index.html") == []  # a URL is only what is under it
    assert [r["url"] for r in catalog.search("kazan\x00_front")] == [url]
    assert catalog.search("\x00") is not None
