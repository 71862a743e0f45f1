"""Memento (RFC 7089) over the catalog: a TimeGate and TimeMaps for every captured URL.

    /timegate/{URL}        302 to the memento closest to Accept-Datetime (newest without)
    /timemap/link/{URL}    every memento of URL, application/link-format (RFC 7089 5)
    /timemap/json/{URL}    the same as JSON, in MemGator's shape

Every route answers GET and HEAD (RFC 7089 clients, memento_client among them,
send HEAD). The TimeGate follows pattern 2.2 of the RFC: the URI-R is the live
post, this is its TimeGate, and it redirects (302, ``Vary: accept-datetime``,
``Link`` to the original, the TimeMaps and the first and last mementos) to a
URI-M, never answering with a memento itself.

A URI-M (``views.memento_url``) is pywb's non-framed replay of the capture,
``<replay>/<collection>/<14-digit timestamp>mp_/<URL>`` on the replay origin:
its body is the archived page itself, and pywb sends ``Memento-Datetime`` and a
``Link`` with the original, this TimeGate, this TimeMap and the memento
(viewer/replay.py points pywb's links here). The framed view with pywb's banner,
for people, is the capture's ``replay_url``, linked from the viewer's pages.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from archivers.clock import parse_iso
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from viewer.views import checked_url, memento_url

LINK_FORMAT = "application/link-format"


def add_routes(app: FastAPI, catalog: Catalog, settings: ViewerSettings) -> None:
    """The Memento routes of the viewer app (see the module docstring)."""
    replay_base, coll, base = settings.replay_base, settings.collection, settings.viewer_base

    def mementos(url: str, request: Request) -> tuple[str, list[dict[str, Any]]]:
        """The URI-R (with its query string) and its mementos, oldest first; 404 if none."""
        url = checked_url(_full_url(url, request))
        found = [m for m in reversed(catalog.captures_of(url)) if m.get("warc_key")]
        if not found:
            raise HTTPException(404, f"no mementos of {url}")
        return url, found

    def uri_m(url: str, m: dict[str, Any]) -> str:
        return memento_url(replay_base, coll, m.get("final_url") or url, m["fetched_at"])

    def route(path: str, **kwargs):
        """GET (in the OpenAPI description) and HEAD (the same answer, without a body)."""

        def register(endpoint):
            app.add_api_route(path, endpoint, methods=["GET"], **kwargs)
            app.add_api_route(
                path,
                endpoint,
                methods=["HEAD"],
                include_in_schema=False,
                status_code=kwargs.get("status_code"),
            )
            return endpoint

        return register

    def links(url: str) -> dict[str, str]:
        return {
            "timegate": f"{base}/timegate/{url}",
            "link_format": f"{base}/timemap/link/{url}",
            "json_format": f"{base}/timemap/json/{url}",
        }

    @route(
        "/timemap/link/{url:path}",
        summary="Memento TimeMap (application/link-format)",
    )
    def timemap(url: str, request: Request):
        url, found = mementos(url, request)
        to = links(url)
        lines = [
            f'<{url}>; rel="original"',
            f'<{to["link_format"]}>; rel="self"; type="{LINK_FORMAT}"; '
            f'from="{_http_date(found[0]["fetched_at"])}"; '
            f'until="{_http_date(found[-1]["fetched_at"])}"',
            f'<{to["json_format"]}>; rel="timemap"; type="application/json"',
            f'<{to["timegate"]}>; rel="timegate"',
        ]
        for i, m in enumerate(found):
            rel = "memento"
            if i == 0:
                rel = "first memento" if len(found) > 1 else "first last memento"
            elif i == len(found) - 1:
                rel = "last memento"
            lines.append(
                f'<{uri_m(url, m)}>; rel="{rel}"; datetime="{_http_date(m["fetched_at"])}"'
            )
        return PlainTextResponse(",\n".join(lines) + "\n", media_type=LINK_FORMAT)

    @route(
        "/timemap/json/{url:path}",
        summary="Memento TimeMap as JSON (MemGator's format)",
        description="`{original_uri, self, mementos: {list: [{datetime, uri}], first, last}, "
        "timemap_uri: {link_format, json_format}, timegate_uri}`, datetimes RFC 3339 UTC.",
    )
    def timemap_json(url: str, request: Request):
        url, found = mementos(url, request)
        to = links(url)
        listed = [{"datetime": _rfc3339(m["fetched_at"]), "uri": uri_m(url, m)} for m in found]
        return JSONResponse(
            {
                "original_uri": url,
                "self": to["json_format"],
                "mementos": {"list": listed, "first": listed[0], "last": listed[-1]},
                "timemap_uri": {
                    "link_format": to["link_format"],
                    "json_format": to["json_format"],
                },
                "timegate_uri": to["timegate"],
            }
        )

    @route(
        "/timegate/{url:path}",
        summary="Memento TimeGate: redirect to the closest capture",
        description="Honours `Accept-Datetime` (RFC 1123); without it, the newest capture. "
        "302 to the URI-M (pywb's unframed replay of that capture).",
        status_code=302,
    )
    def timegate(url: str, request: Request):
        url, found = mementos(url, request)
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
        to = links(url)
        first, last = found[0], found[-1]
        target = uri_m(url, best)
        link = ", ".join(
            [
                f'<{url}>; rel="original"',
                f'<{to["link_format"]}>; rel="timemap"; type="{LINK_FORMAT}"',
                f'<{to["json_format"]}>; rel="timemap"; type="application/json"',
                f'<{uri_m(url, first)}>; rel="first memento"; '
                f'datetime="{_http_date(first["fetched_at"])}"',
                f'<{uri_m(url, last)}>; rel="last memento"; '
                f'datetime="{_http_date(last["fetched_at"])}"',
            ]
        )
        return Response(
            f"Found: {target}\n",
            status_code=302,
            media_type="text/plain",
            headers={"Location": target, "Vary": "accept-datetime", "Link": link},
        )


def _full_url(url: str, request: Request) -> str:
    """The URL in a /timegate/{url} path, with the query string the router split off."""
    if request.url.query:
        return f"{url}?{request.url.query}"
    return url


def _http_date(when: str) -> str:
    return format_datetime(parse_iso(when).astimezone(UTC), usegmt=True)


def _rfc3339(when: str) -> str:
    return parse_iso(when).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
