"""Each watch kind's way from a URL to its items: fetch, then the kind's parser.

``Fetch`` is the only I/O: an async callable returning a URL's body (the
worker's is ``fetch_body`` over the address-policy fetcher). A sitemap index
costs one fetch per child sitemap, at most ``MAX_CHILD_SITEMAPS``.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from streams.watchers.definitions import Watch
from streams.watchers.feeds import parse_feed
from streams.watchers.items import Item, MalformedSource, dedupe
from streams.watchers.links import parse_links
from streams.watchers.sitemaps import parse_sitemap
from streams.watchers.telegram import parse_channel

Fetch = Callable[[str], Awaitable[bytes]]

MAX_CHILD_SITEMAPS = 50
"""Child sitemaps read from one sitemap index, in the order it lists them."""


async def read_items(watch: Watch, fetch: Fetch) -> list[Item]:
    """The items ``watch``'s source lists now. Raises what ``fetch`` raises
    (``archivers.errors.CaptureError``) and MalformedSource."""
    body = await fetch(watch.url)
    if watch.kind == "feed":
        return parse_feed(body, watch.url)
    if watch.kind == "telegram":
        return parse_channel(body, watch.url)
    if watch.kind == "links":
        return parse_links(body, watch.url, watch.compiled())
    if watch.kind == "sitemap":
        sitemap = parse_sitemap(body, watch.url)
        items = list(sitemap.pages)
        for child in sitemap.sitemaps[:MAX_CHILD_SITEMAPS]:
            try:
                items += parse_sitemap(await fetch(child), child).pages  # one level only
            except MalformedSource as exc:
                raise MalformedSource(exc.reason, f"child sitemap {child}: {exc}") from None
        return dedupe(items)
    raise MalformedSource("unknown_kind", f"no parser for watch kind {watch.kind!r}")


async def fetch_body(fetcher, url: str, limit: int) -> bytes:
    """The decoded body of ``url`` through ``fetcher`` (``archivers.fetcher.Fetcher``:
    the address policy, redirects re-checked). An HTTP error status, a redirect
    limit or a truncated body raise the capture side's errors."""
    from archivers.errors import LimitExceeded, http_error
    from archivers.net.recording import decoded_body

    chain = await fetcher.fetch_chain(url)
    try:
        final = chain[-1]
        status = final.status
        if status >= 400:
            raise http_error(status, f"{final.url} answered HTTP {status}")
        if final.redirect_target():
            raise LimitExceeded(f"{url} redirects too often", reason="max_redirects")
        if final.response.truncated:
            raise LimitExceeded(f"{final.url} is larger than the fetch limit",
                                reason="too_large")
        return decoded_body(final.response, limit)
    finally:
        for exchange in chain:
            exchange.close()
