"""Finding things again: full-text search, near duplicates and lineage, as routes.

    JSON API   /api/search/text?q=          text, URL, author, tag, case (``viewer.textindex``)
               /api/similar?sha256=|capture=   near duplicates and their captures
               POST /api/similar            the same for hashes a client computed
                                            (``warcflow similar --file``)
               /api/lineage/{sha256}        a media item's lineage (``?format=csv``)
    pages      /media/{sha256}/lineage      "seen in N captures", earliest first

``Finder`` holds the two indexes (``TextIndex`` over the catalog's FTS5 table,
``HashIndex``, the in-memory FAISS index over its hashes) and builds the
objects both the pages and the API return (docs/api.md).

A text hit links to its capture and to the replay with the matched words
highlighted where the browser can: the unframed replay URL with a text
fragment (``#:~:text=…``, which Chromium-based browsers and Safari scroll to
and highlight; others open the page unhighlighted). A hit in OCR text links
to the screenshot or the clip it was read from.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from markupsafe import Markup, escape

from archivers.store import layout
from viewer import lineage as lineages
from viewer.hashindex import HashIndex
from viewer.phashes import DISTANCE, PERCENT, Hashes
from viewer.textindex import TextIndex, parse_query
from viewer.views import memento_url

SIMILAR_BODY_BYTES = 8 * 1024 * 1024
"""Largest body ``POST /api/similar`` reads (the hashes of a four-hour video)."""


def text_fragment(words: str) -> str:
    """``#:~:text=`` for ``words`` (percent-encoded, with ``-``, ``,`` and ``&`` too)."""
    return "#:~:text=" + quote(words, safe="").replace("-", "%2D")


