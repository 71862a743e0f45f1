"""Each watch kind's way from a URL to its items: the one table of kinds.

A watch kind is one parser module (pure: bytes in, ``Item`` list out) plus
one row of ``KINDS`` here: its name, the line ``warcflow watch add --help``
shows, how to read it (fetch, then parse), whether it takes a ``pattern``
and how its URL is normalised. ``streams.watchers.definitions`` validates
watches against this table; nothing else names the kinds.

``Fetch`` is the only I/O: an async callable returning a URL's body (the
worker's is ``fetch_body`` over the address-policy fetcher). A sitemap index
costs one fetch per child sitemap, at most ``MAX_CHILD_SITEMAPS``.

Every parse runs in a parser process (``archivers.extract.budget``) under its
CPU, memory and time budget, never on the leader's event loop: a hostile
source (a quadratic page, a ``links`` pattern that backtracks) costs one
parser process its budget and the poll fails ``over_budget``; the loop, its
heartbeat and the ledger's timer go on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archivers.extract import budget
from streams.watchers.items import Item, MalformedSource, dedupe
from streams.watchers.sheet import sheet_csv_url
from streams.watchers.telegram import channel_preview_url

if TYPE_CHECKING:
    from streams.watchers.definitions import Watch

Fetch = Callable[[str], Awaitable[bytes]]
log = logging.getLogger("warcflow.watch")

MAX_CHILD_SITEMAPS = 50
"""Child sitemaps read from one sitemap index, in the order it lists them."""


@dataclass(frozen=True)
class Kind:
    """One kind of watch: how its source is read and what a definition needs."""

    name: str
    help: str
    """What it watches and what it submits, for ``warcflow watch add --help``."""
    read: Callable[[Watch, Fetch], Awaitable[list[Item]]]
    takes_pattern: bool = False
    """True: a ``pattern`` is required (and applied by ``read``); False: refused."""
    canonical_url: Callable[[str], str] = lambda url: url
    """The URL actually polled, from the URL the user gave."""


async def parse(task: str, *args: Any, what: str) -> Any:
    """``task(*args)`` in a parser process; MalformedSource ``over_budget`` if it
    ran out of its budget."""
    parsed = await budget.pool().run(task, *args, what=what)
    if parsed.over_budget:
        raise MalformedSource("over_budget", parsed.over_budget)
    return parsed.value


async def _feed(watch: Watch, fetch: Fetch) -> list[Item]:
    body = await fetch(watch.url)
    return await parse("streams.watchers.feeds:parse_feed", body, watch.url, what=watch.url)


async def _telegram(watch: Watch, fetch: Fetch) -> list[Item]:
    body = await fetch(watch.url)
    return await parse("streams.watchers.telegram:parse_channel", body, watch.url, what=watch.url)


async def _links(watch: Watch, fetch: Fetch) -> list[Item]:
    body = await fetch(watch.url)
    # the pattern is the watch author's: it runs in the parser process too, so
    # one that backtracks is ended by the budget (review F11)
    return await parse(
        "streams.watchers.links:parse_links", body, watch.url, watch.compiled(), what=watch.url
    )


async def _sitemap(watch: Watch, fetch: Fetch) -> list[Item]:
    body = await fetch(watch.url)
    sitemap = await parse(
        "streams.watchers.sitemaps:parse_sitemap", body, watch.url, what=watch.url
    )
    items = list(sitemap.pages)
    for child in sitemap.sitemaps[:MAX_CHILD_SITEMAPS]:
        try:
            body = await fetch(child)
            items += (
                await parse("streams.watchers.sitemaps:parse_sitemap", body, child, what=child)
            ).pages  # one level only
        except MalformedSource as exc:
            raise MalformedSource(exc.reason, f"child sitemap {child}: {exc}") from None
    return dedupe(items)


async def _sheet(watch: Watch, fetch: Fetch) -> list[Item]:
    body = await fetch(watch.url)
    rows = await parse("streams.watchers.sheet:parse_sheet", body, watch.url, what=watch.url)
    for problem in rows.problems:
        log.warning("watch %s: %s: left out: %s", watch.id, watch.url, problem)
    return rows.items


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("feed", "an RSS 2.0, RSS 1.0 or Atom feed: each item's link (and enclosures)", _feed),
        Kind(
            "telegram",
            "a public Telegram channel (https://t.me/CHANNEL or https://t.me/s/CHANNEL):\n"
            "each post https://t.me/CHANNEL/ID, and its photos and videos",
            _telegram,
            canonical_url=channel_preview_url,
        ),
        Kind("sitemap", "a sitemap or sitemap index (one level): each page URL", _sitemap),
        Kind(
            "links",
            "an HTML page (or a JSON API answer, e.g. Mastodon's statuses): each\n"
            "link (each URL string) whose absolute URL matches --pattern REGEX\n"
            "(Python re.search; anchor with ^...$ to match whole URLs)",
            _links,
            takes_pattern=True,
        ),
        Kind(
            "sheet",
            "a sheet published as CSV (Google Sheets' 'Publish to the web' CSV link,\n"
            "a LibreOffice/Nextcloud CSV link): each row's url, with its tags, note,\n"
            "case and mode columns; a row is known by its URL (editing it does not\n"
            "submit it again)",
            _sheet,
            canonical_url=sheet_csv_url,
        ),
    )
}


async def read_items(watch: Watch, fetch: Fetch) -> list[Item]:
    """The items ``watch``'s source lists now. Raises what ``fetch`` raises
    (``archivers.errors.CaptureError``) and MalformedSource."""
    kind = KINDS.get(watch.kind)
    if kind is None:
        raise MalformedSource("unknown_kind", f"no parser for watch kind {watch.kind!r}")
    return await kind.read(watch, fetch)


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
            raise LimitExceeded(f"{final.url} is larger than the fetch limit", reason="too_large")
        return decoded_body(final.response, limit)
    finally:
        for exchange in chain:
            exchange.close()
