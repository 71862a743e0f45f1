"""Find the media of a captured page: what the media agent should fetch.

Sources, in this order of trust: the page's own metadata (``og:video``,
``og:video:secure_url``, ``og:video:url``, ``twitter:player:stream``),
``<video src>``/``<audio src>`` and their ``<source>`` children, links to media
files (``.mp4 .webm .mov .mkv .m4v .m3u8 .mpd``), embedded players
(``<iframe src>``) and the page URL itself when a yt-dlp extractor (other than
the generic one) recognises them.

Each find has a ``kind`` that decides how it is fetched:
- ``direct``: one file, fetched by warcflow's fetcher (``.mp4``, ``.webm`` …);
- ``stream``: an HLS (``.m3u8``) or DASH (``.mpd``) manifest, or
- ``extractor``: a page yt-dlp knows; both via the fenced yt-dlp.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

DIRECT_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".mp3", ".m4a", ".ogg", ".ogv")
STREAM_EXTENSIONS = (".m3u8", ".mpd")
STREAM_TYPES = ("application/x-mpegurl", "application/vnd.apple.mpegurl", "audio/mpegurl",
                "application/dash+xml")
META_NAMES = ("og:video", "og:video:url", "og:video:secure_url", "twitter:player:stream")


@dataclass(frozen=True)
class FoundMedia:
    url: str
    kind: str
    found_by: str

    def to_dict(self) -> dict[str, str]:
        return {"url": self.url, "kind": self.kind, "found_by": self.found_by}


def media_kind(url: str, mime: str = "") -> str:
    path = urlsplit(url).path.lower()
    if path.endswith(STREAM_EXTENSIONS) or mime.lower() in STREAM_TYPES:
        return "stream"
    return "direct"


class _MediaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.found: list[tuple[str, str, str]] = []  # (raw url, found_by, mime)
        self._media_stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "meta":
            name = (a.get("property") or a.get("name") or "").lower()
            if name in META_NAMES and a.get("content"):
                self.found.append((a["content"], name, a.get("type", "")))
        elif tag in ("video", "audio"):
            self._media_stack.append(tag)
            if a.get("src"):
                self.found.append((a["src"], f"<{tag} src>", a.get("type", "")))
        elif tag == "source" and self._media_stack and a.get("src"):
            self.found.append((a["src"], f"<{self._media_stack[-1]}><source>", a.get("type", "")))
        elif tag == "a" and a.get("href"):
            path = urlsplit(a["href"]).path.lower()
            if path.endswith(DIRECT_EXTENSIONS + STREAM_EXTENSIONS):
                self.found.append((a["href"], "<a href>", ""))
        elif tag == "iframe" and a.get("src"):
            self.found.append((a["src"], "<iframe src>", "embed"))

    def handle_endtag(self, tag):
        if tag in ("video", "audio") and self._media_stack:
            self._media_stack.pop()


def find_media(html: str, page_url: str, *, limit: int = 20,
               recognises=None) -> list[FoundMedia]:
    """Media referenced by an HTML page, deduplicated, at most ``limit``.

    ``recognises(url) -> bool`` says whether a yt-dlp extractor handles a URL
    (default: ``extractor_recognises``); it decides about iframes and the page.
    """
    recognises = recognises or extractor_recognises
    parser = _MediaParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):
        pass
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out: dict[str, FoundMedia] = {}
    for raw, found_by, mime in parser.found:
        url = urljoin(base, raw).split("#")[0]
        if urlsplit(url).scheme not in ("http", "https") or url in out:
            continue
        if mime == "embed":
            if recognises(url):
                out[url] = FoundMedia(url, "extractor", found_by)
            continue
        out[url] = FoundMedia(url, media_kind(url, mime), found_by)
    if not out and recognises(page_url):
        out[page_url] = FoundMedia(page_url, "extractor", "yt-dlp extractor")
    return list(out.values())[:limit]


@functools.lru_cache(maxsize=1)
def _extractors():
    from yt_dlp.extractor import gen_extractor_classes

    return [ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic" and ie.working()]


@functools.lru_cache(maxsize=1)
def _url_patterns() -> list[tuple[type, tuple | None]]:
    """Each extractor with its ``_VALID_URL`` compiled for partial matching, or
    None for those that decide in their own ``suitable`` (always asked)."""
    import regex

    out = []
    for ie in _extractors():
        valid = ie._VALID_URL
        if "suitable" in ie.__dict__ or not valid:
            out.append((ie, None if valid is not False else ()))
            continue
        try:
            out.append((ie, tuple(regex.compile(p) for p in
                                  (valid if isinstance(valid, (list, tuple)) else [valid]))))
        except Exception:  # noqa: BLE001 - a pattern the regex module reads differently
            out.append((ie, None))
    return out


@functools.lru_cache(maxsize=1024)
def _candidates(origin: str) -> tuple[type, ...]:
    """The extractors that could claim some URL starting with ``origin``.

    yt-dlp's URL patterns are anchored at the start, so a pattern that cannot
    match even a prefix of ``scheme://host[:port]`` cannot match any URL of that
    origin (the ``regex`` module's partial matching decides that). About 1 in 20
    extractors remain for a typical host; asking all 1,600 for every page cost
    a capture worker a fifth of its CPU.
    """
    return tuple(ie for ie, patterns in _url_patterns()
                 if patterns is None or any(p.match(origin, partial=True) for p in patterns))


@functools.lru_cache(maxsize=4096)
def extractor_recognises(url: str) -> bool:
    """True if a specific (non-generic) yt-dlp extractor claims ``url``."""
    parts = urlsplit(url)
    cut = len(parts.scheme) + 3
    # the URL's own first characters, so the filter sees exactly what the patterns will
    origin = url[:cut + len(parts.netloc)] if url[cut - 3:cut] == "://" else ""
    return any(ie.suitable(url) for ie in _candidates(origin))
