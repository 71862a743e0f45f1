"""What a capture reads from its page, in one parser-process call: the media the
markup names (``archivers.extract.media.parse``), the post's identity as the
page states it (``archivers.extract.post.post_from_html``) and the page's
readable text (``archivers.extract.text.readable_text``)."""

from __future__ import annotations

from typing import Any

from archivers.extract.media import Found, parse
from archivers.extract.post import post_from_html
from archivers.extract.text import readable_text


def inspect(
    html: str, page_url: str, with_media: bool
) -> tuple[Found | None, dict[str, Any] | None, dict[str, Any]]:
    """(media references or None when not asked for, the post's identity or None,
    the readable text as ``{"text", "title", "truncated"}``)."""
    text = readable_text(html)
    return (
        (parse(html, page_url) if with_media else None),
        post_from_html(html, page_url),
        {"text": text.text, "title": text.title, "truncated": text.truncated},
    )
