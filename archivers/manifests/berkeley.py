"""Which of the Berkeley Protocol's four items a capture holds (OHCHR 2022, para 155).

Para 155 asks, for each online item collected: its URL, the HTML source as
served, a full-page screenshot, and the embedded media. A capture's ``items``
object says which of them it has:

    url         always true: the submitted URL is part of every record
    html        the final response was an HTML page, stored in the capture's WARC
                (not an error page: a 404's HTML is evidence of absence, not the post)
    screenshot  the capture has a screenshot (a manifest's ``screenshot_key``,
                written by browser capture)
    media       media were found in the page and queued for capture; whether
                each was stored is the ``media`` array's ``status``

Manifests written before ``items`` existed get theirs on reading: ``html``
then means "a WARC was stored for a successful capture" (they were all HTML
page captures), ``media`` that the page listed media.
"""

from __future__ import annotations

from typing import Any


def items(*, html: bool, media: bool, screenshot: bool = False) -> dict[str, bool]:
    return {"url": True, "html": html, "screenshot": screenshot, "media": media}


def items_of(doc: dict[str, Any]) -> dict[str, bool]:
    """The ``items`` of a manifest-like dict, recorded or inferred (module docstring);
    ``screenshot`` is true as soon as the manifest has a ``screenshot_key``."""
    recorded = doc.get("items")
    if isinstance(recorded, dict):
        out = items(
            html=bool(recorded.get("html")),
            media=bool(recorded.get("media")),
            screenshot=bool(recorded.get("screenshot")),
        )
    else:
        out = items(
            html=doc.get("status") == "stored" and bool(doc.get("warc_key")),
            media=bool(doc.get("media")),
        )
    if doc.get("screenshot_key"):
        out["screenshot"] = True
    return out
