"""The watchers' parsers on fixtures (tests/corpus/watch): the items a person
would expect from each source, and a clear MalformedSource for broken input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.watchers.feeds import parse_feed
from streams.watchers.items import Item, MalformedSource
from streams.watchers.links import parse_links
from streams.watchers.sitemaps import parse_sitemap
from streams.watchers.telegram import channel_preview_url, parse_channel

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "watch"
BAD = sorted((CORPUS / "bad").iterdir())


def body(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_rss_items_are_links_or_permalink_guids_with_their_enclosures():
    items = parse_feed(body("rss.xml"), "https://tracker.example/feed.xml")
    assert items == [
        Item(
            "https://tracker.example/posts/3",
            ("https://cdn.tracker.example/v/3.mp4", "https://cdn.tracker.example/v/3-hd.mp4"),
        ),
        Item("https://tracker.example/posts/2"),
        Item("https://tracker.example/posts/1"),  # relative link resolved against the feed
    ]  # no link, javascript: and the repeat (a fragment apart) are left out


def test_atom_entries_use_alternate_links_and_xml_base():
    items = parse_feed(body("atom.xml"), "https://social.example/@tracker.atom")
    assert items == [
        Item("https://social.example/@tracker/112", ("https://files.social.example/112.mp4",)),
        Item("https://social.example/@tracker/111"),
    ]


def test_rss_1_0_rdf_items():
    assert parse_feed(body("rdf.xml"), "https://old.example/rss") == [Item("https://old.example/a")]


def test_a_byte_order_mark_and_leading_space_are_tolerated():
    data = b"\xef\xbb\xbf\n  " + body("rdf.xml")
    assert parse_feed(data, "https://old.example/rss") == [Item("https://old.example/a")]


def test_telegram_preview_lists_posts_on_the_preview_origin_with_their_media():
    items = parse_channel(body("telegram.html"), "https://t.me/s/wartracker")
    assert items == [
        Item("https://t.me/wartracker/101", ("https://cdn4.telesco.pe/file/photo101.jpg",)),
        Item(
            "https://t.me/wartracker/102",
            (
                "https://cdn4.telesco.pe/file/thumb102.jpg",
                "https://cdn4.telesco.pe/file/video102.mp4",
            ),
        ),
        Item("https://t.me/wartracker/103"),
    ]
    # a preview served elsewhere (a mirror, a test site) gives post URLs there
    local = parse_channel(body("telegram.html"), "http://127.0.0.1:8000/s/wartracker")
    assert next(i.url for i in local) == "http://127.0.0.1:8000/wartracker/101"


def test_telegram_channel_urls_become_preview_urls():
    assert channel_preview_url("https://t.me/wartracker") == "https://t.me/s/wartracker"
    assert channel_preview_url("https://t.me/s/wartracker") == "https://t.me/s/wartracker"
    assert channel_preview_url("http://127.0.0.1:1/s/x") == "http://127.0.0.1:1/s/x"


def test_an_empty_channel_is_no_posts_but_another_page_is_an_error():
    empty = b'<html><body><div class="tgme_channel_info">new channel</div></body></html>'
    assert parse_channel(empty, "https://t.me/s/new") == []
    with pytest.raises(MalformedSource) as caught:
        parse_channel(b"<html><body>Log in to continue</body></html>", "https://t.me/s/x")
    assert caught.value.reason == "not_a_channel"


def test_sitemap_urlset_and_index():
    urlset = parse_sitemap(body("sitemap.xml"), "https://news.example/sitemap.xml")
    assert [i.url for i in urlset.pages] == [
        "https://news.example/2026/11/25/kazan",
        "https://news.example/2026/11/24/mobilization",
    ]
    assert urlset.sitemaps == []
    index = parse_sitemap(body("sitemapindex.xml"), "https://news.example/sitemap.xml")
    assert index.pages == []
    assert index.sitemaps == [
        "https://news.example/sitemap-posts.xml",
        "https://news.example/sitemap-pages.xml",
    ]


def test_gzipped_sitemap():
    packed = gzip.compress(body("sitemap.xml"))
    assert len(parse_sitemap(packed, "https://news.example/sitemap.xml.gz").pages) == 2
    with pytest.raises(MalformedSource):
        parse_sitemap(packed[:30], "https://news.example/sitemap.xml.gz")


def test_links_matching_the_pattern_in_document_order():
    pattern = re.compile(r"^https://nitter\.example/tracker/status/\d+$")
    items = parse_links(body("links.html"), "https://nitter.example/tracker", pattern)
    assert [i.url for i in items] == [
        "https://nitter.example/tracker/status/1860000000000000002",
        "https://nitter.example/tracker/status/1860000000000000001",
    ]


def test_links_of_a_page_that_is_not_html_are_none():
    assert parse_links(b"\x00\xff binary", "https://x.example/", re.compile("x")) == []


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_malformed_feeds_and_sitemaps_fail_cleanly(path):
    data = path.read_bytes()
    for parse in (parse_feed, parse_sitemap):
        with pytest.raises(MalformedSource) as caught:
            parse(data, "https://x.example/source")
        assert caught.value.reason in ("not_xml", "unsafe_xml", "not_a_feed", "not_a_sitemap")
        assert str(caught.value)  # a sentence a person can read


def test_entity_declarations_are_refused_not_expanded():
    with pytest.raises(MalformedSource) as caught:
        parse_feed((CORPUS / "bad" / "billion-laughs.xml").read_bytes(), "https://x.example/")
    assert caught.value.reason == "unsafe_xml"
    # the same in UTF-16, where no byte reads "<!ENTITY"
    utf16 = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE rss [<!ENTITY a "aaaa">'
        '<!ENTITY b "&a;&a;&a;">]><rss><channel><title>&b;</title></channel></rss>'
    )
    with pytest.raises(MalformedSource) as caught:
        parse_feed(utf16.encode("utf-16"), "https://x.example/")
    assert caught.value.reason == "unsafe_xml"


def test_a_sitemap_is_not_a_feed_and_a_feed_is_not_a_sitemap():
    with pytest.raises(MalformedSource) as caught:
        parse_feed(body("sitemap.xml"), "https://x.example/")
    assert caught.value.reason == "not_a_feed" and "urlset" in str(caught.value)
    with pytest.raises(MalformedSource) as caught:
        parse_sitemap(body("rss.xml"), "https://x.example/")
    assert caught.value.reason == "not_a_sitemap"


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(alphabet="<>/=\"' ?!&;[]abcdlinkrsuethmloc:.", max_size=400).map(str.encode),
    )
)
def test_parsers_raise_nothing_but_malformed_source(data):
    for parse in (
        parse_feed,
        parse_channel,
        lambda b, u: parse_sitemap(b, u).pages,
        lambda b, u: parse_links(b, u, re.compile(".")),
    ):
        try:
            items = parse(data, "https://x.example/s/chan")
        except MalformedSource:
            continue
        assert all(i.url.startswith(("http://", "https://")) for i in items)


def test_links_in_a_json_api_answer():
    pattern = re.compile(r"^https://mastodon\.example/@tracker/\d+$")
    items = parse_links(
        body("mastodon-statuses.json"),
        "https://mastodon.example/api/v1/accounts/1/statuses",
        pattern,
    )
    assert [i.url for i in items] == [
        "https://mastodon.example/@tracker/113500000000000002",
        "https://mastodon.example/@tracker/113500000000000001",
    ]


def test_absurdly_nested_json_is_no_links_not_a_crash():
    deep = b"[" * 200_000 + b"]" * 200_000
    assert parse_links(deep, "https://x.example/", re.compile(".")) == []
