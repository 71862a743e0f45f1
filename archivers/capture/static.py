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
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from archivers.errors import CaptureError
from archivers.extract.requisites import html_requisites, stylesheet_requisites
from archivers.net.fetcher import Fetcher
from archivers.net.recording import Exchange, content_type, decoded_body

PARSE_LIMIT = 8 * 1024 * 1024
"""Most bytes of a decoded HTML or CSS document read to look for requisites."""


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


def _links(exchange: Exchange, limits_hit: list[str]) -> list[str]:
    """Requisites named by an HTML or CSS response; a body decoding to more than
    ``PARSE_LIMIT`` (a decompression bomb, or just huge) is searched only that
    far, and ``limits_hit`` says so."""
    kind = content_type(exchange.response)
    if exchange.status >= 400 or kind not in ("text/html", "application/xhtml+xml", "text/css"):
        return []
    data = decoded_body(exchange.response, PARSE_LIMIT)
    if len(data) >= PARSE_LIMIT:
        limits_hit.append(
            f"parse_limit={PARSE_LIMIT}: requisites of {exchange.url} looked "
            "for in the first bytes of its decoded body only"
        )
    text = data.decode("utf-8", "replace")
    if kind == "text/css":
        return stylesheet_requisites(text, exchange.url)
    return html_requisites(text, exchange.url)


async def capture_page(fetcher: Fetcher, url: str) -> PageCapture:
    """Fetch ``url`` and its requisites. Raises CaptureError if the page itself fails."""
    started_at = fetcher.clock()
    chain = await fetcher.fetch_chain(url)
    page = PageCapture(chain=chain, started_at=started_at)
    for exchange in chain:
        page.limits_hit.extend(exchange.limits_hit)
    try:
        await _fetch_requisites(fetcher, page)
    except BaseException:
        page.close()
        raise
    page.finished_at = fetcher.clock()
    return page


async def _fetch_requisites(fetcher: Fetcher, page: PageCapture) -> None:
    settings = fetcher.settings
    seen = {exchange.url for exchange in page.chain}
    semaphore = asyncio.Semaphore(settings.requisite_concurrency)
    budget = settings.max_requisites
    wave = _links(page.final, page.limits_hit)
    referer = page.final.url

    async def one(link: str) -> list[Exchange]:
        async with semaphore:
            try:
                return await fetcher.fetch_chain(link, referer=referer)
            except CaptureError as exc:
                page.requisite_failures.append(
                    {"url": link, "reason": exc.reason, "message": str(exc)}
                )
                return []

    for _depth in range(2):
        todo = [link for link in dict.fromkeys(wave) if link not in seen]
        if len(todo) > budget:
            page.limits_hit.append(
                f"max_requisites={settings.max_requisites}: {len(todo) - budget} not fetched"
            )
            todo = todo[:budget]
        budget -= len(todo)
        seen.update(todo)
        results = await asyncio.gather(*(one(link) for link in todo))
        wave = []
        for chain in results:
            page.requisites.extend(chain)
            for exchange in chain:
                page.limits_hit.extend(exchange.limits_hit)
            if chain:
                wave.extend(_links(chain[-1], page.limits_hit))
        if not wave or budget <= 0:
            break
