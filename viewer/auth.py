"""Who a request comes from, and whether it may change anything.

Every request gets a ``Principal`` (or None: anonymous), first found:

1. the trusted proxy's user header (``ViewerSettings.user_header``, only from an
   address in ``trusted_proxies``): single sign-on (OIDC) done by the proxy; the
   name must be an account here, whose role applies;
2. ``Authorization: Bearer NAME:SECRET`` (a token account) or ``Authorization:
   Basic`` (name and password or token): scripts;
3. the session cookie set by ``POST /login``: people.

The session cookie is ``HttpOnly; SameSite=Strict; Path=/`` (and ``Secure``
when the viewer is reached over https). Its value is signed (HMAC-SHA256 with a
key kept in ``state_dir/session.key``, 0600, made on first start; viewers that
share it share sessions) and holds the account name, the account's secret
``generation``, an expiry and a random nonce; it is good while it has not
expired and the account still exists with that generation (a new secret or a
removed account ends its sessions). Its CSRF token is an HMAC of the nonce.

A state-changing request (any method but GET, HEAD, OPTIONS) is refused (403)
unless it comes from the viewer's own origin: its ``Origin`` (or, without one,
its ``Referer``) must be ``ViewerSettings.viewer_base``'s origin, and
``Sec-Fetch-Site`` must not say cross-site or same-site (the replay origin is
another site, an archived page there is refused). Browsers send ``Origin`` on
every POST, and ``Origin: null`` — refused — where the referrer policy hides
it; the viewer's ``Referrer-Policy: same-origin`` keeps it for its own forms.
Requests authenticated by the session cookie must also carry its CSRF token (a
form's ``csrf`` field, or an ``X-CSRF-Token`` header). Clients that send no
``Origin`` (curl, scripts) authenticate with a header, which a browser never
adds to a cross-site request by itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request

from viewer.accounts import Account, AccountError, Accounts, role_at_least
from viewer.settings import ViewerSettings

COOKIE = "warcflow_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str
    """``proxy``, ``header`` or ``session``"""
    nonce: str = ""
    """The session's nonce (``via == "session"``), which its CSRF token signs."""

    def may(self, role: str) -> bool:
        return role_at_least(self.role, role)


def session_key(path: Path) -> bytes:
    """The key that signs sessions, made (random, 0600) if there is none."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another viewer made it meanwhile
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port if parts.port and parts.port != default else None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class Gate:
    """Sessions, principals and the same-origin rule for one viewer (see the
    module docstring)."""

    def __init__(self, settings: ViewerSettings, accounts: Accounts, key: bytes) -> None:
        self.settings = settings
        self.accounts = accounts
        self.key = key
        self.origin = origin_of(settings.viewer_base)
        self.lifetime = settings.session_hours * 3600

    # -- sessions -------------------------------------------------------------------

    def _sign(self, data: bytes) -> str:
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()

    def issue(self, account: Account, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.lifetime)
        nonce = secrets.token_hex(16)
        body = f"{account.name}|{account.generation}|{expires}|{nonce}".encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._sign(body)

    def session(self, cookie: str, now: float | None = None) -> Principal | None:
        encoded, _, signature = cookie.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            name, generation, expires, nonce = body.decode().split("|")
            if int(expires) < (now or time.time()):
                return None
        except ValueError:
            return None
        account = self.accounts.get(name)
        if account is None or not hmac.compare_digest(account.generation, generation):
            return None
        return Principal(account.name, account.role, "session", nonce)

    def csrf_token(self, principal: Principal | None) -> str:
        if principal is None or not principal.nonce:
            return ""
        return self._sign(b"csrf:" + principal.nonce.encode())[:32]

    def csrf_ok(self, principal: Principal, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf_token(principal), given)

    def cookie_attributes(self, request: Request) -> dict:
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": self.settings.viewer_base.startswith("https:")
            or self.scheme(request) == "https",
            "path": "/",
            "max_age": int(self.lifetime),
        }

    # -- who ------------------------------------------------------------------------

    def from_proxy(self, request: Request) -> bool:
        client = request.client
        return client is not None and client.host in self.settings.trusted_proxies

    def client_address(self, request: Request) -> str:
        address = request.client.host if request.client else "?"
        if self.from_proxy(request):
            forwarded = request.headers.get("x-forwarded-for", "")
            if forwarded.strip():
                return forwarded.split(",")[-1].strip()
        return address

    def scheme(self, request: Request) -> str:
        if self.from_proxy(request):
            return request.headers.get("x-forwarded-proto", request.url.scheme).lower()
        return request.url.scheme

    def principal(self, request: Request) -> Principal | None:
        """Who sent ``request`` (see the module docstring); None: anonymous or
        credentials that do not hold. May cost a password hash (Basic): call it
        off the event loop."""
        try:
            return self._principal(request)
        except AccountError:
            return None  # an unreadable accounts file lets nobody in (logged at start)

    def _principal(self, request: Request) -> Principal | None:
        header = self.settings.user_header
        if header and self.from_proxy(request):
            name = request.headers.get(header, "").strip()
            account = self.accounts.get(name) if name else None
            if account is not None:
                return Principal(account.name, account.role, "proxy")
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            account = self.accounts.from_token(value.strip())
            return Principal(account.name, account.role, "header") if account else None
        if scheme.lower() == "basic" and value.strip():
            try:
                name, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, ValueError):
                return None
            account = self.accounts.authenticate(name, secret)
            return Principal(account.name, account.role, "header") if account else None
        cookie = request.cookies.get(COOKIE)
        return self.session(cookie) if cookie else None

    # -- the same-origin rule ---------------------------------------------------------

    def cross_site(self, request: Request) -> str | None:
        """Why a state-changing ``request`` is refused as not from this viewer's
        own pages, or None."""
        if request.method in SAFE_METHODS:
            return None
        fetch_site = request.headers.get("sec-fetch-site", "").lower()
        if fetch_site in ("cross-site", "same-site"):
            return f"a {fetch_site} request (Sec-Fetch-Site)"
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if referer is None:
                return None  # not a browser's form: it must authenticate by a header
            origin = origin_of(referer) or "null"
        if origin.rstrip("/") != self.origin:
            return (
                f"from {origin}, not from this viewer ({self.origin}; if that is not "
                "the address browsers use, set WARCFLOW_VIEWER_URL)"
            )
        return None
