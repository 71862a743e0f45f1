"""A page's readable text: what full-text search indexes of it.

``page_text(html)`` is the text a reader sees in the page: the ``<title>`` and
the body's text, without what a browser does not show as text (scripts,
styles, ``<noscript>``, templates, SVG and math markup, the rest of
``<head>``) and without markup. Block elements and ``<br>`` end a line;
runs of white space within a line are one space; empty lines are dropped.

Invariants: the result is at most ``PAGE_TEXT_MOST`` characters (the rest is
cut at a line or word boundary where there is one, and ``truncated`` says
so); it holds no control character but the newline; the parse is lxml's,
linear in the page's size (``archivers.extract.html``), so a hostile page
costs what its length costs.
"""

from __future__ import annotations

import re

from archivers.extract.html import TagWalker

PAGE_TEXT_MOST = 8000
"""Most characters of a page's text kept in its manifest (a post page's text,
its comments and the site's navigation, fit; a long thread's tail does not)."""

HIDDEN = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "head", "iframe", "object"}
)
"""Elements whose content is not the page's text (``<title>`` is kept)."""
BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "td", "th", "title", "tr", "ul",
    }
)  # fmt: skip
"""Elements that end a line of text."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


class _TextWalker(TagWalker):
    def __init__(self, budget: int) -> None:
        self.lines: list[str] = []
        self.parts: list[str] = []
        self.hidden = 0  # depth inside HIDDEN elements (the title is seen in head)
        self.in_title = False
        self.budget = budget  # characters still wanted (a little over: cut at the end)
        self.full = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in HIDDEN:
            self.hidden += 1
        if tag in BLOCKS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        if tag in BLOCKS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.full or (self.hidden and not self.in_title):
            return
        self.parts.append(data)
        self.budget -= len(_SPACES.sub(" ", data))  # white space counts as it will be kept
        if self.budget < 0:
            self._end_line()
            self.full = True

    def _end_line(self) -> None:
        if self.parts:
            line = _SPACES.sub(" ", _CONTROL.sub(" ", "".join(self.parts))).strip()
            if line:
                self.lines.append(line)
            self.parts = []


def page_text(html: str, limit: int = PAGE_TEXT_MOST) -> tuple[str, bool]:
    """(the readable text of ``html``, at most ``limit`` characters; whether
    some was cut)."""
    walker = _TextWalker(limit + 1)
    walker.walk(html)
    walker._end_line()
    text = "\n".join(walker.lines)
    if len(text) <= limit and not walker.full:
        return text, False
    cut = text[:limit]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    if boundary > limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(), True
