"""Watchers fetch their sources through the capture fetcher: the same address
policy (a watch cannot be pointed at the inside of the network), redirects
re-checked, HTTP errors classified. Real loopback servers; canaries count hits
that must stay 0."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from archivers.errors import FetchUnavailable, HTTPRefused, PolicyRefused, Retryable
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from streams.watchers.definitions import new_watch
from streams.watchers.kinds import fetch_body, read_items
from tests.support.site import Route

FEED = b'<rss version="2.0"><channel><item><link>https://x.example/1</link></item></channel></rss>'


def fetch_with(fetcher):
    async def fetch(url):
        return await fetch_body(fetcher, url, 1024 * 1024)

    return fetch


def test_a_watch_on_a_private_address_is_refused_without_connecting(canary):
    canary.routes["/feed.xml"] = Route(FEED)
    watch = new_watch("feed", canary.url("/feed.xml"), every=60)
    with pytest.raises(PolicyRefused):
        asyncio.run(read_items(watch, fetch_with(Fetcher(FetchSettings()))))
    assert sum(canary.hits.values()) == 0


def test_a_redirect_to_a_private_address_is_refused(site, canary):
    canary.routes["/feed.xml"] = Route(FEED)
    site.routes["/moved.xml"] = Route(
        b"", status=302, headers=[("Location", canary.url("/feed.xml"))]
    )
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    with pytest.raises(PolicyRefused):
        asyncio.run(fetch_with(fetcher)(site.url("/moved.xml")))
    assert sum(canary.hits.values()) == 0


def test_allowed_sources_are_read_gzip_undone_and_http_errors_classified(site):
    site.routes["/feed.xml"] = Route(FEED, gzip=True, content_type="application/rss+xml")
    site.routes["/busy.xml"] = Route(b"later", status=503)
    site.routes["/sitemap.xml.gz"] = Route(
        gzip.compress(
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>https://x.example/p</loc></url></urlset>"
        ),
        content_type="application/gzip",
    )
    fetch = fetch_with(Fetcher(FetchSettings(allow=parse_allow_list(site.allow))))
    feed = new_watch("feed", site.url("/feed.xml"), every=60)
    assert [i.url for i in asyncio.run(read_items(feed, fetch))] == ["https://x.example/1"]
    sitemap = new_watch("sitemap", site.url("/sitemap.xml.gz"), every=60)
    assert [i.url for i in asyncio.run(read_items(sitemap, fetch))] == ["https://x.example/p"]
    with pytest.raises(FetchUnavailable) as busy:
        asyncio.run(fetch(site.url("/busy.xml")))
    assert isinstance(busy.value, Retryable) and busy.value.reason == "http_503"
    with pytest.raises(HTTPRefused) as gone:
        asyncio.run(fetch(site.url("/gone")))
    assert gone.value.reason == "http_404"
