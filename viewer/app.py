"""The viewer: find a post, see its captures on a timeline, look at one capture.

A FastAPI app (OpenAPI at ``/openapi.json``, interactive docs at ``/api/docs``):

    pages      /  /search  /url?u=URL  /capture/{id}  /submit
    JSON API   /api/captures?url=URL  /api/captures/{id}  /api/search?q=  /api/submit
               /api/status
    files      /capture/{id}/warc  /capture/{id}/screenshot  /media/{sha256}  /media/{sha256}/derived
               /media/{sha256}/poster            (Range requests supported)
    Memento    /timegate/{URL}  /timemap/link/{URL}          (RFC 7089)
    replay     /cdx   pywb-style CDX lookups, used by the replay server
    health     /healthz

Archived pages are never served from this origin: replay is pywb, on its own
origin (``ViewerSettings.replay_base``), embedded here in an iframe; this
origin sends a Content-Security-Policy that allows frames only from there and
scripts only from itself.
"""

from __future__ import annotations

import hmac
import re
from datetime import timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable

from fastapi import Body, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, \
    Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from archivers.store import layout
from archivers.manifests.catalog import media_object_key
from archivers.warc.cdxj import cdx_key
from archivers.clock import iso, parse_iso, utc_now
from archivers.errors import CaptureError, InvalidURL
from archivers.custody.ledger import CustodyEvent, ObjectDigest
from archivers.urls import validate_url
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from viewer.views import capture_object, replay_url

HERE = Path(__file__).parent
MIME = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska", "m4a": "audio/mp4",
        "ts": "video/mp2t", "mp3": "audio/mpeg", "ogg": "audio/ogg", "jpg": "image/jpeg"}
CHUNK = 1024 * 1024


