"""Find the media of a captured page: what the media agent should fetch.

Sources, in this order of trust: the page's own metadata (``og:video``,
``og:video:secure_url``, ``og:video:url``, ``twitter:player:stream``),
``<video src>``/``<audio src>`` and their ``<source>`` children, links to media
files (``.mp4 .webm .mov .mkv .m4v .m3u8 .mpd``), embedded players
(``<iframe src>``) and the page URL itself when a yt-dlp extractor (other than
the generic one) recognises them (the caller hands in ``recognises``).

Each find has a ``kind`` that decides how it is fetched:
- ``direct``: one file, fetched by warcflow's fetcher (``.mp4``, ``.webm`` …);
- ``stream``: an HLS (``.m3u8``) or DASH (``.mpd``) manifest, or
- ``extractor``: a page yt-dlp knows; both via the fenced yt-dlp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from archivers.extract.html import TagWalker

DIRECT_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".mp3", ".m4a", ".ogg", ".ogv")
STREAM_EXTENSIONS = (".m3u8", ".mpd")
STREAM_TYPES = (
    "application/x-mpegurl",
    "application/vnd.apple.mpegurl",
    "audio/mpegurl",
    "application/dash+xml",
)
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


class _MediaParser(TagWalker):
    def __init__(self) -> None:
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


@dataclass(frozen=True)
class Found:
    """What the markup names, before anyone asks yt-dlp: ``parse``'s answer."""

    base: str
    found: list[tuple[str, str, str]]
    """(raw URL, found by, MIME type or ``embed``), in document order."""


def parse(html: str, page_url: str) -> Found:
    """The media references of an HTML page (the part a parser process runs)."""
    parser = _MediaParser()
    parser.walk(html)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    return Found(base, parser.found[:MAX_REFERENCES])


MAX_REFERENCES = 10_000
"""Most media references read from one page (``limit`` keeps far fewer)."""


def find_media(
    html: str, page_url: str, *, recognises: Callable[[str], bool], limit: int = 20
) -> list[FoundMedia]:
    """Media referenced by an HTML page, deduplicated, at most ``limit``.

    ``recognises(url) -> bool`` says whether a yt-dlp extractor handles a URL
    (``archivers.media.ytdlp.extractor_recognises``, handed in by the wiring:
    this module knows nothing of yt-dlp); it decides about iframes and the page.
    """
    return choose(parse(html, page_url), page_url, recognises=recognises, limit=limit)


def choose(
    found: Found, page_url: str, *, recognises: Callable[[str], bool], limit: int = 20
) -> list[FoundMedia]:
    """``find_media`` from what ``parse`` found (in the caller's process)."""
    base = found.base
    out: dict[str, FoundMedia] = {}
    for raw, found_by, mime in found.found:
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
