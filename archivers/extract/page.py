"""What a capture reads from its page, in one parser-process call: the media the
markup names (``archivers.extract.media.parse``), the post's identity as the
page states it (``archivers.extract.post.post_from_html``) and the page's
readable text (``archivers.extract.text.page_text``)."""

from __future__ import annotations

from typing import Any

from archivers.extract.media import Found, parse
from archivers.extract.post import post_from_html
from archivers.extract.text import page_text


def inspect(
    html: str, page_url: str, with_media: bool
) -> tuple[Found | None, dict[str, Any] | None, str]:
    """(media references or None when not asked for, the post's identity or
    None, the page's readable text)."""
    text, _cut = page_text(html)
    return (parse(html, page_url) if with_media else None), post_from_html(html, page_url), text
