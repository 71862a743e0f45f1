"""The readable text of a page: what a reader sees, for the viewer's full-text search.

``readable_text(html)`` walks the page (``archivers.extract.html``, linear)
and keeps the text of the document body and its title, leaving out what is
not shown: ``script``, ``style``, ``noscript``, ``template``, ``svg`` and
``head`` (but the ``title``). Block elements (paragraphs, headings, list items,
table cells, ``br``) end a line; runs of white space become one space; blank
lines are dropped. Alt texts of images count (``alt``: they are the image's
text for those who cannot see it). At most ``MAX_TEXT`` characters are kept
(``Text.truncated`` says when a page had more).

Pure: no I/O. A capture runs it in the parser processes with the other page
parses (``archivers.extract.page.inspect``) and stores the result as a WARC
``conversion`` record of the page's response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archivers.extract.html import TagWalker

MAX_TEXT = 256 * 1024
"""Most characters of a page's text kept."""

HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th",
        "tr", "ul", "title", "body", "caption", "option", "label", "button",
    }
)  # fmt: skip
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Text:
    text: str
    title: str | None
    truncated: bool


class _TextWalker(TagWalker):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line: list[str] = []
        self.hidden = 0
        self.in_title = False
        self.title: list[str] = []
        self.size = 0
        self.full = False

    def _end_line(self) -> None:
        text = _SPACE.sub(" ", "".join(self.line)).strip()
        self.line = []
        if text and not self.full:
            self.lines.append(text)
            self.size += len(text) + 1
            self.full = self.size >= MAX_TEXT

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in HIDDEN:
            self.hidden += 1
        elif tag in BLOCKS:
            self._end_line()
        if tag in ("img", "area") and not self.hidden:
            alt = next((v for k, v in attrs if k == "alt" and v), None)
            if alt:
                self.line.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden and not self.full:
            self.line.append(data)


def readable_text(html: str) -> Text:
    """The page's readable text and title (see the module docstring)."""
    walker = _TextWalker()
    walker.walk(html)
    walker._end_line()
    text = "\n".join(walker.lines)
    title = _SPACE.sub(" ", "".join(walker.title)).strip() or None
    return Text(text[:MAX_TEXT], title[:500] if title else None, walker.full)
