"""A logged-in session's cookies, as the fetcher sends them and as a WARC withholds them.

``parse_cookies_txt`` reads the Netscape ``cookies.txt`` format that browser
extensions export and that yt-dlp (``--cookies``) and gallery-dl take: one
cookie per line, seven tab-separated fields ``domain  include-subdomains
path  secure  expires  name  value``; ``#HttpOnly_`` before the domain marks
an HttpOnly cookie; other ``#`` lines and blank lines are comments.

``SessionCookies`` is what a capture hands the fetcher: the session's id and
its cookies. For each request the fetcher asks ``header_for(url)`` (RFC 6265
domain and path matching, ``secure`` only over https, expired cookies left
out) and puts the answer in the ``Cookie`` header it sends, in place of any
``Cookie`` the caller (Chromium, yt-dlp) supplied for that host.

Invariant: a cookie's value never reaches a stored byte. The fetcher sends
the real header, then ``withheld_request`` and ``withheld_response_fields``
rewrite the recorded request, the response's header blocks and a chunked
response's trailer section (``trailer_start`` finds it): every ``Cookie``
value and every ``Set-Cookie`` value of an exchange made with a session
becomes ``WITHHELD`` plus the session id, before anything writes a WARC
record, an index line or a manifest (docs/decisions/0021-sessions.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from archivers.errors import Permanent
from archivers.net.proxy import Proxy


class CookiesInvalid(Permanent):
    """A cookies.txt that cannot be read: the line and what is wrong with it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="cookies_invalid")


@dataclass(frozen=True)
class Cookie:
    domain: str
    """Lower case, without a leading dot."""
    include_subdomains: bool
    path: str
    secure: bool
    expires: int
    """Seconds since the epoch; 0 for a session cookie (never expires here)."""
    name: str
    value: str
    http_only: bool = False

    def matches(self, host: str, path: str, https: bool, now: float) -> bool:
        host = host.lower().rstrip(".")
        if host != self.domain and not (
            self.include_subdomains and host.endswith("." + self.domain)
        ):
            return False
        if self.secure and not https:
            return False
        if self.expires and self.expires <= now:
            return False
        return _path_matches(path or "/", self.path)


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 section 5.1.4."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def in_site(host: str, site: str) -> bool:
    """Whether ``host`` is ``site`` or one of its subdomains: the rule for which
    cookies a session of ``site`` keeps and which hosts it serves."""
    host = host.lower().rstrip(".")
    return host == site or host.endswith("." + site)


def of_site(cookies: tuple[Cookie, ...], site: str) -> tuple[Cookie, ...]:
    """The cookies of ``site`` and its subdomains, in their order (``in_site``)."""
    return tuple(c for c in cookies if in_site(c.domain, site))


def carriable(name: str, value: str) -> bool:
    """Whether a ``Cookie`` header can carry ``name=value`` as it is: printable
    ASCII, no ``;``, no ``=`` in the name, no space at either end of the value."""
    return bool(
        re.fullmatch(r"(?:[!-:<-~](?:[ !-:<-~]*[!-:<-~])?)?", value)
        and re.fullmatch(r"[!-:<>-~]+", name)
    )


def parse_cookies_txt(text: str) -> tuple[Cookie, ...]:
    """The cookies of a Netscape cookies.txt; ``CookiesInvalid`` names the bad line."""
    cookies = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip("\r\n")
        http_only = line.startswith("#HttpOnly_")
        if http_only:
            line = line[len("#HttpOnly_") :]
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise CookiesInvalid(
                f"line {number} of the cookies file has {len(fields)} tab-separated fields, "
                "not 7 (domain, include subdomains, path, secure, expires, name, value): "
                "export the cookies in the Netscape cookies.txt format"
            )
        domain, subdomains, path, secure, expires, name, value = fields
        if not re.fullmatch(r"\.?[A-Za-z0-9.-]+", domain) or not name:
            raise CookiesInvalid(f"line {number} of the cookies file names no domain or cookie")
        if not re.fullmatch(r"-?\d+(\.\d+)?", expires.strip() or "0"):
            raise CookiesInvalid(f"line {number}: expires must be seconds since 1970")
        if not carriable(name, value):
            raise CookiesInvalid(
                f"line {number}: a cookie's name or value has a character a Cookie header "
                "cannot carry (a ;, a space at either end, or a non-ASCII letter): "
                "export the file again"
            )
        cookies.append(
            Cookie(
                domain=domain.lower().lstrip("."),
                include_subdomains=subdomains.upper() == "TRUE" or domain.startswith("."),
                path=path or "/",
                secure=secure.upper() == "TRUE",
                expires=max(0, int(float(expires.strip() or "0"))),
                name=name,
                value=value,
                http_only=http_only,
            )
        )
    if not cookies:
        raise CookiesInvalid("the cookies file holds no cookie")
    return tuple(cookies)


