"""A test site that behaves like a platform behind a login wall (issue 17).

``Platform(site)`` installs, on a ``TestSite``:

- ``/status/<n>``: a post (text, a stylesheet, an image and a ``<video>``) for
  a request carrying a valid ``auth_token`` cookie; anonymous visitors and
  expired tokens get a 302 to ``/i/flow/login`` (what X does);
- ``/status/<n>`` with a *challenged* token: a Cloudflare-style challenge page;
- every walled path (the post, its image, its video) needs the cookie, and
  every request with a valid token counts against its budget: a token made
  with ``uses=N`` expires after N requests, as sessions do "after a few weeks";
- every answer to a logged-in request sets a fresh ``ct0`` cookie (a secret
  too: it must be withheld from stored records like the session's own);
- ``/login``: a login form; a POST of it with ``PASSWORD`` sets a fresh
  ``auth_token`` (HttpOnly) and a ``lang`` cookie and redirects to ``/home``, any
  other password gets the form again with 401 (``warcflow session login``).
"""

from __future__ import annotations

import secrets
import threading
from urllib.parse import parse_qs

from tests.support.site import Route, TestSite, png

LOGIN = "/i/flow/login"
LOGIN_FORM = "/login"
PASSWORD = "correct horse battery staple"
"""The test account's password at ``LOGIN_FORM``."""

FORM = b"""<!doctype html><html><head><meta charset="utf-8"><title>Log in</title></head>
<body><form method="post" action="/login">
<label>Username <input name="username" id="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" id="submit">Log in</button></form></body></html>"""


def post_html(n: int) -> bytes:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Walled post {n}</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><article><p>Only followers see post {n}: a convoy near Kazan</p>
<img src="/walled/photo{n}.png" alt="photo">
<video src="/walled/clip{n}.mp4" controls></video></article></body></html>""".encode()


class Platform:
    def __init__(self, site: TestSite, clip: bytes, clip_type: str = "video/mp4") -> None:
        self.site = site
        self.clip = clip
        self.clip_type = clip_type
        self.tokens: dict[str, int | None] = {}  # token → requests left (None: unlimited)
        self.challenged: set[str] = set()
        self.fresh: list[str] = []  # every ct0 value handed out
        self._lock = threading.Lock()
        site.routes[LOGIN] = Route(
            b"<!doctype html><title>Log in to see this post</title><form>...</form>"
        )
        site.routes[LOGIN_FORM] = Route(FORM)
        site.routes["/home"] = Route(b"<!doctype html><title>Home</title><p>Welcome back</p>")
        site.forms[LOGIN_FORM] = self.log_in
        self.logins: list[str] = []  # every auth_token the form handed out
        site.gate = self.answer

    def token(self, uses: int | None = None, challenged: bool = False) -> str:
        value = "tok-" + secrets.token_hex(12)
        with self._lock:
            self.tokens[value] = uses
            if challenged:
                self.challenged.add(value)
        return value

    def log_in(self, body: bytes) -> Route:
        fields = parse_qs(body.decode("utf-8", "replace"))
        if fields.get("password") != [PASSWORD]:
            return Route(FORM, status=401)
        token = self.token()
        self.logins.append(token)
        return Route(
            b"",
            status=303,
            headers=[
                ("Location", "/home"),
                ("Set-Cookie", f"auth_token={token}; Path=/; HttpOnly; SameSite=Lax"),
                ("Set-Cookie", "lang=en; Path=/"),
            ],
        )

    def url(self, n: int) -> str:
        return self.site.url(f"/status/{n}")

    def answer(self, path: str, cookie: str) -> Route | None:
        walled = path.startswith("/status/") or path.startswith("/walled/")
        if not walled:
            return None
        token = _cookie(cookie, "auth_token")
        with self._lock:
            left = self.tokens.get(token, 0) if token else 0
            valid = token in self.tokens and (left is None or left > 0)
            if valid and left is not None:
                self.tokens[token] = left - 1
            challenged = token in self.challenged
            fresh = "ct0-" + secrets.token_hex(10)
            self.fresh.append(fresh)
        if not valid:
            return Route(b"", status=302, headers=[("Location", LOGIN)])
        cookies = [("Set-Cookie", f"ct0={fresh}; Path=/; HttpOnly")]
        if challenged and path.startswith("/status/"):
            return Route(
                b"<!doctype html><title>Just a moment...</title>"
                b'<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1"></script>',
                status=200,
                headers=cookies,
            )
        if path.startswith("/status/"):
            return Route(post_html(int(path.rsplit("/", 1)[1])), headers=cookies)
        if path.endswith(".png"):
            return Route(png(16, 12, (10, 120, 200)), content_type="image/png", headers=cookies)
        return Route(self.clip, content_type=self.clip_type, headers=cookies)


def _cookie(header: str, name: str) -> str | None:
    for pair in header.split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return value
    return None


def cookies_txt(site: TestSite, token: str, *, host: str | None = None) -> str:
    """A Netscape cookies.txt as a browser extension exports it, for ``site``."""
    domain = host or site.host
    return (
        "# Netscape HTTP Cookie File\n"
        "# This is a generated file! Do not edit.\n\n"
        f"#HttpOnly_{domain}\tFALSE\t/\tFALSE\t0\tauth_token\t{token}\n"
        f"{domain}\tFALSE\t/\tFALSE\t0\tlang\ten\n"
        f".unrelated.example\tTRUE\t/\tFALSE\t0\tother\tnot-for-this-site\n"
    )
