"""The viewer: find a post, see its captures on a timeline, look at one capture.

A FastAPI app (its OpenAPI description at ``/openapi.json``; no interactive
docs page: Swagger UI would load a script from a CDN on this origin):

    pages      /  /search  /url?u=URL  /capture/{id}  /submit  /sessions
    JSON API   /api/captures?url=URL  /api/captures/{id}  /api/search?q=  /api/submit
               /api/status  /api/sessions  /api/similar  /api/lineage/{sha256}
    files      /capture/{id}/warc  /capture/{id}/screenshot  /media/{sha256}
               /media/{sha256}/derived  /media/{sha256}/poster   (Range requests supported)
    Memento    /timegate/{URL}  /timemap/link/{URL}  /timemap/json/{URL}   (RFC 7089)
    replay     /cdx   pywb-style CDX lookups, used by the replay server
    accounts   /login  /logout
    health     /healthz

Who may do what (viewer/auth.py, viewer/accounts.py; decision 0016): every
state change needs an account (submitting: ``submitter`` or ``admin``), comes
from the viewer's own origin, and — when authenticated by the session cookie —
carries the session's CSRF token; downloading evidence (a WARC, a media
original: a custody event, recorded as the account) needs an account of any
role; reading needs one unless ``ViewerSettings.reading_is_open``; the
logged-in sessions' state (``/sessions``, ``/api/sessions``, and the banner
on every page when one is expired or challenged: viewer/sessions.py) needs
``admin``. Submits,
downloads and logins are rate-limited per account and per client address
(viewer/ratelimit.py: 429 with ``Retry-After``). Audits run in a bounded pool
(viewer/audits.py): a request gets the cached result or "pending" (202).

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
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError

from archivers.custody.audit import Trust
from archivers.custody.ledger import CustodyEvent
from archivers.errors import CaptureError
from archivers.store import layout
from archivers.warc.cdxj import cdx_key
from viewer import files, finding, memento
from viewer.accounts import Accounts
from viewer.audits import AuditCache
from viewer.auth import COOKIE, Gate, Principal, session_key
from viewer.catalog import Catalog
from viewer.ratelimit import RateLimiter
from viewer.sessions import SessionBoard
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
    *,
    accounts: Accounts | None = None,
    replay_token: str = "",
    audits: AuditCache | None = None,
) -> FastAPI:
    """The viewer app. ``submit(urls, tags, note, operator=, case_id=, purpose=,
    mode=, account=)`` validates and produces to ingest, raising ValueError (with
    every problem) when any URL or field is refused; ``record(event)`` puts a
    custody event (a download of evidence) on the ledger's topic. ``trust``: the
    keys and TSA CAs the audits shown trust, from the configuration (none:
    nothing proves). ``accounts``: who may log in (default: the file in
    ``state_dir``); ``replay_token``: what the replay server sends to read
    ``/cdx`` when reading is not open."""
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
    accounts = accounts or Accounts(settings.accounts_path)
    gate = Gate(settings, accounts, session_key(settings.state_dir / "session.key"))
    limits = {
        "submit": RateLimiter(settings.submits_per_minute),
        "download": RateLimiter(settings.downloads_per_minute),
        "login": RateLimiter(settings.logins_per_minute),
    }
    csp = (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; "
        f"frame-src {replay_base}; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    open_paths = ("/login", "/static/", "/healthz", "/openapi.json")
    board = SessionBoard(settings.session_state)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        refused = gate.cross_site(request)
        if refused:
            response: Any = JSONResponse(
                {
                    "errors": [
                        f"refused: a change must come from this viewer's own pages ({refused})"
                    ]
                },
                status_code=403,
            )
        else:
            # a failed Authorization header counts as a failed login of its address,
            # and an address past the login limit is not even checked (no guessing
            # passwords through Basic at full speed)
            header = "authorization" in request.headers
            address = ("ip", gate.client_address(request))
            wait = limits["login"].wait(address) if header else 0.0
            principal = None if wait else await run_in_threadpool(gate.principal, request)
            if header and principal is None and not wait and not _is_replay(request):
                limits["login"].take(address)
            request.state.principal = principal
            path = request.url.path
            if wait:
                response = too_many("login attempt", wait)
            elif (
                principal is None
                and not settings.reading_is_open
                and not path.startswith(open_paths)
                and not (path == "/cdx" and _is_replay(request))
            ):
                response = login_needed(request)
            else:
                response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: no referrer to other sites, and browsers keep sending the
        # true Origin on the viewer's own form posts (no-referrer makes it "null")
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def _is_replay(request: Request) -> bool:
        """Whether ``request`` carries the replay server's secret (for /cdx)."""
        return bool(replay_token) and hmac.compare_digest(
            _bearer(request).encode(), replay_token.encode()
        )

    def login_needed(request: Request):
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={_q(_local_path(request))}", status_code=303)
        return JSONResponse(
            {"errors": ["log in first: this needs an account (docs/api.md, Accounts)"]},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="warcflow"'},
        )

    def who(request: Request) -> Principal | None:
        return getattr(request.state, "principal", None)

    def refusal(request: Request, role: str, *, csrf: str | None = None) -> str | None:
        """Why ``request`` may not do what needs ``role`` (None: it may). A change
        authenticated by the session cookie needs its CSRF token (``csrf``)."""
        principal = who(request)
        if principal is None:
            return "log in first"
        if not principal.may(role):
            return (
                f"the account {principal.name} ({principal.role}) may not do this: it needs {role}"
            )
        if principal.via == "session" and request.method not in ("GET", "HEAD"):
            given = csrf if csrf is not None else request.headers.get("x-csrf-token", "")
            if not gate.csrf_ok(principal, given):
                return "the form is out of date (missing or wrong CSRF token): reload it"
        return None

    def limited(request: Request, kind: str) -> float:
        """Seconds to wait before another ``kind`` (0: go ahead, one taken)."""
        principal = who(request)
        keys = [("ip", gate.client_address(request))]
        if principal is not None:
            keys.append(("account", principal.name))
        return limits[kind].take(*keys)

    def too_many(kind: str, wait: float, html: Request | None = None, **context):
        message = f"too many {kind}s: try again in {wait:g} s"
        headers = {"Retry-After": str(int(wait))}
        if html is not None:
            response = page(html, "submit.html", status=429, errors=[message], done=[], **context)
            response.headers.update(headers)
            return response
        return JSONResponse({"errors": [message]}, status_code=429, headers=headers)

    def page(request: Request, template: str, status: int = 200, **context):
        principal = who(request)
        operator = principal is not None and principal.may("admin")
        return templates.TemplateResponse(
            request,
            template,
            {
                "replay_base": replay_base,
                "collection": coll,
                "counts": catalog.counts(),
                "principal": principal,
                "csrf": gate.csrf_token(principal),
                "operator": operator,
                # the banner: sessions expired or challenged, for those who may see them
                "attention": board.read().attention if operator else 0,
                **context,
            },
            status_code=status,
        )

    def objects_for(url: str) -> list[dict[str, Any]]:
        return [
            capture_object(m, catalog.media_of(m["capture_id"]), replay_base, coll)
            for m in catalog.captures_of(url)
        ]

    def capture_or_404(capture_id: str) -> dict[str, Any]:
        manifest = catalog.capture(capture_id) if layout.is_capture_id(capture_id) else None
        if manifest is None:
            raise HTTPException(404, f"no capture {capture_id}")
        return manifest

    audits = audits or AuditCache(store, trust or Trust(), workers=settings.audit_workers)

    # -- accounts -------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/"):
        if who(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        return page(request, "login.html", errors=[], account="", next=_safe_next(next))

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request, name: str = Form(""), password: str = Form(""), next: str = Form("/")
    ):
        wait = limits["login"].take(("ip", gate.client_address(request)), ("login", name))
        if wait:
            response = page(
                request,
                "login.html",
                status=429,
                errors=[f"too many attempts: try again in {wait:g} s"],
                account=name,
                next=_safe_next(next),
            )
            response.headers["Retry-After"] = str(int(wait))
            return response
        try:
            account = accounts.authenticate(name.strip(), password)
        except ValueError as exc:  # the accounts file: say so, let nobody in
            return page(
                request, "login.html", status=503, errors=[str(exc)], account=name, next="/"
            )
        if account is None:
            return page(
                request,
                "login.html",
                status=401,
                errors=["wrong name or password"],
                account=name,
                next=_safe_next(next),
            )
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(COOKIE, gate.issue(account), **gate.cookie_attributes(request))
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: str = Form("")):
        principal = who(request)
        if (
            principal is not None
            and principal.via == "session"
            and not gate.csrf_ok(principal, csrf)
        ):
            return JSONResponse({"errors": ["missing or wrong CSRF token"]}, status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/api/whoami", summary="The account this request is authenticated as")
    def whoami(request: Request):
        principal = who(request)
        if principal is None:
            return JSONResponse({"name": None, "role": None}, status_code=401)
        return {"name": principal.name, "role": principal.role, "via": principal.via}

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
        state, proof = audits.get(manifest)
        return page(
            request,
            "capture.html",
            capture=view,
            manifest=manifest,
            media=media,
            original_url=original,
            memento_url=memento,
            proof=proof,
            audit_state=state,
        )

    @app.get(
        "/api/captures/{capture_id}/audit",
        summary="Audit one capture: digests, ledger inclusion, signed head, TSA tokens",
        description="The object `warcflow audit CAPTURE_ID --json` prints for it, cached "
        "until the ledger's next signed head. Audits run in the background, never in "
        'the request: until it is done the answer is 202 `{"status": "pending"}` with '
        "`Retry-After`; 503 when the audit queue is full.",
        responses={202: {"description": "the audit is running: ask again"}},
    )
    def api_audit(capture_id: str):
        state, proof = audits.get(capture_or_404(capture_id))
        if state == "done":
            return proof
        return JSONResponse(
            {"status": state, "capture_id": capture_id.upper()},
            status_code=202 if state == "pending" else 503,
            headers={"Retry-After": "2" if state == "pending" else "10"},
        )

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
        principal = who(request)
        if principal is None:
            return RedirectResponse("/login?next=/submit", status_code=303)
        problem = refusal(request, "submitter")
        return page(
            request,
            "submit.html",
            status=403 if problem else 200,
            errors=[problem] if problem else [],
            done=[],
            **blank_form,
        )

    @app.post("/submit", response_class=HTMLResponse, include_in_schema=False)
    def submit_post(
        request: Request,
        urls: str = Form(""),
        tags: str = Form(""),
        note: str = Form(""),
        operator: str = Form(""),
        case_id: str = Form(""),
        purpose: str = Form(""),
        csrf: str = Form(""),
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
        problem = refusal(request, "submitter", csrf=csrf)
        if problem:
            status = 401 if who(request) is None else 403
            return page(request, "submit.html", status=status, errors=[problem], done=[], **form)
        wait = limited(request, "submit")
        if wait:
            return too_many("submit", wait, request, **form)
        principal = who(request)
        assert principal is not None  # refusal() said so
        lines = [line.strip() for line in urls.splitlines() if line.strip()]
        tag_list = tuple(t.strip() for t in tags.split(",") if t.strip())
        try:
            done = submit(
                lines,
                tag_list,
                note.strip() or None,
                operator=operator.strip() or principal.name,
                case_id=case_id.strip() or None,
                purpose=purpose.strip() or None,
                mode=mode,
                account=principal.name,
            )
        except ValueError as exc:
            return page(
                request, "submit.html", status=400, errors=str(exc).splitlines(), done=[], **form
            )
        except CaptureError as exc:
            return page(request, "submit.html", status=503, errors=[str(exc)], done=[], **form)
        return page(request, "submit.html", errors=[], done=done, **blank_form)

    @app.get("/sessions", response_class=HTMLResponse, include_in_schema=False)
    def sessions_page(request: Request):
        if who(request) is None:
            return RedirectResponse("/login?next=/sessions", status_code=303)
        problem = refusal(request, "admin")
        if problem:
            return page(request, "sessions.html", status=403, errors=[problem], board=None)
        known = board.read()
        return page(
            request,
            "sessions.html",
            errors=[known.problem] if known.problem else [],
            board=known,
            state_file=settings.session_state,
        )

    # -- JSON API -------------------------------------------------------------------

    @app.get(
        "/api/sessions",
        summary="The logged-in sessions' state (admin accounts)",
        description="What the sessions page shows, from the session vault's plain state "
        "file (never the vault): per session its id, site, public handle, state "
        "(`active`, `expired`, `challenged`), why, since when, uses and last use; those "
        "that need attention first. 401 without an account, 403 for one that is not "
        "admin, 503 when the state file cannot be read.",
    )
    def api_sessions(request: Request):
        problem = refusal(request, "admin")
        if problem:
            return JSONResponse(
                {"errors": [problem]}, status_code=401 if who(request) is None else 403
            )
        known = board.read()
        if known.problem:
            return JSONResponse({"errors": [known.problem]}, status_code=503)
        return {
            "sessions": [s.public() for s in known.sessions],
            "attention": known.attention,
        }

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
        "is submitted and the answer is 400 with every problem. Needs a submitter "
        "or admin account: `Authorization: Bearer NAME:TOKEN` (or Basic); 401 "
        "without one, 403 for a viewer account, 429 with `Retry-After` past the "
        "rate limit (WARCFLOW_VIEWER_SUBMITS_PER_MINUTE).",
    )
    async def api_submit(request: Request):
        # the account is checked before a byte of the body is read, and the body is
        # read only up to SUBMIT_BODY_BYTES (review F12): an anonymous client
        # cannot make the viewer parse a large body
        problem = refusal(request, "submitter")
        if problem:
            anonymous = who(request) is None
            return JSONResponse(
                {"errors": [problem]},
                status_code=401 if anonymous else 403,
                headers={"WWW-Authenticate": 'Bearer realm="warcflow"'} if anonymous else None,
            )
        wait = limited(request, "submit")
        if wait:
            return too_many("submit", wait)
        principal = who(request)
        assert principal is not None
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
        operator = operator or principal.name
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
                account=principal.name,
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

    def downloader(request: Request) -> str | Response:
        """The account a download of evidence is recorded as, or the answer
        refusing it (no account: 401; past the rate limit: 429)."""
        principal = who(request)
        if principal is None:
            return login_needed(request)
        if files.is_seek(request.headers.get("range", "")):
            return principal.name  # a player's seek: the same viewing, not counted again
        wait = limited(request, "download")
        if wait:
            return too_many("download", wait)
        return principal.name

    files.add_routes(app, store, record, warc_version, downloader)
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
        lines = catalog.cdx(key, end_key, limit=min(max(1, limit), 10000))
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/x-cdxj")

    return app


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _local_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _safe_next(target: str) -> str:
    """Where to go after logging in: a path on this viewer, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
