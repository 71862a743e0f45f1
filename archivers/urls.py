"""URL validation, canonical form and SURT key.

Three forms of a URL travel through warcflow:

- the URL as submitted: kept verbatim in the request and the WARC metadata;
- ``canonical_url``: what is fetched. Scheme and host lower-cased (IDNA to ASCII),
  default port and fragment dropped, dot segments removed, percent-escapes
  normalised. Path and query keep their case: post ids on social platforms are
  case-sensitive (``youtube.com/watch?v=AbC`` is not ``?v=abc``);
- ``surt``: the grouping key (Kafka message key, S3 manifest prefix). Host
  labels reversed, a leading ``www`` dropped, scheme dropped, query arguments
  sorted. ``http://www.Example.com/a?b=1&a=2`` → ``com,example)/a?a=2&b=1``.

And ``site_of``: the registrable domain of the host (``www.x.com`` and
``mobile.x.com`` → ``x.com``), which one worker owns (``streams.keys``).

Invariant: ``surt(canonical_url(u)) == surt(u)`` and both are idempotent.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from archivers.errors import InvalidURL

MAX_URL_LENGTH = 2048
"""Longest URL accepted, in characters (the sitemap protocol's limit)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Underscores are not valid in host names but do occur in the wild; accept them.
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def validate_url(url: str) -> SplitResult:
    """Return the split URL or raise ``InvalidURL`` saying what is wrong.

    Accepted: absolute ``http``/``https`` URLs with a host, at most
    ``MAX_URL_LENGTH`` characters, no whitespace or control characters, no
    user name or password. Surrounding whitespace is not accepted either; the
    callers strip input lines themselves.
    """
    if not isinstance(url, str) or not url:
        raise InvalidURL("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    bad = next((c for c in url if c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise InvalidURL(f"URL contains whitespace or a control character ({bad!r})")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"URL does not parse: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise InvalidURL(f"only http and https URLs can be captured, not {shown}")
    if "@" in parts.netloc:
        raise InvalidURL("URL carries a user name or password; remove the credentials")
    if not parts.hostname:
        raise InvalidURL("URL has no host")
    if port == 0:
        raise InvalidURL("URL has port 0")
    _ascii_host(parts.hostname)
    return parts


def _ascii_host(host: str) -> str:
    """Lower-cased ASCII form of a host name or IP literal; ``InvalidURL`` if malformed."""
    host = host.lower()
    try:
        return str(ipaddress.ip_address(host)) if ":" in host else _dns_host(host)
    except ValueError:
        raise InvalidURL(f"host {host!r} is not a valid IPv6 address") from None


def _dns_host(host: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise InvalidURL(f"host {host!r} is not a valid internationalised domain name") from None
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidURL(f"host {host!r} is not a valid host name")
    return ascii_host


def _normalise_escapes(text: str, safe: str) -> str:
    """Upper-case percent-escapes, decode unreserved ones, escape what must be.

    ``safe`` lists the reserved characters kept literally in this component.
    """

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    text = _PCT.sub(fix, text)
    out = []
    for i, char in enumerate(text):
        if char in _UNRESERVED or char in safe:
            out.append(char)
        elif char == "%" and _PCT.match(text, i):
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8"))
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    trailing = path.endswith(("/.", "/..")) and output != []
    return "/" + "/".join(output) + ("/" if trailing else "")


def canonical_url(url: str) -> str:
    """The form of ``url`` that is fetched (see the module docstring)."""
    parts = validate_url(url)
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname or "")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != _DEFAULT_PORTS[scheme]:
        netloc += f":{parts.port}"
    path = _remove_dot_segments(_normalise_escapes(parts.path or "/", "/:@!$&'()*+,;="))
    query = _normalise_escapes(parts.query, "/?:@!$&'()*+,;=")
    return urlunsplit((scheme, netloc, path, query, ""))


def surt(url: str) -> str:
    """SURT key of ``url``: the grouping key of its captures (see module docstring)."""
    parts = urlsplit(canonical_url(url))
    host = parts.hostname or ""
    if ":" in host or _is_ipv4(host):
        host_key = host
    else:
        labels = host.rstrip(".").split(".")
        if len(labels) > 2 and labels[0] == "www":
            labels = labels[1:]
        host_key = ",".join(reversed(labels))
    if parts.port is not None:
        host_key += f":{parts.port}"
    key = f"{host_key})" + parts.path
    if parts.query:
        key += "?" + "&".join(sorted(parts.query.split("&")))
    return key


@functools.cache
def _suffixes():
    import tldextract

    # the Public Suffix List snapshot the package ships: never fetched
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def site_of(url: str) -> str:
    """The site of ``url``: its host's registrable domain (eTLD+1 by the Public
    Suffix List's ICANN section), lower-case; the host itself for an IP
    address or a name under no public suffix (``localhost``); "" without a host."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        host = _ascii_host(host)
    except InvalidURL:
        return host.lower()
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    found = _suffixes()(host)
    return found.top_domain_under_public_suffix or host


def url_hash(url: str) -> str:
    """32 hex digits naming the URL's manifest folder: SHA-256 of its SURT, truncated."""
    return hashlib.sha256(surt(url).encode("utf-8")).hexdigest()[:32]


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False
