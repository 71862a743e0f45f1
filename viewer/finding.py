"""Finding a clip again: near duplicates and their captures, as API routes.

    JSON API   GET /api/search/text?q=      full-text search of posts (``viewer.textindex``)
               GET /api/similar?sha256=|capture=   near duplicates and their captures
               POST /api/similar            the same for hashes a client computed
                                            (``warcflow similar --file``)
               GET /api/lineage/{sha256}    the same object, or its rows as CSV
                                            (``?format=csv``)

``Finder`` holds the ``HashIndex`` (the in-memory FAISS index over the
catalog's perceptual hashes, ``viewer.hashindex``) and builds the lineage
objects the API returns (``viewer.lineage``, docs/api.md).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from markupsafe import Markup, escape

from archivers.store import layout
from viewer import lineage as lineages
from viewer.hashindex import HashIndex
from viewer.phashes import DISTANCE, PERCENT, Hashes
from viewer.textindex import TextIndex, parse_query
from viewer.views import replay_url

SIMILAR_BODY_BYTES = 8 * 1024 * 1024
"""Largest body ``POST /api/similar`` reads (the hashes of a four-hour video)."""


def marked(snippet: str, marks: list[list[int]]) -> Markup:
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
        self.hashes = HashIndex(catalog.query)
        self.texts = TextIndex(catalog.query)

    # -- text -----------------------------------------------------------------

    def search_text(self, q: str, limit: int = 50) -> dict[str, Any]:
        """Captures whose post text, URL, author, tags, case or note match ``q``."""
        results = []
        for hit in self.texts.search(q, limit):
            page = self.catalog.capture(hit.capture_id) or {}
            post = page.get("post") or {}
            when = page.get("fetched_at")
            results.append(
                {
                    **hit.to_dict(),
                    "url": page.get("url"),
                    "captured_at": when,
                    "author": post.get("author"),
                    "tags": (page.get("request") or {}).get("tags") or [],
                    "case_id": (page.get("request") or {}).get("case_id"),
                    "capture_url": f"/capture/{hit.capture_id}",
                    "replay_url": replay_url(
                        self.replay_base,
                        self.collection,
                        page.get("final_url") or page["url"],
                        when,
                    )
                    if page.get("warc_key") and when
                    else None,
                }
            )
        return {
            "query": q,
            "terms": [
                {"text": t.text, "field": t.column, "prefix": t.prefix} for t in parse_query(q)
            ],
            "results": results,
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


def _digest(sha256: str) -> str:
    text = sha256.lower().removeprefix("sha256:")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise HTTPException(400, f"{sha256!r} is not a SHA-256 (64 hex digits)")
    return text


def add_routes(app: FastAPI, finder: Finder) -> None:
    """The routes of the module docstring."""

    @app.get(
        "/api/search/text",
        summary="Full-text search of the captured posts: text, URL, author, tags, case",
        description='Words are ANDed; `"a phrase"`; `word*` is a prefix; `author:`, `url:`, '
        "`tag:`, `case:`, `note:`, `text:` look in one field. Case and Latin diacritics do "
        "not matter; Cyrillic works as Latin does (ё = е). Ranked (BM25); each result has "
        "a snippet with the offsets of its marked terms, its capture and replay links.",
    )
    def api_text(q: str = Query(..., min_length=1), limit: int = Query(50, ge=1, le=500)):
        return finder.search_text(q, limit)

    @app.get(
        "/api/similar",
        summary="Captures carrying a media item or its near duplicates, earliest first",
        description="`sha256`: a stored media item by its digest; `capture`: "
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
