"""Finding a clip again: near duplicates and their captures, as API routes.

    JSON API   GET /api/similar?sha256=|capture=   near duplicates and their captures
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

from archivers.store import layout
from viewer import lineage as lineages
from viewer.hashindex import HashIndex
from viewer.phashes import DISTANCE, PERCENT, Hashes

SIMILAR_BODY_BYTES = 8 * 1024 * 1024
"""Largest body ``POST /api/similar`` reads (the hashes of a four-hour video)."""


class Finder:
    def __init__(self, catalog, store, replay_base: str, collection: str) -> None:
        self.catalog = catalog
        self.store = store
        self.replay_base = replay_base
        self.collection = collection
        self.hashes = HashIndex(catalog.query)

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
