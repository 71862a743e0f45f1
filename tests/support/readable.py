"""What a reader sees of an HTML page: its text, as a browser lays it out in words.

``text_of(page)``: no head, scripts or styles; tags gone, cells and paragraphs
apart (a space), inline tags not (``<a>1 session</a>: …`` reads ``1 session:``);
entities decoded; runs of spaces one space.
"""

from __future__ import annotations

import html
import re

BLOCK = r"</?(?:td|th|tr|p|div|li|h\d|br|table|thead|tbody|header|nav|main|footer|form)\b[^>]*>"


def text_of(page: str) -> str:
    page = re.sub(r"<(script|style|head)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(BLOCK, " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
