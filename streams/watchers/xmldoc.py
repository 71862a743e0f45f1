"""Parsing untrusted XML (feeds, sitemaps) with the standard library, safely.

ElementTree never fetches external entities; the remaining danger is entity
expansion (billion laughs). Feeds and sitemaps have no business declaring
entities, so a document with an ``<!ENTITY`` declaration is refused outright
rather than expanded. A UTF-8 byte-order mark and leading whitespace are
tolerated, as feed readers do.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from streams.watchers.items import MalformedSource

_ENTITY = re.compile(rb"<!ENTITY", re.I)


def parse_xml(body: bytes, what: str) -> ET.Element:
    """The root element of ``body``; MalformedSource (``not_xml`` or ``unsafe_xml``)
    naming ``what`` (e.g. "feed") otherwise."""
    data = body.lstrip(b"\xef\xbb\xbf").lstrip()
    if not data:
        raise MalformedSource("not_xml", f"the {what} is empty")
    if _ENTITY.search(data):
        raise MalformedSource("unsafe_xml", f"the {what} declares XML entities; refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise MalformedSource("not_xml", f"the {what} is not well-formed XML: {exc}") from None


def local(tag: object) -> str:
    """An element's name without its namespace: ``{http://…}entry`` → ``entry``."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""
