"""What a capture reads from its page, in one parser-process call: the media the
markup names (``archivers.extract.media.parse``) and the post's identity as
the page states it (``archivers.extract.post.post_from_html``)."""

from __future__ import annotations

from typing import Any

from archivers.extract.media import Found, parse
from archivers.extract.post import post_from_html


def inspect(
    html: str, page_url: str, with_media: bool
) -> tuple[Found | None, dict[str, Any] | None]:
    """(media references or None when not asked for, the post's identity or None)."""
    return (parse(html, page_url) if with_media else None), post_from_html(html, page_url)
