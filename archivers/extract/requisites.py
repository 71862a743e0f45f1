"""Find a page's requisites: the images, stylesheets, scripts and fonts it needs to replay.

Pure functions over decoded text (``archivers.net.recording.decoded_body``
gives it, capped); no I/O. HTML is read by lxml (``archivers.extract.html``),
CSS by tinycss2 (``archivers.extract.css``): both linear, no regular
expression on the document. ``links`` is the entry point a parser process
runs (``archivers.extract.budget``).

Found in HTML: ``<img src srcset>``, ``<source srcset>`` of pictures,
``<link rel=stylesheet|icon|preload|modulepreload href>``, ``<script src>``,
``<video poster>``, ``<input type=image src>``, ``style`` attributes and
``<style>`` blocks. Found in CSS: ``url(...)`` and ``@import``. Media sources
(``<video src>``, ``<source src>``) are not requisites; media capture finds
them. Only http(s) URLs are returned, resolved against ``<base href>`` or the
document URL, deduplicated, in document order.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from archivers.extract.css import css_urls
from archivers.extract.html import TagWalker

HTML_TYPES = ("text/html", "application/xhtml+xml")
CSS_TYPE = "text/css"
_LINK_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "prefetch",
}


def _srcset_urls(value: str) -> list[str]:
    return [item.strip().split()[0] for item in value.split(",") if item.strip()]


class _PageParser(TagWalker):
    def __init__(self) -> None:
        self.base: str | None = None
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "img":
            self._add(a.get("src"))
            self.found.extend(_srcset_urls(a.get("srcset", "")))
        elif tag == "source" and a.get("srcset"):
            self.found.extend(_srcset_urls(a["srcset"]))
        elif tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & _LINK_RELS:
                self._add(a.get("href"))
        elif tag == "script":
            self._add(a.get("src"))
        elif tag == "video":
            self._add(a.get("poster"))
        elif tag == "input" and a.get("type", "").lower() == "image":
            self._add(a.get("src"))
        elif tag == "style":
            self._in_style = True
        if a.get("style"):
            self.found.extend(css_urls(a["style"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(css_urls(data))

    def _add(self, url: str | None) -> None:
        if url and url.strip():
            self.found.append(url.strip())


def _absolute(base: str, found: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in found:
        url = urljoin(base, raw).split("#")[0]
        if urlsplit(url).scheme in ("http", "https") and url not in seen:
            seen[url] = None
    return list(seen)


def html_requisites(html: str, url: str) -> list[str]:
    """Absolute http(s) URLs of the requisites of an HTML document at ``url``."""
    return _html_links(html, url)[0]


def _html_links(html: str, url: str) -> tuple[list[str], bool]:
    parser = _PageParser()
    parser.walk(html)
    base = urljoin(url, parser.base) if parser.base else url
    return _absolute(base, parser.found), parser.truncated


def stylesheet_requisites(css: str, url: str) -> list[str]:
    """Absolute http(s) URLs referenced by a stylesheet at ``url``."""
    return _absolute(url, css_urls(css))


def links(kind: str, text: str, url: str) -> tuple[list[str], bool]:
    """(requisites of a document of content type ``kind`` (HTML or CSS) at ``url``,
    whether the HTML nested deeper than the parser follows: the rest was not read)."""
    if kind == CSS_TYPE:
        return stylesheet_requisites(text, url), False
    if kind in HTML_TYPES:
        return _html_links(text, url)
    return [], False
