"""A public Telegram channel's web preview (``https://t.me/s/<channel>``) → its posts.

Each message of the preview is an element with ``data-post="<channel>/<id>"``;
its post URL is ``<origin>/<channel>/<id>`` on the preview's own origin
(``https://t.me/<channel>/<id>`` for the real site). Media inside a message —
``<video src>``, ``<source src>``, ``<img src>`` of its media area and the
``background-image:url(…)`` of photo and video-thumbnail links — are the item's
media. The preview shows the newest ~20 posts only; a watch must poll often
enough not to miss posts in a burst.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from archivers.extract.css import css_urls
from archivers.extract.html import TagWalker
from streams.watchers.items import Item, MalformedSource, absolute, dedupe

_POST = re.compile(r"^([A-Za-z0-9_]{1,64})/(\d{1,12})$")
_MEDIA_CLASSES = (
    "tgme_widget_message_photo_wrap",
    "tgme_widget_message_video",
    "tgme_widget_message_video_thumb",
    "tgme_widget_message_video_player",
    "tgme_widget_message_document_wrap",
    "tgme_widget_message_roundvideo",
)


def channel_preview_url(url: str) -> str:
    """``https://t.me/<channel>`` or ``…/s/<channel>`` → ``https://t.me/s/<channel>``;
    other URLs unchanged (a preview served elsewhere, e.g. a test site)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.hostname in ("t.me", "telegram.me") and len(segments) == 1:
        return f"https://t.me/s/{segments[0]}"
    return url


class _Preview(TagWalker):
    """Posts and their media. Start and end tags come balanced (lxml's tree), so
    "inside a post" is a count of open post elements, never a scan of the stack
    (which made ``"<b>" * n`` quadratic: a 240 KB page took 65 s; review F3)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, list[str]]] = []  # (channel/id, raw media refs)
        self._opened: list[bool] = []  # per open element: did it open a post
        self._posts_open = 0

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        post = a.get("data-post", "").strip()
        opens = bool(_POST.match(post)) and not self._posts_open
        if opens:
            self.posts.append((post, []))
        elif self._posts_open:
            self._media(tag, a)
        self._opened.append(opens)
        self._posts_open += opens

    def handle_endtag(self, tag):
        if self._opened:
            self._posts_open -= self._opened.pop()

    def _media(self, tag, a):
        refs = self.posts[-1][1]
        classes = a.get("class", "")
        if tag in ("video", "source") and a.get("src"):
            refs.append(a["src"])
        elif any(c in classes for c in _MEDIA_CLASSES):
            style = a.get("style", "")
            if "background-image" in style.lower():
                refs.extend(css_urls(style)[:1])
            if tag == "img" and a.get("src"):
                refs.append(a["src"])


def parse_channel(body: bytes, preview_url: str) -> list[Item]:
    """Posts of a channel preview page in page order (oldest first, as Telegram
    lists them), each with its media; MalformedSource if the page has no posts
    and does not look like a channel preview."""
    html = body.decode("utf-8", errors="replace")
    parser = _Preview()
    parser.walk(html)
    if not parser.posts and "tgme_channel_info" not in html and "tgme_widget_message" not in html:
        raise MalformedSource(
            "not_a_channel", "the page is not a Telegram channel preview (no data-post)"
        )
    parts = urlsplit(preview_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    items = []
    for post, refs in parser.posts:
        media = tuple(dict.fromkeys(m for m in (absolute(preview_url, r) for r in refs) if m))
        items.append(Item(f"{origin}/{post}", media))
    return dedupe(items)
