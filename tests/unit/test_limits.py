"""Hostile servers meet the limits: each limit hit ends recorded, never in a crash.

A decompression bomb, a slow-drip server, a header bomb and a page with too
many requisites, against the capture code and a real HTTP server on loopback.
"""

import asyncio
import gzip
import io
import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from archivers.capture.static import PARSE_LIMIT
from archivers.errors import LimitExceeded
from tests.support.pages import make, request_for
from tests.support.site import Route


def capture(archiver, url):
    return asyncio.run(archiver.capture(request_for(url))).manifest


def warc_records(store, manifest):
    data = store.get_bytes(manifest.warc_key)
    out = {}
    for record in ArchiveIterator(io.BytesIO(data)):
        out.setdefault(record.rec_type, []).append(
            (record.rec_headers, record.raw_stream.read())
        )  # payload as served, not decoded
    return out


def test_a_gzip_bomb_is_kept_as_served_and_parsed_only_so_far(site):
    # 64 MiB of spaces in about 64 kB: the WARC keeps the 64 kB, parsing stops at the limit
    bomb = gzip.compress(b"<html><body>" + b" " * (64 * 1024 * 1024), compresslevel=9)
    site.routes["/bomb"] = Route(bomb, headers=[("Content-Encoding", "gzip")])
    archiver, store = make(site)
    manifest = capture(archiver, site.url("/bomb"))
    assert manifest.status == "stored"
    assert any(hit.startswith(f"parse_limit={PARSE_LIMIT}") for hit in manifest.limits_hit)
    [(_, payload)] = warc_records(store, manifest)["response"]
    assert payload == bomb  # the bytes as served, not inflated


def test_a_slow_drip_page_is_cut_at_the_deadline_and_marked(site):
    site.routes["/drip"] = Route(b"<p>" + b"x" * 4000 + b"</p>", drip=0.05)  # ~2 s in all
    archiver, store = make(site, total_timeout=0.6)
    manifest = capture(archiver, site.url("/drip"))
    assert manifest.status == "stored"  # what arrived is evidence, marked incomplete
    assert "timeout while reading the body" in manifest.limits_hit
    [(headers, payload)] = warc_records(store, manifest)["response"]
    assert headers.get_header("WARC-Truncated") == "time"
    assert 0 < len(payload) < 4007


def test_a_header_bomb_is_refused_with_its_reason(site):
    site.routes["/headers"] = Route(b"<p>hi</p>", headers=[("X-Junk", "a" * 100_000)])
    archiver, _ = make(site)
    with pytest.raises(LimitExceeded) as refused:
        capture(archiver, site.url("/headers"))
    assert refused.value.reason == "header_too_large"


def test_too_many_requisites_are_counted_not_fetched(site):
    images = "".join(f'<img src="/static/i{n}.png">' for n in range(10))
    site.routes["/many"] = Route(f"<html><body>{images}</body></html>".encode())
    for n in range(10):
        site.routes[f"/static/i{n}.png"] = Route(b"png", content_type="image/png")
    archiver, store = make(site, max_requisites=3)
    manifest = capture(archiver, site.url("/many"))
    assert manifest.status == "stored"
    assert "max_requisites=3: 7 not fetched" in manifest.limits_hit
    assert sum(site.count(f"/static/i{n}.png") for n in range(10)) == 3
    meta = json.loads(warc_records(store, manifest)["metadata"][0][1])
    assert meta["limits_hit"] == manifest.limits_hit  # in the WARC's own metadata record too
