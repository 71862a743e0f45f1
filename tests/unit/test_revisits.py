"""Requisites stored once: revisit records through the shared payload index.

A unit test of archivers.capture with archivers.warc.payloads, on a real
loopback site and the in-package fake store (the integration test,
tests/integration/test_revisits.py, runs the same on the broker and the S3
server, with pywb and the validators).
"""

import asyncio
import io
import json
import os
import subprocess
import sys
from dataclasses import replace

from warcio.archiveiterator import ArchiveIterator

from archivers.capture.archiver import PageArchiver
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from archivers.warc.payloads import MIN_PAYLOAD, PayloadIndex
from tests.support.pages import AGENT, request_for
from tests.support.site import Route

CSS = b"body { color: rgb(1, 2, 3); }\n" + b"/* padding */\n" * 400
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(8000)
TINY = b"small { }"


def page(n: int, css: str = "/static/shared.css") -> bytes:
    return (
        f'<html><head><link rel="stylesheet" href="{css}"><link rel="stylesheet" '
        f'href="/static/tiny.css"></head><body><p>post {n}</p>'
        f'<img src="/static/logo.png"></body></html>'
    ).encode()


def setup(site, store=None, payloads=True):
    store = store if store is not None else MemoryStore()
    site.routes["/static/shared.css"] = Route(CSS, content_type="text/css")
    site.routes["/static/shared.css?v=2"] = Route(CSS, content_type="text/css")
    site.routes["/static/tiny.css"] = Route(TINY, content_type="text/css")
    site.routes["/static/logo.png"] = Route(PNG, content_type="image/png")
    for n in range(1, 4):
        site.routes[f"/post/{n}"] = Route(page(n))
    site.routes["/post/busted"] = Route(page(9, "/static/shared.css?v=2"))
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    index = PayloadIndex(store) if payloads else None
    return PageArchiver(fetcher, store, agent=AGENT, payloads=index), store


def records(data: bytes):
    return [
        (r.rec_type, r.rec_headers, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(data), check_digests="raise")
    ]


def by_uri(data: bytes, rec_type: str):
    return {h.get_header("WARC-Target-URI"): (h, b) for t, h, b in records(data) if t == rec_type}


def capture(archiver, url, offset):
    return asyncio.run(archiver.capture(request_for(url, offset))).manifest