WITHHELD = "withheld-by-warcflow"
"""What a stored record shows in place of a session's cookie values."""

RESPONSE_COOKIE_FIELDS = frozenset({"set-cookie", "set-cookie2", "cookie"})
"""The fields of a response (its header blocks and its trailer section alike)
whose values are withheld: what the server sets, and a ``Cookie`` it echoes."""


@dataclass(frozen=True)
class SessionCookies:
    """A session as a capture uses it: its id (named in stored records), its
    cookies, and the proxy every request made with it goes through (or None)."""

    session_id: str
    cookies: tuple[Cookie, ...]
    proxy: Proxy | None = None

    def header_for(self, url: str, now: datetime | None = None) -> str | None:
        """The ``Cookie`` header value for ``url``, None when no cookie applies."""
        parts = urlsplit(url)
        moment = (now or datetime.now(UTC)).timestamp()
        chosen = [
            c
            for c in self.cookies
            if c.matches(parts.hostname or "", parts.path, parts.scheme == "https", moment)
        ]
        # longer paths first (RFC 6265 section 5.4)
        chosen.sort(key=lambda c: -len(c.path))
        return "; ".join(f"{c.name}={c.value}" for c in chosen) or None

    @property
    def placeholder(self) -> str:
        return f"{WITHHELD} (session {self.session_id})"

    def withheld_request(self, request: bytes) -> bytes:
        """The request bytes with every ``Cookie`` header's value withheld."""
        head, sep, body = request.partition(b"\r\n\r\n")
        return _withhold(head, {b"cookie"}, self.placeholder) + sep + body

    def withheld_response_fields(self, block: bytes) -> bytes:
        """A response's header blocks, or its trailer section, with the value of
        every field of ``RESPONSE_COOKIE_FIELDS`` withheld."""
        names = {name.encode("ascii") for name in RESPONSE_COOKIE_FIELDS}
        return _withhold(block, names, self.placeholder)

    def withheld_parsed(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Parsed response fields (headers, trailers) withheld as the bytes are."""
        return [
            (k, self.placeholder if k.lower() in RESPONSE_COOKIE_FIELDS else v) for k, v in fields
        ]


def _withhold(head: bytes, names: set[bytes], placeholder: str) -> bytes:
    """``head`` with the values of headers ``names`` replaced, each line keeping
    its own ending (CRLF or a bare LF: h11 accepts both)."""
    out: list[bytes] = []
    previous_withheld = False
    for line in head.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        ending = line[len(body) :]
        if body[:1] in (b" ", b"\t") and previous_withheld:
            continue  # an obsolete folded continuation of a withheld header
        name, colon, _value = body.partition(b":")
        previous_withheld = bool(colon) and name.strip().lower() in names
        if previous_withheld:
            line = name + b": " + placeholder.encode("ascii") + ending
        out.append(line)
    return b"".join(out)


_BLOCK_END = re.compile(rb"\r?\n\r?\n")


def final_head_end(start_of_raw: bytes, first_end: int) -> int:
    """Where the final response's header block ends in ``start_of_raw``: past
    any 1xx blocks (103 Early Hints) before it; ``first_end`` is where the first
    block ends."""
    start, end = 0, first_end
    while re.match(rb"HTTP/\d(?:\.\d)? 1\d\d", start_of_raw[start:end]):
        match = _BLOCK_END.search(start_of_raw, end)
        if match is None or not start_of_raw.startswith(b"HTTP/", end):
            break
        start, end = end, match.end()
    return end


_LAST_CHUNK = re.compile(rb"0{1,20}(?:;[^\n]*)?[ \t]*\r")
"""A last-chunk line (size zero, any extension) without its ``\n``, as h11 reads
it: it must end in CRLF, and no trailer field line can look like it (a field
name is a token, which ``;`` is not, and a folded line starts with a space)."""


def trailer_start(tail: bytes, *, from_line_start: bool) -> int | None:
    """Where the trailer section begins in ``tail``, the end of a complete
    chunked message (it ends with the section's blank line): just past the last
    chunk's line, found from the end, since only the section's own lines (CRLF
    or bare LF, as h11 takes them) come after it. None when ``tail`` does not
    reach back to that line; ``from_line_start`` says whether ``tail[0]``
    begins a line (the tail starts right after the head) or may be mid-line."""
    if not tail.endswith(b"\n"):
        return None
    cut = len(tail) - 1  # the ``\n`` ending the line looked at
    while cut >= 0:
        begin = tail.rfind(b"\n", 0, cut) + 1
        if begin == 0 and not from_line_start:
            return None
        if _LAST_CHUNK.fullmatch(tail, begin, cut):
            return cut + 1
        cut = begin - 1
    return None