def marked(snippet: str, marks: list[list[int]] | list[tuple[int, int]]) -> Markup:
    """A snippet as HTML, its matched terms in ``<mark>``, everything else escaped."""
    out, at = [], 0
    for start, end in marks:
        out.append(str(escape(snippet[at:start])))
        out.append(f"<mark>{escape(snippet[start:end])}</mark>")
        at = end
    out.append(str(escape(snippet[at:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


class Finder:
    def __init__(self, catalog, store, replay_base: str, collection: str) -> None:
        self.catalog = catalog
        self.store = store
        self.replay_base = replay_base
        self.collection = collection
        self.texts = TextIndex(catalog.query)
        self.hashes = HashIndex(catalog.query)

    # -- text -----------------------------------------------------------------

    def search_text(self, q: str, limit: int = 50) -> dict[str, Any]:
        hits = []
        for hit in self.texts.search(q, limit):
            found = hit.to_dict()
            page = self.catalog.capture(hit.capture_id) or {}
            found["captured_at"] = page.get("fetched_at")
            found["capture_url"] = f"/capture/{hit.capture_id}"
            found["post"] = page.get("post")
            words = hit.snippet[hit.marks[0][0] : hit.marks[0][1]] if hit.marks else None
            found["replay_url"] = None
            if hit.kind == "page" and page.get("warc_key") and page.get("fetched_at"):
                url = memento_url(
                    self.replay_base,
                    self.collection,
                    page.get("final_url") or page["url"],
                    page["fetched_at"],
                )
                found["replay_url"] = url + (text_fragment(words) if words else "")
            if hit.kind == "ocr" and hit.origin == "screenshot":
                found["image_url"] = f"/capture/{hit.capture_id}/screenshot"
            elif hit.media_id:
                media = self.catalog.media_of(hit.capture_id)
                digest = next(
                    (m.get("sha256") for m in media if m["media_id"] == hit.media_id), None
                )
                found["media_url"] = f"/media/{digest}" if digest else None
            hits.append(found)
        return {
            "query": q,
            "terms": [
                {"text": t.text, "field": t.column, "prefix": t.prefix} for t in parse_query(q)
            ],
            "results": hits,
        }

    # -- similar and lineage --------------------------------------------------

    def options(self, distance: int, percent: float) -> dict[str, Any]:
        return {
            "replay_base": self.replay_base,
            "collection": self.collection,
            "distance": distance,
            "percent": percent,
        }

    def of_sha256(self, sha256: str, distance: int, percent: float) -> dict[str, Any] | None:
        if not lineages.media_with_digest(self.catalog.query, sha256):
            return None
        return lineages.lineage(
            self.catalog,
            self.hashes,
            self.store,
            self.hashes.hashes_of(sha256),
            sha256=sha256,
            **self.options(distance, percent),
        )

    def of_capture(self, capture_id: str, distance: int, percent: float) -> dict[str, Any] | None:
        return lineages.of_capture(
            self.catalog, self.hashes, self.store, capture_id, **self.options(distance, percent)
        )

    def of_hashes(
        self, perceptual: dict[str, Any], about: dict[str, Any], distance: int, percent: float
    ) -> dict[str, Any]:
        query = Hashes.from_perceptual(perceptual)
        if query is None:
            raise ValueError("no vPDQ features and no PDQ hash in the body's perceptual object")
        return lineages.lineage(
            self.catalog,
            self.hashes,
            self.store,
            query,
            about={**about, "kind": query.kind, "frames": query.frames},
            **self.options(distance, percent),
        )

    def seen_in(self, sha256: str) -> int:
        """How many captures carried ``sha256`` or a near duplicate (the capture page)."""
        found = self.of_sha256(sha256, DISTANCE, PERCENT)
        return found["seen_in"] if found else 0


def _digest(sha256: str) -> str:
    text = sha256.lower().removeprefix("sha256:")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise HTTPException(400, f"{sha256!r} is not a SHA-256 (64 hex digits)")
    return text


def add_routes(app: FastAPI, finder: Finder, page) -> None:
    """The routes of the module docstring; ``page(request, template, **context)``
    renders a viewer page."""

    @app.get(
        "/api/search/text",
        summary="Full-text search: pages, posts, OCR of screenshots and keyframes",
        description='Words are ANDed; `"a phrase"`; `word*` is a prefix; `author:`, '
        "`url:`, `tag:`, `case:`, `title:`, `text:` look in one field. Case and Latin "
        "diacritics do not matter; Cyrillic works as Latin does. Results are ranked "
        "(BM25), each with a snippet and the offsets of its marked terms, its capture, "
        "and a replay link that highlights the words (a text fragment).",
    )
    def api_text(q: str = Query(..., min_length=1), limit: int = Query(50, ge=1, le=500)):
        return finder.search_text(q, limit)

    @app.get(
        "/api/similar",
        summary="Captures carrying a media item or its near duplicates, earliest first",
        description="`sha256`: a stored media item (or screenshot) by its digest; `capture`: "
        "every media item of a capture. Videos match by vPDQ (`query_percent`, "
        "`match_percent`: the share of each side's frames with a match), images by PDQ "
        "Hamming `distance`; the same bytes are `identical`.",
    )
    def api_similar(
        sha256: str | None = None,
        capture: str | None = None,
        distance: int = Query(DISTANCE, ge=0, le=128),
        percent: float = Query(PERCENT, ge=0, le=100),
    ):
        if (sha256 is None) == (capture is None):
            raise HTTPException(400, "give sha256 or capture (one of them)")
        if capture is not None:
            if not layout.is_capture_id(capture):
                raise HTTPException(400, f"{capture!r} is not a capture id")
            found = finder.of_capture(capture.upper(), distance, percent)
            if found is None:
                raise HTTPException(404, f"no capture {capture}")
            return found
        found = finder.of_sha256(_digest(sha256 or ""), distance, percent)
        if found is None:
            raise HTTPException(404, f"no media item with sha256 {sha256}")
        return found

    @app.post(
        "/api/similar",
        summary="Captures carrying near duplicates of hashes the client computed",
        description='Body: `{"perceptual": {...}, "file": NAME}` with the `perceptual` '
        "object of a media manifest (vPDQ features, or a PDQ hash); what `warcflow "
        "similar --file` sends. Query parameters as for GET.",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
        },
    )
    async def api_similar_post(
        request: Request,
        distance: int = Query(DISTANCE, ge=0, le=128),
        percent: float = Query(PERCENT, ge=0, le=100),
    ):
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > SIMILAR_BODY_BYTES:
                return JSONResponse(
                    {"errors": [f"the body is larger than {SIMILAR_BODY_BYTES} bytes"]}, 413
                )
        try:
            body = json.loads(bytes(raw))
            if not isinstance(body, dict) or not isinstance(body.get("perceptual"), dict):
                raise ValueError('send {"perceptual": {...}}')
            about = {"file": str(body.get("file") or "")[:500]}
            return finder.of_hashes(body["perceptual"], about, distance, percent)
        except (ValueError, TypeError, RecursionError) as exc:
            return JSONResponse({"errors": [f"unusable hashes: {exc}"]}, 422)

    @app.get(
        "/api/lineage/{sha256}",
        summary="A media item's lineage, as JSON or CSV",
        description="The `GET /api/similar?sha256=` object; `format=csv` gives its rows "
        "as CSV (one per capture, earliest first, columns in docs/api.md).",
    )
    def api_lineage(
        sha256: str,
        format: str = Query("json", pattern="^(json|csv)$"),
        distance: int = Query(DISTANCE, ge=0, le=128),
        percent: float = Query(PERCENT, ge=0, le=100),
    ):
        digest = _digest(sha256)
        found = finder.of_sha256(digest, distance, percent)
        if found is None:
            raise HTTPException(404, f"no media item with sha256 {sha256}")
        if format == "csv":
            return PlainTextResponse(
                lineages.rows_csv(found),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="lineage-{digest}.csv"'},
            )
        return found

    @app.get("/media/{sha256}/lineage", response_class=HTMLResponse, include_in_schema=False)
    def lineage_page(request: Request, sha256: str):
        digest = _digest(sha256)
        found = finder.of_sha256(digest, DISTANCE, PERCENT)
        if found is None:
            raise HTTPException(404, f"no media item with sha256 {sha256}")
        media = lineages.media_with_digest(finder.catalog.query, digest)
        return page(request, "lineage.html", sha256=digest, lineage=found, item=media[0])