def create_app(settings: ViewerSettings, catalog: Catalog, store,
               submit: Callable[..., list[dict]],
               record: Callable[[CustodyEvent], None] = lambda event: None) -> FastAPI:
    """The viewer app. ``submit(urls, tags, note, operator=, case_id=, purpose=,
    mode=)`` validates and produces to ingest, raising ValueError (with every
    problem) when any URL or field is refused; ``record(event)`` puts a custody
    event (a download of evidence) on the ledger's topic."""
    app = FastAPI(title="warcflow viewer", version="1", docs_url="/api/docs", redoc_url=None,
                  description="Captures of social-media posts: timelines, capture facts, "
                              "replay links, media files, Memento. See docs/api.md.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    replay_base, coll = settings.replay_base, settings.collection
    csp = ("default-src 'self'; img-src 'self' data:; media-src 'self'; "
           f"frame-src {replay_base}; script-src 'self'; style-src 'self'; object-src 'none'; "
           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if request.url.path != "/api/docs":
            response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def page(request: Request, name: str, status: int = 200, **context):
        return templates.TemplateResponse(request, name, {
            "replay_base": replay_base, "collection": coll, "counts": catalog.counts(),
            "token_required": bool(settings.token), **context}, status_code=status)

    def objects_for(url: str) -> list[dict[str, Any]]:
        return [capture_object(m, catalog.media_of(m["capture_id"]), replay_base, coll)
                for m in catalog.captures_of(url)]

    def checked_url(url: str) -> str:
        try:
            validate_url(url)
        except InvalidURL as exc:
            raise HTTPException(400, f"not a URL warcflow captures: {exc}") from None
        return url

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

    audits = AuditCache(store)

    # -- pages ----------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        return page(request, "index.html", recent=catalog.recent(30))

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = ""):
        if q and "://" in q:
            return RedirectResponse(f"/url?u={_q(q)}", status_code=303)
        return page(request, "search.html", q=q, results=catalog.search(q) if q else [])

    @app.get("/url", response_class=HTMLResponse, include_in_schema=False)
    def timeline(request: Request, u: str):
        checked_url(u)
        return page(request, "timeline.html", url=u, captures=objects_for(u),
                    timemap=f"/timemap/link/{u}", timegate=f"/timegate/{u}")

    @app.get("/capture/{capture_id}", response_class=HTMLResponse, include_in_schema=False)
    def capture_page(request: Request, capture_id: str):
        manifest = capture_or_404(capture_id)
        media = catalog.media_of(manifest["capture_id"])
        view = capture_object(manifest, media, replay_base, coll)
        original = (replay_url(replay_base, coll, manifest.get("final_url") or manifest["url"],
                               manifest.get("fetched_at"), original=True)
                    if manifest.get("warc_key") else None)
        return page(request, "capture.html", capture=view, manifest=manifest, media=media,
                    original_url=original, proof=audits.get(manifest))

    @app.get("/api/captures/{capture_id}/audit",
             summary="Audit one capture: digests, ledger inclusion, signed head, TSA tokens",
             description="The object `warcflow audit CAPTURE_ID --json` prints for it "
                         "(cached for a few minutes).")
    def api_audit(capture_id: str):
        return audits.get(capture_or_404(capture_id))

    blank_form = {"urls": "", "tags": "", "note": "", "operator": "", "case_id": "",
                  "purpose": "", "mode": "auto"}

    @app.get("/submit", response_class=HTMLResponse, include_in_schema=False)
    def submit_form(request: Request):
        return page(request, "submit.html", errors=[], done=[], **blank_form)

    @app.post("/submit", response_class=HTMLResponse, include_in_schema=False)
    def submit_post(request: Request, urls: str = Form(""), tags: str = Form(""),
                    note: str = Form(""), operator: str = Form(""), case_id: str = Form(""),
                    purpose: str = Form(""), token: str = Form(""), mode: str = Form("auto")):
        form = {"urls": urls, "tags": tags, "note": note, "operator": operator,
                "case_id": case_id, "purpose": purpose, "mode": mode}
        if not token_ok(request, token):
            return page(request, "submit.html", status=401, errors=["wrong or missing token"],
                        done=[], **form)
        lines = [line.strip() for line in urls.splitlines() if line.strip()]
        tag_list = tuple(t.strip() for t in tags.split(",") if t.strip())
        try:
            done = submit(lines, tag_list, note.strip() or None,
                          operator=operator.strip() or None, case_id=case_id.strip() or None,
                          purpose=purpose.strip() or None, mode=mode)
        except ValueError as exc:
            return page(request, "submit.html", status=400, errors=str(exc).splitlines(),
                        done=[], **form)
        except CaptureError as exc:
            return page(request, "submit.html", status=503, errors=[str(exc)], done=[], **form)
        return page(request, "submit.html", errors=[], done=done, **blank_form)

    # -- JSON API -------------------------------------------------------------------

    @app.get("/api/captures", summary="Every capture of a URL, newest first",
             description="The same objects as `warcflow captures URL --json`, each with a "
                         "`replay_url`; forms of one page (http/https, www, query order) are "
                         "the same page.")
    def api_captures(url: str = Query(..., description="the post's URL, any form")):
        return objects_for(checked_url(url))

    @app.get("/api/captures/{capture_id}", summary="One capture: summary, manifest, media")
    def api_capture(capture_id: str):
        manifest = capture_or_404(capture_id)
        media = catalog.media_of(manifest["capture_id"])
        return {"capture": capture_object(manifest, media, replay_base, coll),
                "manifest": manifest, "media": media}

    @app.get("/api/search", summary="Captured URLs matching text or a host/path prefix")
    def api_search(q: str = Query(..., min_length=1), limit: int = Query(50, ge=1, le=500)):
        return catalog.search(q, limit)

    @app.post("/api/submit", status_code=202, summary="Submit URLs for capture",
              description="Validates like `warcflow submit`: if any URL is refused, nothing "
                          "is submitted and the answer is 400 with every problem. When the "
                          "viewer has a token (WARCFLOW_VIEWER_TOKEN), send it as "
                          "`Authorization: Bearer TOKEN`; without it the answer is 401.")
    def api_submit(request: Request, urls: list[str] = Body(..., embed=True),
                   tags: list[str] = Body([], embed=True),
                   note: str | None = Body(None, embed=True),
                   operator: str | None = Body(None, embed=True),
                   case_id: str | None = Body(None, embed=True),
                   purpose: str | None = Body(None, embed=True),
                   mode: str = Body("auto", embed=True,
                                    description="static, browser or auto (the site rules "
                                                "decide)")):
        if not token_ok(request):
            return JSONResponse({"errors": ["wrong or missing token"]}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            return submit(urls, tuple(tags), note, operator=operator, case_id=case_id,
                          purpose=purpose, mode=mode)
        except ValueError as exc:
            return JSONResponse({"errors": str(exc).splitlines()}, status_code=400)
        except CaptureError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=503)

    @app.get("/api/status", summary="Catalog size and feed position")
    def api_status():
        return {"counts": catalog.counts(), "feed_offsets": catalog.offsets(),
                "replay": replay_base, "collection": coll}

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    # -- files ----------------------------------------------------------------------

    @app.get("/capture/{capture_id}/warc", summary="Download the WARC of a capture")
    def download_warc(capture_id: str, request: Request):
        if not layout.is_capture_id(capture_id):
            raise HTTPException(404, "not a capture id")
        key = layout.warc_key(capture_id)
        response = _stream(store, key, request, "application/warc",
                           attachment=f"{capture_id.upper()}.warc.gz")
        downloaded(request, capture_id.upper(), key)
        return response

    @app.get("/capture/{capture_id}/screenshot", summary="The screenshot of a browser capture",
             description="The full-page PNG taken when the page was captured (also a "
                         "`resource` record in the capture's WARC). Served as image/png "
                         "with a policy that lets nothing in it run.")
    def screenshot(capture_id: str, request: Request):
        if not layout.is_capture_id(capture_id):
            raise HTTPException(404, "not a capture id")
        response = _stream(store, layout.screenshot_key(capture_id), request, "image/png")
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return response

    @app.get("/media/{sha256}", summary="The stored original media file (Range supported)")
    def media_file(sha256: str, request: Request):
        key = _media_key(store, sha256)
        response = _stream(store, key, request, MIME.get(key.rsplit(".", 1)[-1],
                                                         "application/octet-stream"))
        downloaded(request, None, key)
        return response

    def downloaded(request: Request, capture_id: str | None, key: str) -> None:
        """A custody event for a download of evidence; a player's later range
        requests (not from byte 0) are the same viewing, not recorded again."""
        wanted = request.headers.get("range", "")
        if wanted and not wanted.replace(" ", "").startswith("bytes=0-"):
            return
        client = request.client.host if request.client else "?"
        head = store.head(key)
        at = iso(utc_now())
        record(CustodyEvent(
            event="download", event_id=f"download:{key}:{at}", at=at,
            who=f"viewer client {client}", capture_id=capture_id, url=None,
            objects=(ObjectDigest(key, head.sha256 or "", head.size, head.version_id),)
            if head else (), detail={"path": request.url.path}))

    @app.get("/media/{sha256}/derived", summary="The browser-playable copy, if one was made")
    def media_derived(sha256: str, request: Request):
        _check_digest(sha256)
        return _stream(store, layout.derived_key(sha256), request, "video/mp4")

    @app.get("/media/{sha256}/poster", summary="The poster frame (JPEG)")
    def media_poster(sha256: str, request: Request):
        _check_digest(sha256)
        return _stream(store, layout.poster_key(sha256), request, "image/jpeg")

    # -- Memento (RFC 7089) ---------------------------------------------------------

    def mementos(url: str) -> list[dict[str, Any]]:
        return [m for m in reversed(catalog.captures_of(url)) if m.get("warc_key")]

    @app.get("/timemap/link/{url:path}", summary="Memento TimeMap (application/link-format)")
    def timemap(url: str, request: Request):
        url = _full_url(url, request)
        found = mementos(checked_url(url))
        if not found:
            raise HTTPException(404, f"no mementos of {url}")
        base = settings.viewer_base
        lines = [f'<{url}>; rel="original"',
                 f'<{base}/timemap/link/{url}>; rel="self"; type="application/link-format"; '
                 f'from="{_http_date(found[0]["fetched_at"])}"; until="{_http_date(found[-1]["fetched_at"])}"',
                 f'<{base}/timegate/{url}>; rel="timegate"']
        for i, m in enumerate(found):
            rel = "memento"
            if i == 0:
                rel = "first memento" if len(found) > 1 else "first last memento"
            elif i == len(found) - 1:
                rel = "last memento"
            target = replay_url(replay_base, coll, m.get("final_url") or url, m["fetched_at"])
            lines.append(f'<{target}>; rel="{rel}"; datetime="{_http_date(m["fetched_at"])}"')
        return PlainTextResponse(",\n".join(lines) + "\n", media_type="application/link-format")

    @app.get("/timegate/{url:path}", summary="Memento TimeGate: redirect to the closest capture",
             description="Honours `Accept-Datetime` (RFC 1123); without it, the newest capture.")
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
                when = when.replace(tzinfo=timezone.utc)
            best = min(found, key=lambda m: abs((parse_iso(m["fetched_at"]) - when).total_seconds()))
        else:
            best = found[-1]
        target = replay_url(replay_base, coll, best.get("final_url") or url, best["fetched_at"])
        base = settings.viewer_base
        return Response(status_code=302, headers={
            "Location": target, "Vary": "accept-datetime",
            "Link": f'<{url}>; rel="original", <{base}/timemap/link/{url}>; rel="timemap"; '
                    f'type="application/link-format"'})

    # -- the replay server's index ---------------------------------------------------

    @app.get("/cdx", include_in_schema=False)
    def cdx(url: str | None = None, key: str | None = None, end_key: str | None = None,
            matchType: str = "exact", limit: int = 10000):  # noqa: N803 - pywb's name
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


class AuditCache:
    """Audit results by capture id, kept ``ttl`` seconds (an audit re-reads every
    object, so a page view should not redo it each time). One audit of a capture
    runs at a time: concurrent views wait for it instead of repeating it; at most
    ``size`` results are kept."""

    def __init__(self, store, ttl: float = 300.0, size: int = 256) -> None:
        import threading

        self.store = store
        self.ttl = ttl
        self.size = size
        self._done: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, manifest: dict[str, Any]) -> dict[str, Any]:
        import threading
        import time

        capture_id = manifest["capture_id"]
        with self._guard:
            lock = self._locks.setdefault(capture_id, threading.Lock())
        with lock:
            cached = self._done.get(capture_id)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            result = self._audit(manifest)
            with self._guard:
                self._done[capture_id] = (time.monotonic(), result)
                while len(self._done) > self.size:
                    oldest = min(self._done, key=lambda k: self._done[k][0])
                    del self._done[oldest]
                    self._locks.pop(oldest, None)
            return result

    def _audit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        from archivers.custody.audit import audit_capture
        from archivers.manifests.manifest import Manifest

        m = Manifest.from_dict(manifest)
        try:
            return audit_capture(self.store, m).to_dict()
        except Exception as exc:  # noqa: BLE001 - the page still shows, with the reason
            return {"capture_id": manifest["capture_id"], "ok": False, "error": str(exc),
                    "checks": [], "items": {}, "liveness": None, "custody": []}


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _full_url(url: str, request: Request) -> str:
    """The URL in a /timegate/{url} path, with the query string the router split off."""
    if request.url.query:
        return f"{url}?{request.url.query}"
    return url


