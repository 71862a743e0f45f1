"""The viewer: find a post, see its captures on a timeline, look at one capture.

A FastAPI app (its OpenAPI description at ``/openapi.json``; no interactive
docs page: Swagger UI would load a script from a CDN on this origin):

    pages      /  /search  /url?u=URL  /capture/{id}  /submit
    JSON API   /api/captures?url=URL  /api/captures/{id}  /api/search?q=  /api/submit
               /api/status  /api/similar  /api/lineage/{sha256}   (``viewer.finding``)
    files      /capture/{id}/warc  /capture/{id}/screenshot  /media/{sha256}
               /media/{sha256}/derived  /media/{sha256}/poster   (Range requests supported)
    Memento    /timegate/{URL}  /timemap/link/{URL}  /timemap/json/{URL}   (RFC 7089)
    replay     /cdx   pywb-style CDX lookups, used by the replay server
    health     /healthz

Archived pages are never served from this origin: replay is pywb, on its own
origin (``ViewerSettings.replay_base``), embedded here in an iframe; this
origin sends a Content-Security-Policy that allows frames only from there and
scripts only from itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError

from archivers.custody.audit import Trust
from archivers.custody.ledger import CustodyEvent
from archivers.errors import CaptureError
from archivers.store import layout
from archivers.warc.cdxj import cdx_key
from viewer import files, finding, memento
from viewer.audits import AuditCache
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from viewer.views import capture_object, checked_url, memento_url, replay_url

HERE = Path(__file__).parent
SUBMIT_BODY_BYTES = 1024 * 1024
"""Largest body ``POST /api/submit`` reads (thousands of URLs)."""


class SubmitBody(BaseModel):
    """What ``POST /api/submit`` takes (as ``warcflow submit``)."""

    urls: list[str]
    tags: list[str] = []
    note: str | None = None
    operator: str | None = None
    case_id: str | None = None
    purpose: str | None = None
    mode: str = Field("auto", description="static, browser or auto (the site rules decide)")


def create_app(
    settings: ViewerSettings,
    catalog: Catalog,
    store,
    submit: Callable[..., list[dict]],
    record: Callable[[CustodyEvent], None] = lambda event: None,
    trust: Trust | None = None,
) -> FastAPI:
    """The viewer app. ``submit(urls, tags, note, operator=, case_id=, purpose=,
    mode=)`` validates and produces to ingest, raising ValueError (with every
    problem) when any URL or field is refused; ``record(event)`` puts a custody
    event (a download of evidence) on the ledger's topic. ``trust``: the keys and
    TSA CAs the audits shown trust, from the configuration (none: nothing proves)."""
    app = FastAPI(
        title="warcflow viewer",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Captures of social-media posts: timelines, capture facts, "
        "replay links, media files, Memento. See docs/api.md.",
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    replay_base, coll = settings.replay_base, settings.collection
    csp = (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; "
        f"frame-src {replay_base}; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def page(request: Request, name: str, status: int = 200, **context):
        return templates.TemplateResponse(
            request,
            name,
            {
                "replay_base": replay_base,
                "collection": coll,
                "counts": catalog.counts(),
                "token_required": bool(settings.token),
                **context,
            },
            status_code=status,
        )

    def objects_for(url: str) -> list[dict[str, Any]]:
        return [
            capture_object(m, catalog.media_of(m["capture_id"]), replay_base, coll)
            for m in catalog.captures_of(url)
        ]

    def token_ok(request: Request, form_token: str = "") -> bool:
        """Submitting needs the token when one is set (settings insist on one when
        the viewer listens beyond loopback)."""
        if not settings.token:
            return True
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else form_token
        return hmac.compare_digest(given.encode(), settings.token.encode())

    def capture_or_404(capture_id: str) -> dict[str, Any]:
        manifest = catalog.capture(capture_id) if layout.is_capture_id(capture_id) else None
        if manifest is None:
            raise HTTPException(404, f"no capture {capture_id}")
        return manifest

    audits = AuditCache(store, trust or Trust())

    # -- pages ----------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        return page(request, "index.html", recent=catalog.recent(30))

    finder = finding.Finder(catalog, store, replay_base, coll)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = ""):
        if q and "://" in q:
            return RedirectResponse(f"/url?u={_q(q)}", status_code=303)
        return page(
            request,
            "search.html",
            q=q,
            results=catalog.search(q) if q else [],
            texts=finder.search_text(q)["results"] if q else [],
            marked=finding.marked,
        )

    @app.get("/url", response_class=HTMLResponse, include_in_schema=False)
    def timeline(request: Request, u: str):
        checked_url(u)
        return page(
            request,
            "timeline.html",
            url=u,
            captures=objects_for(u),
            timemap=f"/timemap/link/{u}",
            timegate=f"/timegate/{u}",
        )

    @app.get("/capture/{capture_id}", response_class=HTMLResponse, include_in_schema=False)
    def capture_page(request: Request, capture_id: str):
        manifest = capture_or_404(capture_id)
        media = catalog.media_of(manifest["capture_id"])
        view = capture_object(manifest, media, replay_base, coll)
        original = (
            replay_url(
                replay_base,
                coll,
                manifest.get("final_url") or manifest["url"],
                manifest.get("fetched_at"),
                original=True,
            )
            if manifest.get("warc_key")
            else None
        )
        memento = (
            memento_url(
                replay_base,
                coll,
                manifest.get("final_url") or manifest["url"],
                manifest["fetched_at"],
            )
            if manifest.get("warc_key") and manifest.get("fetched_at")
            else None
        )
        return page(
            request,
            "capture.html",
            capture=view,
            manifest=manifest,
            media=media,
            original_url=original,
            memento_url=memento,
            proof=audits.get(manifest),
        )

    @app.get(
        "/api/captures/{capture_id}/audit",
        summary="Audit one capture: digests, ledger inclusion, signed head, TSA tokens",
        description="The object `warcflow audit CAPTURE_ID --json` prints for it "
        "(cached for a few minutes).",
    )
    def api_audit(capture_id: str):
        return audits.get(capture_or_404(capture_id))

    blank_form: dict[str, Any] = {
        "urls": "",
        "tags": "",
        "note": "",
        "operator": "",
        "case_id": "",
        "purpose": "",
        "mode": "auto",
    }

    @app.get("/submit", response_class=HTMLResponse, include_in_schema=False)
    def submit_form(request: Request):
        return page(request, "submit.html", errors=[], done=[], **blank_form)

    @app.post("/submit", response_class=HTMLResponse, include_in_schema=False)
    def submit_post(
        request: Request,
        urls: str = Form(""),
        tags: str = Form(""),
        note: str = Form(""),
        operator: str = Form(""),
        case_id: str = Form(""),
        purpose: str = Form(""),
        token: str = Form(""),
        mode: str = Form("auto"),
    ):
        form = {
            "urls": urls,
            "tags": tags,
            "note": note,
            "operator": operator,
            "case_id": case_id,
            "purpose": purpose,
            "mode": mode,
        }
        if not token_ok(request, token):
            return page(
                request,
                "submit.html",
                status=401,
                errors=["wrong or missing token"],
                done=[],
                **form,
            )
        lines = [line.strip() for line in urls.splitlines() if line.strip()]
        tag_list = tuple(t.strip() for t in tags.split(",") if t.strip())
        try:
            done = submit(
                lines,
                tag_list,
                note.strip() or None,
                operator=operator.strip() or None,
                case_id=case_id.strip() or None,
                purpose=purpose.strip() or None,
                mode=mode,
            )
        except ValueError as exc:
            return page(
                request, "submit.html", status=400, errors=str(exc).splitlines(), done=[], **form
            )
        except CaptureError as exc:
            return page(request, "submit.html", status=503, errors=[str(exc)], done=[], **form)
        return page(request, "submit.html", errors=[], done=done, **blank_form)

    # -- JSON API -------------------------------------------------------------------

    @app.get(
        "/api/captures",
        summary="Every capture of a URL, newest first",
        description="The same objects as `warcflow captures URL --json`, each with a "
        "`replay_url`; forms of one page (http/https, www, query order) are "
        "the same page.",
    )
    def api_captures(url: str = Query(..., description="the post's URL, any form")):
        return objects_for(checked_url(url))

    @app.get("/api/captures/{capture_id}", summary="One capture: summary, manifest, media")
    def api_capture(capture_id: str):
        manifest = capture_or_404(capture_id)
        media = catalog.media_of(manifest["capture_id"])
        return {
            "capture": capture_object(manifest, media, replay_base, coll),
            "manifest": manifest,
            "media": media,
        }

    @app.get("/api/search", summary="Captured URLs matching text or a host/path prefix")
    def api_search(q: str = Query(..., min_length=1), limit: int = Query(50, ge=1, le=500)):
        return catalog.search(q, limit)

    @app.post(
        "/api/submit",
        status_code=202,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SubmitBody.model_json_schema()}},
            }
        },
        summary="Submit URLs for capture",
        description="Validates like `warcflow submit`: if any URL is refused, nothing "
        "is submitted and the answer is 400 with every problem. When the "
        "viewer has a token (WARCFLOW_VIEWER_TOKEN), send it as "
        "`Authorization: Bearer TOKEN`; without it the answer is 401.",
    )
    async def api_submit(request: Request):
        # the token is checked before a byte of the body is read, and the body is
        # read only up to SUBMIT_BODY_BYTES (review F12): an anonymous client
        # cannot make the viewer parse a large body
        if not token_ok(request):
            return JSONResponse(
                {"errors": ["wrong or missing token"]},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not request.headers.get("content-type", "").lower().startswith("application/json"):
            return JSONResponse({"errors": ["send the body as application/json"]}, 415)
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > SUBMIT_BODY_BYTES:
                return JSONResponse(
                    {"errors": [f"the body is larger than {SUBMIT_BODY_BYTES} bytes"]}, 413
                )
        try:
            body = SubmitBody.model_validate_json(bytes(raw))
        except ValidationError as exc:
            return JSONResponse(
                {"errors": [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]},
                422,
            )
        urls, tags, note = body.urls, body.tags, body.note
        operator, case_id, purpose, mode = body.operator, body.case_id, body.purpose, body.mode
        try:
            return await run_in_threadpool(
                submit,
                urls,
                tuple(tags),
                note,
                operator=operator,
                case_id=case_id,
                purpose=purpose,
                mode=mode,
            )
        except ValueError as exc:
            return JSONResponse({"errors": str(exc).splitlines()}, status_code=400)
        except CaptureError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=503)

    @app.get("/api/status", summary="Catalog size and feed position")
    def api_status():
        return {
            "counts": catalog.counts(),
            "feed_offsets": catalog.offsets(),
            "replay": replay_base,
            "collection": coll,
        }

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    def warc_version(capture_id: str) -> str | None:
        manifest = catalog.capture(capture_id)
        return manifest.get("warc_version_id") if manifest else None

    files.add_routes(app, store, record, warc_version)
    memento.add_routes(app, catalog, settings)
    finding.add_routes(app, finder)

    # -- the replay server's index ---------------------------------------------------

    @app.get("/cdx", include_in_schema=False)
    def cdx(
        url: str | None = None,
        key: str | None = None,
        end_key: str | None = None,
        matchType: str = "exact",
        limit: int = 10000,
    ):
        """CDXJ lines for pywb: by ``key``/``end_key`` as pywb computes them, or by ``url``."""
        if key is None:
            if not url:
                raise HTTPException(400, "url or key is required")
            key = cdx_key(url)
            if matchType == "prefix":
                end_key = key + "\uffff"
            elif matchType in ("host", "domain"):
                host = key.split(")", 1)[0]
                key, end_key = host + ")", host + ("," if matchType == "domain" else ")") + "\uffff"
        lines = catalog.cdx(key, end_key, limit=limit)
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/x-cdxj")

    return app


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
