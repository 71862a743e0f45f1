"""HTML parsed with lxml (libxml2's HTML parser): linear in the document's size.

The one module that knows lxml. ``TagWalker`` gives the parsers of this wing
(requisites, media, post) and the watchers the three callbacks of
``html.parser.HTMLParser`` — ``handle_starttag(tag, attrs)``,
``handle_endtag(tag)``, ``handle_data(text)`` — but driven by lxml's tree,
walked without recursion: CPython's own ``html.parser`` is quadratic on inputs
such as ``"<a" * n`` (a 120 KB page froze a worker's loop for 6.9 s; review
F3, the class of CVE-2025-6069), and so were parsers that rescanned their tag
stack. Here the cost is one pass to build the tree and one to walk it.

Tag and attribute names are lower case; start and end events are balanced
(libxml2 closes what the page left open); comments and processing
instructions are skipped, the text after them is not. The text is handed to
libxml2 as UTF-8 bytes, so an encoding the page declares never re-decodes it.
libxml2 stops descending past a nesting depth far beyond real pages
(``huge_tree`` lifts the default 256 to its hard limit); ``truncated`` is then
True and the caller says so.
"""

from __future__ import annotations

import lxml.etree
import lxml.html


def _parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(
        encoding="utf-8",
        recover=True,
        no_network=True,
        huge_tree=True,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
    )


class TagWalker:
    """Subclass and override the ``handle_*`` methods, then ``walk(html)``."""

    truncated = False
    """True when libxml2 gave up on part of the document (nesting too deep)."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        pass

    def handle_data(self, data: str) -> None:
        pass

    def walk(self, html: str) -> None:
        """Parse ``html`` and call the handlers in document order."""
        data = html.replace("\x00", "\ufffd").encode("utf-8", "replace")
        if not data.strip():
            return
        parser = _parser()
        try:
            root = lxml.html.document_fromstring(data, parser=parser)
        except (lxml.etree.ParserError, ValueError):
            return  # nothing a parser could read: no elements
        self.truncated = any("depth" in str(entry.message).lower() for entry in parser.error_log)
        for event, element in lxml.etree.iterwalk(root, events=("start", "end")):
            tag = element.tag
            if not isinstance(tag, str):  # a comment or processing instruction
                if event == "end" and element.tail:
                    self.handle_data(element.tail)
                continue
            tag = tag.lower()
            if event == "start":
                self.handle_starttag(tag, [(str(k).lower(), v) for k, v in element.items()])
                if element.text:
                    self.handle_data(element.text)
            else:
                self.handle_endtag(tag)
                if element.tail:
                    self.handle_data(element.tail)