def _http_date(when: str) -> str:
    return format_datetime(parse_iso(when).astimezone(timezone.utc), usegmt=True)


def _check_digest(sha256: str) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise HTTPException(404, "not a SHA-256 digest")


def _media_key(store, sha256: str) -> str:
    _check_digest(sha256)
    key = media_object_key(store, sha256)
    if key is None:
        raise HTTPException(404, f"no media file sha256:{sha256}")
    return key


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _stream(store, key: str, request: Request, content_type: str, *,
            attachment: str | None = None) -> Response:
    """An S3 object as an HTTP response, with single-range requests (video seeking)."""
    head = store.head(key)
    if head is None:
        raise HTTPException(404, f"nothing stored at {key}")
    size = head.size
    headers = {"Accept-Ranges": "bytes", "Last-Modified": format_datetime(head.last_modified,
                                                                         usegmt=True)}
    if head.sha256:
        headers["Digest"] = f"sha-256={_b64(head.sha256)}"
    if attachment:
        headers["Content-Disposition"] = f'attachment; filename="{attachment}"'
    wanted = _RANGE.match(request.headers.get("range", "").strip())
    if wanted and size:
        first, last = wanted.groups()
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end or start >= size:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        body = store.open(key, (start, end))
        return StreamingResponse(_chunks(body), status_code=206, media_type=content_type,
                                 headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(store.open(key)), media_type=content_type, headers=headers)


def _chunks(body):
    try:
        while chunk := body.read(CHUNK):
            yield chunk
    finally:
        body.close()


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")

