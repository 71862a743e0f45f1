"""Memento (RFC 7089) over the catalog: a TimeMap and a TimeGate for every captured URL.

/timemap/link/{URL}   every memento of URL (application/link-format)
/timegate/{URL}       302 to the memento closest to Accept-Datetime (newest without)
"""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from archivers.clock import parse_iso
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from viewer.views import checked_url, replay_url


def add_routes(app: FastAPI, catalog: Catalog, settings: ViewerSettings) -> None:
    """The Memento routes of the viewer app (see the module docstring)."""
    replay_base, coll = settings.replay_base, settings.collection

    def mementos(url: str) -> list[dict[str, Any]]:
        return [m for m in reversed(catalog.captures_of(url)) if m.get("warc_key")]

    @app.get("/timemap/link/{url:path}", summary="Memento TimeMap (application/link-format)")
    def timemap(url: str, request: Request):
        url = _full_url(url, request)
        found = mementos(checked_url(url))
        if not found:
            raise HTTPException(404, f"no mementos of {url}")
        base = settings.viewer_base
        lines = [
            f'<{url}>; rel="original"',
            f'<{base}/timemap/link/{url}>; rel="self"; type="application/link-format"; '
            f'from="{_http_date(found[0]["fetched_at"])}"; '
            f'until="{_http_date(found[-1]["fetched_at"])}"',
            f'<{base}/timegate/{url}>; rel="timegate"',
        ]
        for i, m in enumerate(found):
            rel = "memento"
            if i == 0:
                rel = "first memento" if len(found) > 1 else "first last memento"
            elif i == len(found) - 1:
                rel = "last memento"
            target = replay_url(replay_base, coll, m.get("final_url") or url, m["fetched_at"])
            lines.append(f'<{target}>; rel="{rel}"; datetime="{_http_date(m["fetched_at"])}"')
        return PlainTextResponse(",\n".join(lines) + "\n", media_type="application/link-format")

    @app.get(
        "/timegate/{url:path}",
        summary="Memento TimeGate: redirect to the closest capture",
        description="Honours `Accept-Datetime` (RFC 1123); without it, the newest capture.",
    )
    def timegate(url: str, request: Request):
        url = _full_url(url, request)
        found = mementos(checked_url(url))
        if not found:
            raise HTTPException(404, f"no mementos of {url}")
        wanted = request.headers.get("accept-datetime")
        if wanted:
            try:
                when = parsedate_to_datetime(wanted)
            except (TypeError, ValueError):
                raise HTTPException(400, "Accept-Datetime must be an RFC 1123 date") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            best = min(
                found, key=lambda m: abs((parse_iso(m["fetched_at"]) - when).total_seconds())
            )
        else:
            best = found[-1]
        target = replay_url(replay_base, coll, best.get("final_url") or url, best["fetched_at"])
        base = settings.viewer_base
        return Response(
            status_code=302,
            headers={
                "Location": target,
                "Vary": "accept-datetime",
                "Link": f'<{url}>; rel="original", <{base}/timemap/link/{url}>; rel="timemap"; '
                f'type="application/link-format"',
            },
        )


def _full_url(url: str, request: Request) -> str:
    """The URL in a /timegate/{url} path, with the query string the router split off."""
    if request.url.query:
        return f"{url}?{request.url.query}"
    return url


def _http_date(when: str) -> str:
    return format_datetime(parse_iso(when).astimezone(UTC), usegmt=True)
