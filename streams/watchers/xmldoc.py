"""Parsing untrusted XML (feeds, sitemaps) with the standard library, safely.

ElementTree never fetches external entities; the remaining danger is entity
expansion (billion laughs). Feeds and sitemaps have no business declaring
entities, so a document with an entity declaration is refused outright
rather than expanded: expat itself reports the declarations, whatever the
document's encoding (a byte search alone misses UTF-16). A UTF-8 byte-order
mark and leading whitespace are tolerated, as feed readers do.
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
    if _ENTITY.search(data) or _declares_entities(data):
        raise MalformedSource("unsafe_xml", f"the {what} declares XML entities; refused")
    try:
        # entity declarations were refused above: ElementTree fetches no DTD, so
        # what defusedxml guards against cannot happen (tests/corpus/watch/bad)
        return ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        raise MalformedSource("not_xml", f"the {what} is not well-formed XML: {exc}") from None


class _Declared(Exception):
    pass


def _declares_entities(data: bytes) -> bool:
    """Does expat see an entity declaration (internal or external, any encoding)?
    Malformed documents answer False here and fail in the real parse."""
    from xml.parsers import expat

    def refuse(*_args) -> None:
        raise _Declared

    parser = expat.ParserCreate()
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except _Declared:
        return True
    except expat.ExpatError:
        return False
    return False


def local(tag: object) -> str:
    """An element's name without its namespace: ``{http://…}entry`` → ``entry``."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""
