"""Hostile documents cannot stall a worker (security review F3, F11).

The review's inputs, at the sizes that hurt: a stylesheet of ``"url(" * n``
(160 KB held a worker 50 s before; 8 MB, hours), a page of ``"<a" * n``
(120 KB froze the loop 6.9 s), a Telegram preview of ``"<b>" * n`` (240 KB,
65 s), a ``links`` pattern that backtracks. Each is parsed while a heartbeat
coroutine ticks on the same loop and another capture runs: the test asserts
the heartbeat advanced *while the parse was in flight* and the other capture
was stored — progress, not timing. A parse past its budget ends recorded in
``limits_hit`` (captures) or as ``over_budget`` (watches), the bytes kept.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archivers.capture.static import CSS_PARSE_LIMIT, capture_page
from archivers.extract import budget
from archivers.extract.css import css_urls
from archivers.extract.media import find_media
from archivers.extract.post import post_from_html
from archivers.extract.requisites import html_requisites
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from streams.watchers.definitions import new_watch
from streams.watchers.items import MalformedSource
from streams.watchers.kinds import read_items
from streams.watchers.links import parse_links
from streams.watchers.telegram import parse_channel
from tests.support.site import Route


async def _with_heartbeat(work, *others):
    """Run ``work`` and ``others`` with a heartbeat ticking on the loop; return
    (work's result, others' results, ticks seen while a parse was in flight)."""
    pool = budget.pool()
    ticks = {"during_parse": 0}
    stop = asyncio.Event()

    async def heartbeat():
        while not stop.is_set():
            if pool.in_flight:
                ticks["during_parse"] += 1
            await asyncio.sleep(0.001)

    beat = asyncio.create_task(heartbeat())
    try:
        results = await asyncio.gather(work, *others)
    finally:
        stop.set()
        await beat
    return results[0], results[1:], ticks["during_parse"]


def _fetcher(site):
    return Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))


STYLESHEETS = {
    "url( 160 KB": b"url(" * 40_000,
    "url( 8 MB": b"url(" * 2_000_000,
}


@pytest.mark.parametrize("name", sorted(STYLESHEETS))
def test_a_hostile_stylesheet_costs_the_loop_nothing(site, name):
    body = STYLESHEETS[name]
    site.routes["/evil.css"] = Route(body, content_type="text/css")
    site.routes["/evil"] = Route(
        b'<html><head><link rel="stylesheet" href="/evil.css"></head>'
        b'<body style="background:url(/bg.png)">' + b"<p>" * 100 + b"</body></html>"
    )
    fetcher = _fetcher(site)

    async def run():
        return await _with_heartbeat(
            capture_page(fetcher, site.url("/evil")), capture_page(fetcher, site.url("/post/1"))
        )

    hostile, (benign,), ticks = asyncio.run(run())
    assert ticks > 0  # the loop went on while the stylesheet was parsed
    assert site.url("/static/photo.png") in [e.url for e in benign.requisites]
    assert site.url("/evil.css") in [e.url for e in hostile.requisites]
    if len(body) > CSS_PARSE_LIMIT:
        assert any(hit.startswith(f"parse_limit={CSS_PARSE_LIMIT}") for hit in hostile.limits_hit)
    hostile.close()
    benign.close()


def test_a_page_of_lt_a_costs_the_loop_nothing(site):
    # 120 KB froze the loop 6.9 s before (CPython's html.parser); 8 MB here
    site.routes["/evil"] = Route(b'<img src="/first.png">' + b"<a" * (4 * 1024 * 1024))
    fetcher = _fetcher(site)

    async def run():
        return await _with_heartbeat(
            capture_page(fetcher, site.url("/evil")), capture_page(fetcher, site.url("/post/1"))
        )

    hostile, (benign,), ticks = asyncio.run(run())
    assert ticks > 0
    assert site.count("/first.png") == 1  # what the page names before the junk is read
    assert site.url("/static/site.css") in [e.url for e in benign.requisites]
    hostile.close()
    benign.close()


def test_a_telegram_preview_of_unclosed_tags_costs_the_leader_nothing():
    # 240 KB of "<b>" outside any post took the watcher 65 s before (a scan of
    # the whole tag stack per tag); a post before them is still read
    post = b'<div class="tgme_widget_message" data-post="chan/7"><video src="/v.mp4"></video></div>'
    watch = new_watch("telegram", "https://t.me/s/chan", every=60)

    async def fetch(_url):
        return post + b"<b>" * 80_000

    async def run():
        return await _with_heartbeat(read_items(watch, fetch), asyncio.sleep(0))

    items, _, ticks = asyncio.run(run())
    assert ticks > 0
    assert [(item.url, item.media) for item in items] == [
        ("https://t.me/chan/7", ("https://t.me/v.mp4",))
    ]


def test_a_links_pattern_that_backtracks_ends_at_its_budget(monkeypatch):
    quick = budget.ParsePool(cpu_seconds=0.5)
    monkeypatch.setattr(budget, "_pool", quick)
    watch = new_watch(
        "links", "https://example.test/", every=60, pattern=r"^https://example.test/(a|aa)+$"
    )
    body = b'<a href="/' + b"a" * 60 + b'b">x</a>'

    async def fetch(_url):
        return body

    try:
        with pytest.raises(MalformedSource) as over:
            asyncio.run(read_items(watch, fetch))
        assert over.value.reason == "over_budget"
        # the pool replaced its child: the next poll is parsed
        fine = new_watch("links", "https://example.test/", every=60, pattern=r"/a+b$")
        assert [i.url for i in asyncio.run(read_items(fine, fetch))] == [
            "https://example.test/" + "a" * 60 + "b"
        ]
    finally:
        quick.close()


def test_a_parse_over_its_cpu_budget_is_recorded_not_waited_for(site, monkeypatch):
    quick = budget.ParsePool(cpu_seconds=0.2)
    monkeypatch.setattr(budget, "_pool", quick)
    site.routes["/nested.css"] = Route(b"(" * CSS_PARSE_LIMIT, content_type="text/css")
    site.routes["/page"] = Route(b'<link rel="stylesheet" href="/nested.css">')
    try:
        page = asyncio.run(capture_page(_fetcher(site), site.url("/page")))
        assert any(
            hit.startswith("parse_budget: ") and "nested.css" in hit and "CPU" in hit
            for hit in page.limits_hit
        ), page.limits_hit
        assert page.requisites[0].response.payload_size == CSS_PARSE_LIMIT  # kept as served
        page.close()
    finally:
        quick.close()


# -- fuzz: the parsers end, whatever they are given, at sizes up to a few MB ------

PIECES = [
    "<a",
    "<b>",
    "<div>",
    "</div>",
    "url(",
    "(",
    ")",
    "{",
    '"',
    "'",
    "<style>",
    "</style>",
    "<!--",
    "<script>",
    "&#",
    "\x00",
    '<img src="',
    '<p style="background:url(',
    '<meta property="og:video" content="',
    '<script type="application/ld+json">{"a":[',
    'data-post="c/1"',
    "@import '",
    "\\",
    "é",
]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
documents = st.lists(
    st.tuples(st.sampled_from(PIECES), st.integers(min_value=1, max_value=2**19)),
    min_size=1,
    max_size=6,
).map(lambda parts: "".join(piece * count for piece, count in parts)[: 4 * 1024 * 1024])


@FUZZ
@given(documents)
def test_html_parsers_end_on_any_document(html):
    url = "https://example.test/post/1"
    assert isinstance(html_requisites(html, url), list)
    assert isinstance(find_media(html, url, recognises=lambda _u: False), list)
    post_from_html(html, url)
    body = html.encode("utf-8", "replace")
    assert isinstance(parse_links(body, url, re.compile("example")), list)
    try:
        parse_channel(body, url)
    except MalformedSource:
        pass


FUZZ_POOL = budget.ParsePool(1, cpu_seconds=1.0)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_css_parsing_ends_in_its_budget_on_any_stylesheet(css):
    # tinycss2 is linear but costly on deep nesting: the budget is what bounds it
    parsed = FUZZ_POOL.run_blocking(
        "archivers.extract.requisites:links", "text/css", css[:CSS_PARSE_LIMIT], "https://e.test/"
    )
    assert parsed.over_budget or isinstance(parsed.value[0], list)


def test_css_urls_reads_every_form_a_browser_fetches():
    css = (
        "@import 'a.css'; @import url(b.css); body { background: url( \"c.png\" ) }"
        " @font-face { src: url(d.woff2) format('woff2') } @media print { p { x: url(e) } }"
    )
    assert css_urls(css) == ["a.css", "b.css", "c.png", "d.woff2", "e"]


def test_markup_nested_past_the_parsers_depth_is_said_not_hidden(site):
    # libxml2 stops descending at depth 2048: what is deeper is not read, and
    # the capture says so instead of pretending it had no requisites there
    site.routes["/deep"] = Route(b'<img src="/top.png">' + b"<b>" * 3000 + b'<img src="/deep.png">')
    page = asyncio.run(capture_page(_fetcher(site), site.url("/deep")))
    assert site.count("/top.png") == 1
    assert any(hit.startswith("html_depth: ") for hit in page.limits_hit)
    page.close()
