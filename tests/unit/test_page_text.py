"""archivers.extract.text: the page's readable text, what full-text search indexes."""

from __future__ import annotations

from archivers.extract.text import PAGE_TEXT_MOST, page_text

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>War  Tracker — пост</title>
<style>.x { color: red }</style><script>var token = "not text";</script></head>
<body><nav>Home</nav><article><p>Мобилизованные   вышли<br>к казарме &amp; протестуют</p>
<svg><text>svg label</text></svg><noscript>enable scripts</noscript>
<template><p>later</p></template><div>Видео удалено <b>автором</b></div></article>
<iframe>frame fallback</iframe></body></html>"""


def test_the_text_a_reader_sees_line_by_line_without_scripts_or_markup():
    text, cut = page_text(PAGE)
    assert not cut
    assert text.splitlines() == [
        "War Tracker — пост",
        "Home",
        "Мобилизованные вышли",
        "к казарме & протестуют",
        "Видео удалено автором",
    ]
    for hidden in ("not text", "color", "svg label", "enable scripts", "later", "frame fallback"):
        assert hidden not in text


def test_a_long_page_keeps_its_first_characters_cut_at_a_word():
    text, cut = page_text("<p>" + "слово " * 5000 + "</p>")
    assert cut and len(text) <= PAGE_TEXT_MOST and text.endswith("слово")
    # white space does not eat the budget: 60 KB of it, then the words
    spaced, cut = page_text("<p>" + " " * 60_000 + "после пробелов</p>")
    assert spaced == "после пробелов" and not cut


def test_nothing_readable_and_control_characters():
    assert page_text("") == ("", False)
    assert page_text("<script>x</script>") == ("", False)
    text, _ = page_text("<p>a\x00b\x01c\x1bd\ne</p>")
    assert text == "a\ufffdb c d e"


def test_hostile_pages_give_bounded_text():
    # the parse is lxml's, linear (archivers/extract/html.py); the suite's timeout is
    # what a quadratic parse would meet
    for hostile in ("<a" * 200_000, "<div>" * 100_000 + "deep", "<p>x" * 100_000):
        text, _ = page_text(hostile)
        assert len(text) <= PAGE_TEXT_MOST
