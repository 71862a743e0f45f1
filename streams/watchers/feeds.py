"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds → the linked posts, newest first as listed.

An RSS item's URL is its ``<link>``, else its ``<guid>`` unless
``isPermaLink="false"``; its ``<enclosure url>`` and ``media:content url``
are its media. An Atom entry's URL is its ``<link rel="alternate">`` (or a link
without ``rel``), resolved against ``xml:base`` and the feed's URL; its
``rel="enclosure"`` links are its media. Items without a usable http(s) URL are
skipped; a document that is not a feed raises MalformedSource.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from streams.watchers.items import Item, MalformedSource, absolute, dedupe
from streams.watchers.xmldoc import local, parse_xml, text

XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


def parse_feed(body: bytes, feed_url: str) -> list[Item]:
    """Items of an RSS or Atom feed, in document order, deduplicated."""
    root = parse_xml(body, "feed")
    name = local(root.tag)
    if name == "rss":
        channel = next((c for c in root if local(c.tag) == "channel"), None)
        if channel is None:
            raise MalformedSource("not_a_feed", "the RSS document has no <channel>")
        return dedupe(
            [i for i in (_rss_item(e, feed_url) for e in channel if local(e.tag) == "item") if i]
        )
    if name == "RDF":
        return dedupe(
            [i for i in (_rss_item(e, feed_url) for e in root if local(e.tag) == "item") if i]
        )
    if name == "feed":
        base = absolute(feed_url, root.get(XML_BASE)) or feed_url
        return dedupe(
            [i for i in (_atom_entry(e, base) for e in root if local(e.tag) == "entry") if i]
        )
    raise MalformedSource("not_a_feed", f"the document is <{name}>, not an RSS or Atom feed")


def _rss_item(item: ET.Element, base: str) -> Item | None:
    url = None
    media = []
    for child in item:
        name = local(child.tag)
        if name == "link" and url is None:
            url = absolute(base, text(child))
        elif name == "enclosure" or (name == "content" and child.get("url")):
            found = absolute(base, child.get("url"))
            if found:
                media.append(found)
    if url is None:
        guid = next((c for c in item if local(c.tag) == "guid"), None)
        if guid is not None and guid.get("isPermaLink", "true").lower() != "false":
            url = absolute(base, text(guid))
    return Item(url, tuple(dict.fromkeys(media))) if url else None


def _atom_entry(entry: ET.Element, feed_base: str) -> Item | None:
    base = absolute(feed_base, entry.get(XML_BASE)) or feed_base
    url = None
    media = []
    for link in (c for c in entry if local(c.tag) == "link"):
        rel = (link.get("rel") or "alternate").strip().lower()
        href = absolute(base, link.get("href"))
        if not href:
            continue
        if rel == "alternate" and url is None:
            url = href
        elif rel == "enclosure":
            media.append(href)
    return Item(url, tuple(dict.fromkeys(media))) if url else None
