"""Sitemaps (sitemaps.org protocol): a ``<urlset>`` lists pages, a
``<sitemapindex>`` lists further sitemaps.

``parse_sitemap`` returns both lists; the runner fetches the sitemaps an index
names (one level: an index inside an index is not followed) and parses each as
a urlset. Gzipped sitemaps (``.xml.gz``) are unpacked here, with a cap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from streams.watchers.items import MAX_ITEMS_PER_BODY, Item, MalformedSource, absolute, dedupe
from streams.watchers.xmldoc import local, parse_xml, text

MAX_UNPACKED_BYTES = 64 * 1024 * 1024
"""Largest unpacked sitemap read (a compression bomb costs at most this)."""


@dataclass(frozen=True)
class Sitemap:
    pages: list[Item]
    sitemaps: list[str]
    """Child sitemaps named by a ``<sitemapindex>`` (empty for a ``<urlset>``)."""


def parse_sitemap(body: bytes, sitemap_url: str) -> Sitemap:
    """Pages and child sitemaps of a sitemap or sitemap index; MalformedSource otherwise."""
    root = parse_xml(_unpacked(body), "sitemap")
    name = local(root.tag)
    if name not in ("urlset", "sitemapindex"):
        raise MalformedSource(
            "not_a_sitemap", f"the document is <{name}>, not a <urlset> or <sitemapindex>"
        )
    child = "url" if name == "urlset" else "sitemap"
    locs = []
    for entry in root:
        if local(entry.tag) == child:
            loc = next((c for c in entry if local(c.tag) == "loc"), None)
            url = absolute(sitemap_url, text(loc))
            if url:
                locs.append(url)
    if name == "urlset":
        return Sitemap(dedupe([Item(url) for url in locs]), [])
    return Sitemap([], list(dict.fromkeys(locs))[:MAX_ITEMS_PER_BODY])


def _unpacked(body: bytes) -> bytes:
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        data = zlib.decompressobj(47).decompress(body, MAX_UNPACKED_BYTES)
    except zlib.error as exc:
        raise MalformedSource("not_xml", f"the gzipped sitemap does not unpack: {exc}") from None
    return data
