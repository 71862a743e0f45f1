"""Links on a page whose absolute URL matches a pattern: account timelines that
render on the server (Nitter-like front ends, Mastodon's public pages).

``<a href>`` and ``<link href>`` targets are resolved against ``<base href>``
and the page URL, fragments dropped; those where ``pattern.search(url)``
matches are the items, in document order (anchor the pattern with ``^…$`` to
match whole URLs). An HTML page without matching links is simply empty.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from streams.watchers.items import Item, absolute, dedupe


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag in ("a", "link") and a.get("href"):
            self.hrefs.append(a["href"])


def parse_links(body: bytes, page_url: str, pattern: re.Pattern[str]) -> list[Item]:
    """Matching links of an HTML page, deduplicated, in document order."""
    parser = _Links()
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    except (AssertionError, ValueError):
        pass
    base = absolute(page_url, parser.base) or page_url
    urls = (absolute(base, href) for href in parser.hrefs)
    return dedupe([Item(url) for url in urls if url and pattern.search(url)])
