"""Page capture: the page (following redirects) plus its requisites, as exchanges.

Kafka-free and store-free: ``capture_page`` returns the recorded exchanges and
what happened; writing them as WARC records is the caller's business. The
page's own failure raises (CaptureError); a requisite's failure is recorded in
``requisite_failures`` and the capture goes on, since a page without one image
is still evidence.

Requisites are fetched concurrently (``requisite_concurrency`` at a time), in
two waves: those of the HTML, then those of the stylesheets found in the first
wave (fonts, background images). At most ``max_requisites`` in all; the rest
are listed in ``limits_hit``.

Each HTML or CSS body is parsed in a parser process (``archivers.extract.budget``)
under a CPU, memory and size budget, one document of a page at a time, so the
event loop never waits on a parse and a page of hostile stylesheets holds at
most one of the worker's parser processes. A document over budget is kept as
served (its bytes are in the WARC) and ``limits_hit`` says what was not read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from archivers.errors import CaptureError
from archivers.extract import budget
from archivers.extract.requisites import CSS_TYPE, HTML_TYPES
from archivers.net.cookies import SessionCookies
from archivers.net.fetcher import Fetcher
from archivers.net.recording import Exchange, content_type, decoded_body

PARSE_LIMIT = 8 * 1024 * 1024
"""Most bytes of a decoded HTML document read to look for requisites."""
CSS_PARSE_LIMIT = 2 * 1024 * 1024
"""Most bytes of a decoded stylesheet read (CSS costs its parser more a byte)."""


@dataclass
class PageCapture:
    chain: list[Exchange]
    started_at: datetime
    finished_at: datetime | None = None
    requisites: list[Exchange] = field(default_factory=list)
    requisite_failures: list[dict[str, str]] = field(default_factory=list)
    limits_hit: list[str] = field(default_factory=list)

    @property
    def final(self) -> Exchange:
        return self.chain[-1]

    @property
    def exchanges(self) -> list[Exchange]:
        return self.chain + self.requisites

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.close()


async def _links(exchange: Exchange, limits_hit: list[str]) -> list[str]:
    """Requisites named by an HTML or CSS response; a body decoding to more than
    its parse limit (a decompression bomb, or just huge) is searched only that
    far, one over the parse budget not at all, and ``limits_hit`` says so."""
    kind = content_type(exchange.response)
    if exchange.status >= 400 or kind not in (*HTML_TYPES, CSS_TYPE):
        return []
    limit = CSS_PARSE_LIMIT if kind == CSS_TYPE else PARSE_LIMIT
    data = decoded_body(exchange.response, limit)
    if len(data) >= limit:
        limits_hit.append(
            f"parse_limit={limit}: requisites of {exchange.url} looked "
            "for in the first bytes of its decoded body only"
        )
    parsed = await budget.pool().run(
        "archivers.extract.requisites:links",
        kind,
        data.decode("utf-8", "replace"),
        exchange.url,
        what=exchange.url,
    )
    if parsed.over_budget:
        limits_hit.append(parsed.over_budget)
        return []
    found, truncated = parsed.value
    if truncated:
        limits_hit.append(
            f"html_depth: {exchange.url} nests elements deeper than the HTML parser follows; "
            "requisites inside the deepest part were not looked for"
        )
    return list(found)


async def capture_page(
    fetcher: Fetcher, url: str, session: SessionCookies | None = None
) -> PageCapture:
    """Fetch ``url`` and its requisites, with ``session``'s cookies where they
    apply. Raises CaptureError if the page itself fails."""
    started_at = fetcher.clock()
    chain = await fetcher.fetch_chain(url, session=session)
    page = PageCapture(chain=chain, started_at=started_at)
    for exchange in chain:
        page.limits_hit.extend(exchange.limits_hit)
    try:
        await _fetch_requisites(fetcher, page, session)
    except BaseException:
        page.close()
        raise
    page.finished_at = fetcher.clock()
    return page


async def _fetch_requisites(
    fetcher: Fetcher, page: PageCapture, session: SessionCookies | None
) -> None:
    settings = fetcher.settings
    seen = {exchange.url for exchange in page.chain}
    semaphore = asyncio.Semaphore(settings.requisite_concurrency)
    parsing = asyncio.Semaphore(1)  # one parse of this page's documents at a time
    remaining = settings.max_requisites
    wave = await _links(page.final, page.limits_hit)
    referer = page.final.url

    async def one(link: str) -> list[Exchange]:
        async with semaphore:
            try:
                return await fetcher.fetch_chain(link, referer=referer, session=session)
            except CaptureError as exc:
                page.requisite_failures.append(
                    {"url": link, "reason": exc.reason, "message": str(exc)}
                )
                return []

    async def parse(exchange: Exchange) -> list[str]:
        async with parsing:
            return await _links(exchange, page.limits_hit)

    for depth in range(2):
        todo = [link for link in dict.fromkeys(wave) if link not in seen]
        if len(todo) > remaining:
            page.limits_hit.append(
                f"max_requisites={settings.max_requisites}: {len(todo) - remaining} not fetched"
            )
            todo = todo[:remaining]
        remaining -= len(todo)
        seen.update(todo)
        results = await asyncio.gather(*(one(link) for link in todo))
        wave = []
        for chain in results:
            page.requisites.extend(chain)
            for exchange in chain:
                page.limits_hit.extend(exchange.limits_hit)
        if depth == 1 or remaining <= 0:
            break  # what the last wave names is not fetched: nothing to parse it for
        found = await asyncio.gather(*(parse(chain[-1]) for chain in results if chain))
        for links in found:
            wave.extend(links)
        if not wave or remaining <= 0:
            break
