"""Links on a page whose absolute URL matches a pattern: account timelines that
render on the server (Nitter-like front ends, Mastodon's public pages) or come
from a JSON API (Mastodon's ``/api/v1/accounts/<id>/statuses``).

In HTML, ``<a href>`` and ``<link href>`` targets, resolved against ``<base
href>`` and the page URL; in a JSON document (a body starting with ``{`` or
``[`` that parses), every string value that is an absolute http(s) URL. Those
where ``pattern.search(url)`` matches, fragments dropped, are the items, in
document order (anchor the pattern with ``^…$`` to match whole URLs). A page
without matching links is simply empty.
"""

from __future__ import annotations

import json
import re

from archivers.extract.html import TagWalker
from streams.watchers.items import Item, absolute, dedupe


class _Links(TagWalker):
    def __init__(self) -> None:
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag in ("a", "link") and a.get("href"):
            self.hrefs.append(a["href"])


def parse_links(body: bytes, page_url: str, pattern: re.Pattern[str]) -> list[Item]:
    """Matching links of an HTML page or JSON document, deduplicated, in document order."""
    if body.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            doc = None  # HTML or text that happens to start so, or absurdly deep
        if doc is not None:
            urls = (
                absolute(page_url, s)
                for s in _strings(doc)
                if s.startswith(("http://", "https://"))
            )
            return dedupe([Item(url) for url in urls if url and pattern.search(url)])
    parser = _Links()
    parser.walk(body.decode("utf-8", errors="replace"))
    base = absolute(page_url, parser.base) or page_url
    urls = (absolute(base, href) for href in parser.hrefs)
    return dedupe([Item(url) for url in urls if url and pattern.search(url)])


def _strings(doc, depth: int = 0):
    """Every string value of a JSON document, in document order (nesting bounded)."""
    if depth > 64:
        return
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, list):
        for value in doc:
            yield from _strings(value, depth + 1)
    elif isinstance(doc, dict):
        for value in doc.values():
            yield from _strings(value, depth + 1)