def test_a_requisite_stored_before_is_a_revisit_naming_the_original(site, tmp_path):
    archiver, store = setup(site)
    first = capture(archiver, site.url("/post/1"), 1)
    second = capture(archiver, site.url("/post/2"), 2)
    assert first.revisits == [] and first.status == second.status == "stored"

    one, two = store.get_bytes(first.warc_key), store.get_bytes(second.warc_key)
    originals = by_uri(one, "response")
    revisits = by_uri(two, "revisit")
    assert set(revisits) == {site.url("/static/shared.css"), site.url("/static/logo.png")}
    for uri, (headers, block) in revisits.items():
        original = originals[uri][0]
        assert headers.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
        assert headers.get_header("WARC-Refers-To-Target-URI") == uri
        assert headers.get_header("WARC-Refers-To-Date") == original.get_header("WARC-Date")
        assert headers.get_header("WARC-Payload-Digest") == original.get_header(
            "WARC-Payload-Digest"
        )
        assert block == b""  # the HTTP header block only; warcio reads no payload
    # the page itself and the requisite under MIN_PAYLOAD are stored in full
    full = by_uri(two, "response")
    assert site.url("/post/2") in full and site.url("/static/tiny.css") in full
    assert len(TINY) < MIN_PAYLOAD
    assert len(one) - len(two) > 0.9 * len(PNG)  # the image (random bytes) is not stored again

    # the manifest lists each, with the original's place: its capture, WARC and byte range
    assert {r["url"] for r in second.revisits} == set(revisits)
    assert second.originals() == {first.capture_id: first.warc_key}
    for revisit in second.revisits:
        ref = revisit["refers_to"]
        member = store.get_bytes(ref["warc_key"])[ref["offset"] : ref["offset"] + ref["length"]]
        (record,) = list(ArchiveIterator(io.BytesIO(member)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == ref["record_id"]
        assert record.rec_headers.get_header("WARC-Payload-Digest") == "sha256:" + ref["sha256"]

    # warcio's own check accepts the file with revisits
    path = tmp_path / "second.warc.gz"
    path.write_bytes(two)
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_same_page_captured_again_keeps_its_page_in_full(site):
    archiver, store = setup(site)
    capture(archiver, site.url("/post/1"), 1)
    again = capture(archiver, site.url("/post/1"), 2)
    data = store.get_bytes(again.warc_key)
    assert site.url("/post/1") in by_uri(data, "response")
    assert site.url("/post/1") not in by_uri(data, "revisit")


def test_the_same_bytes_under_another_url_name_the_original_url(site):
    archiver, store = setup(site)
    capture(archiver, site.url("/post/1"), 1)
    busted = capture(archiver, site.url("/post/busted"), 2)
    revisits = by_uri(store.get_bytes(busted.warc_key), "revisit")
    headers, _ = revisits[site.url("/static/shared.css?v=2")]
    assert headers.get_header("WARC-Refers-To-Target-URI") == site.url("/static/shared.css")


def test_another_worker_finds_the_original_through_the_store(site):
    archiver, store = setup(site)
    capture(archiver, site.url("/post/1"), 1)
    keys = [k for k in store.objects if k.startswith("payloads/")]
    assert len(keys) == 2  # the stylesheet and the image; not the tiny one, not the page
    other, _ = setup(site, store)  # a fresh process: an empty cache
    second = capture(other, site.url("/post/3"), 3)
    assert len(second.revisits) == 2


class FailingWarcStore(MemoryStore):
    def put_if_absent(self, key, body, **kw):
        if key.startswith("warc/"):
            raise OSError("the S3 server went away")
        return super().put_if_absent(key, body, **kw)


def test_no_index_entry_before_its_warc_is_stored(site):
    archiver, store = setup(site, FailingWarcStore())
    try:
        capture(archiver, site.url("/post/1"), 1)
    except OSError:
        pass
    assert not [k for k in store.objects if k.startswith("payloads/")]
    assert not [k for k in store.objects if k.startswith("warc/")]


def test_an_unreadable_index_entry_means_a_full_record(site):
    archiver, store = setup(site)
    first = capture(archiver, site.url("/post/1"), 1)
    for key in [k for k in store.objects if k.startswith("payloads/")]:
        store.put_state(key, b"{not json")
    fresh, _ = setup(site, store)
    second = capture(fresh, site.url("/post/2"), 2)
    assert second.status == "stored" and second.revisits == []
    assert first.capture_id != second.capture_id


def test_revisits_turned_off_store_every_payload(site):
    archiver, store = setup(site, payloads=False)
    capture(archiver, site.url("/post/1"), 1)
    second = capture(archiver, site.url("/post/2"), 2)
    assert second.revisits == [] and not by_uri(store.get_bytes(second.warc_key), "revisit")
    assert not [k for k in store.objects if k.startswith("payloads/")]


def test_payload_index_entries_are_put_once(site):
    archiver, store = setup(site)
    capture(archiver, site.url("/post/1"), 1)
    entry = next(k for k in store.objects if k.startswith("payloads/"))
    before = store.get_bytes(entry)
    capture(setup(site, store)[0], site.url("/post/2"), 2)
    assert store.get_bytes(entry) == before
    assert json.loads(before)["sha256"] == entry.rsplit("/", 1)[-1].removesuffix(".json")
    assert layout.payload_key(json.loads(before)["sha256"]) == entry


def test_a_revisit_names_only_an_original_of_the_same_case_and_session(site):
    """An export packs the originals' WARCs: a case's export must not carry
    another case's capture, nor an anonymous one a logged-in view."""
    archiver, _store = setup(site)
    one = request_for(site.url("/post/1"), 1)
    kazan = replace(one, request={**one.request, "case_id": "KZN-17"})
    first = asyncio.run(archiver.capture(kazan)).manifest
    other = request_for(site.url("/post/2"), 2)
    elsewhere = asyncio.run(
        archiver.capture(replace(other, request={**other.request, "case_id": "OTHER"}))
    ).manifest
    assert elsewhere.revisits == []  # the same bytes, stored again in full
    anonymous = capture(archiver, site.url("/post/3"), 3)
    assert anonymous.revisits == []
    third = request_for(site.url("/post/busted"), 4)
    same = asyncio.run(
        archiver.capture(replace(third, request={**third.request, "case_id": "KZN-17"}))
    ).manifest
    assert same.originals() == {first.capture_id: first.warc_key}


def test_data_and_documents_are_never_revisits(site):
    """In a browser capture the post itself comes in XHRs (JSON): not a requisite."""
    site.routes["/api/post.json"] = Route(
        b'{"text": "' + b"x" * 4000 + b'"}', content_type="application/json"
    )
    site.routes["/frame.html"] = Route(b"<p>" + b"y" * 4000 + b"</p>")
    archiver, store = setup(site)
    page_with = (
        b'<link rel="stylesheet" href="/static/shared.css"><script src="/api/post.json"></script>'
        b'<iframe src="/frame.html"></iframe>'
    )
    site.routes["/a"] = Route(page_with)
    site.routes["/b"] = Route(page_with + b"<p>b</p>")
    capture(archiver, site.url("/a"), 1)
    second = capture(archiver, site.url("/b"), 2)
    assert {r["url"] for r in second.revisits} == {site.url("/static/shared.css")}
    assert site.count("/api/post.json") == 2  # fetched by both, stored by both
    assert site.url("/api/post.json") in by_uri(store.get_bytes(second.warc_key), "response")


def test_an_index_entry_that_is_not_well_formed_is_ignored(site):
    archiver, store = setup(site)
    capture(archiver, site.url("/post/1"), 1)
    for key in [k for k in store.objects if k.startswith("payloads/")]:
        doc = json.loads(store.get_bytes(key))
        store.put_state(key, json.dumps({**doc, "target_uri": "x\r\nWARC-Type: forged"}).encode())
    second = capture(setup(site, store)[0], site.url("/post/2"), 2)
    assert second.revisits == [] and b"forged" not in store.get_bytes(second.warc_key)
