"""What a parser returns (``Item``) and the one error it may raise (``MalformedSource``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_ITEMS_PER_BODY = 50_000
"""Most items read from one body (the sitemap protocol's own limit per file)."""


class MalformedSource(Exception):
    """A fetched body that is not what the watch's kind expects.

    ``reason`` is a stable code (``not_xml``, ``unsafe_xml``, ``not_a_feed``,
    ``not_a_sitemap``, ``not_a_channel``); ``str()`` is the human sentence.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        # raised in a parser process, raised again here (archivers.extract.budget)
        return (MalformedSource, (self.reason, str(self)))


@dataclass(frozen=True)
class Item:
    """One post found by a watcher: its absolute http(s) ``url`` and the media
    links that came with it (Telegram photos and videos, feed enclosures), in
    document order. ``url`` is the identity of the item: the seen state is
    keyed by it.

    A source that says how to submit each item (a sheet's row) gives its
    ``tags`` (added to the watch's), ``note``, ``case_id`` and ``mode``."""

    url: str
    media: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    note: str | None = None
    case_id: str | None = None
    mode: str | None = None


def dedupe(items: list[Item]) -> list[Item]:
    """First occurrence of each URL, in order; media of repeats merged into it."""
    out: dict[str, Item] = {}
    for item in items:
        if item.url in out:
            known = out[item.url]
            extra = tuple(m for m in item.media if m not in known.media)
            if extra:
                out[item.url] = replace(known, media=known.media + extra)
        else:
            out[item.url] = item
    return list(out.values())[:MAX_ITEMS_PER_BODY]


def absolute(base: str, ref: str | None) -> str | None:
    """``ref`` resolved against ``base`` without its fragment, if it is http(s)."""
    from urllib.parse import urljoin, urlsplit

    if not ref:
        return None
    try:
        url = urljoin(base, ref.strip()).split("#", 1)[0]
        scheme = urlsplit(url).scheme
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None
