"""A session's HTTP proxy, and the CONNECT tunnel the fetcher opens through it.

A session may name a proxy (``warcflow session add … --proxy
http://[user:pass@]host:port``): every request made with that session then
goes through it — the page, its requisites, every request Chromium and yt-dlp
make — as a tunnel (RFC 9110 section 9.3.6, ``CONNECT``) for http and https
alike, so the proxy carries bytes and never sees a TLS session's content.

The SSRF guard keeps its guarantee through the proxy: the fetcher resolves
the target itself and checks every address against the address policy, and
``open_tunnel`` asks the proxy for ``CONNECT <checked-ip>:<port>`` — never a
name the proxy would resolve on its own. The proxy's own address is operator
configuration, not a capture's target: it may be on loopback or a private
network, and the address policy does not apply to it.

``open_tunnel`` reads the proxy's answer itself, bounded in time (the
fetcher's connect timeout) and size (its header limit), and refuses a proxy
that sends a byte past its answer before the client has spoken: such bytes
would otherwise be read as the origin's (over TLS, as if the origin had sent
them). A refusal is an error naming the proxy's ``host:port`` and status:
``ProxyRefused`` (Permanent: 407, the credentials; another 4xx; not a
proxy) or ``ProxyUnavailable`` (Retryable: unreachable, timed out, closed,
5xx, 408, 429), as ``archivers.errors.retryable_status`` decides.

Invariant: the password is in the vault (encrypted) and in the
``Proxy-Authorization`` header sent to the proxy, nowhere else — not in
``repr``, ``shown``, ``address``, an error message or a recorded exchange
(the CONNECT bytes are not part of the exchange with the origin).
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from archivers.errors import ProxyRefused, ProxyUnavailable, retryable_status
from archivers.net.addresses import IPAddress

DEFAULT_PORT = 8080


class ProxyInvalid(ValueError):
    """A proxy URL warcflow does not take: the message says what to give instead."""


@dataclass(frozen=True)
class Proxy:
    host: str
    """A host name or an address literal (IPv6 without brackets)."""
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """``http://[user[:password]@]host[:port]``; percent-escapes in the user
        and password are undone (``p%40ss`` is ``p@ss``)."""
        text = url.strip()
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme != "http":
            # never echo the URL: it may hold the password
            got = scheme + "://" if scheme else "none"
            raise ProxyInvalid(
                f"a proxy URL must start with http:// (got {got}): "
                "give http://[user:password@]host:port; warcflow tunnels https through it "
                "with CONNECT"
            )
        parts = urlsplit(text)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ProxyInvalid("a proxy URL is http://[user:password@]host:port, with no path")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ProxyInvalid("the proxy URL's port is not a number from 1 to 65535") from None
        host = parts.hostname or ""
        if not re.fullmatch(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+", host) or not 0 < port < 65536:
            raise ProxyInvalid("the proxy URL names no host: give http://host:port")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if any(c in (username or "") + (password or "") for c in "\r\n\0"):
            raise ProxyInvalid("the proxy's user or password holds a line break")
        return cls(host.lower(), port, username or None, password)

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 in brackets): what custody records and errors name."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def shown(self) -> str:
        """The URL as ``session list`` shows it: the password replaced by ``***``."""
        if self.username is None and self.password is None:
            return f"http://{self.address}"
        secret = ":***" if self.password is not None else ""
        return f"http://{self.username or ''}{secret}@{self.address}"

    def connect_request(self, target: str) -> bytes:
        """The CONNECT request for ``target`` (``ip:port``), with credentials if any."""
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if self.username is not None or self.password is not None:
            pair = f"{self.username or ''}:{self.password or ''}".encode()
            lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair).decode('ascii')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


async def open_tunnel(
    proxy: Proxy, ip: IPAddress, port: int, *, timeout: float, max_answer: int
) -> socket.socket:
    """A connected socket through which bytes reach ``ip:port``: the proxy
    answered ``CONNECT`` with 2xx. The whole of it — connecting to the proxy,
    asking, reading the answer — takes at most ``timeout`` seconds; an answer
    longer than ``max_answer`` bytes is refused. The caller owns the socket."""
    target = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    try:
        return await asyncio.wait_for(_tunnel(proxy, target, max_answer), timeout)
    except TimeoutError:
        raise ProxyUnavailable(
            f"the proxy {proxy.address} did not open a tunnel to {target} within {timeout:g} s",
            reason="proxy_timeout",
        ) from None


async def _tunnel(proxy: Proxy, target: str, max_answer: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = await _connect(loop, proxy)
    try:
        await loop.sock_sendall(sock, proxy.connect_request(target))
        answer = bytearray()
        while (end := _HEAD_END.search(answer)) is None:
            if len(answer) > max_answer:
                raise ProxyRefused(
                    f"the proxy {proxy.address} answered CONNECT {target} with more than "
                    f"{max_answer} bytes of headers",
                    reason="proxy_protocol_error",
                )
            data = await loop.sock_recv(sock, 4096)
            if not data:
                raise ProxyUnavailable(
                    f"the proxy {proxy.address} closed the connection without answering "
                    f"CONNECT {target}",
                    reason="proxy_closed",
                )
            answer += data
        status = _STATUS_LINE.match(answer)
        if status is None:
            raise ProxyRefused(
                f"{proxy.address} did not answer CONNECT {target} as an HTTP proxy does "
                "(is it an HTTP proxy?)",
                reason="proxy_protocol_error",
            )
        code = int(status.group(1))
        if not 200 <= code < 300:
            raise _refusal(proxy, target, code)
        if end.end() != len(answer):
            raise ProxyRefused(
                f"the proxy {proxy.address} sent bytes past its answer to CONNECT {target} "
                "before the tunnel was used: they would be taken for the origin's",
                reason="proxy_protocol_error",
            )
        return sock
    except (ConnectionError, OSError) as exc:
        sock.close()
        raise ProxyUnavailable(
            f"the connection to the proxy {proxy.address} failed: {exc.strerror or exc}",
            reason="proxy_unreachable",
        ) from None
    except BaseException:
        sock.close()
        raise


async def _connect(loop: asyncio.AbstractEventLoop, proxy: Proxy) -> socket.socket:
    try:
        infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProxyUnavailable(
            f"the proxy's host {proxy.host} does not resolve: {exc.strerror}",
            reason="proxy_unreachable",
        ) from None
    last: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    raise ProxyUnavailable(
        f"cannot connect to the proxy {proxy.address}: "
        f"{(last.strerror or last) if last else 'no address'}",
        reason="proxy_unreachable",
    )


def _refusal(proxy: Proxy, target: str, code: int) -> ProxyRefused | ProxyUnavailable:
    said = f"the proxy {proxy.address} answered {code} to CONNECT {target}"
    if code == 407:
        return ProxyRefused(
            f"{said}: the proxy refused the credentials (remove the session and add it "
            "again with the proxy's right user and password in --proxy)",
            reason="proxy_auth_refused",
        )
    if retryable_status(code):
        return ProxyUnavailable(said, reason=f"proxy_http_{code}")
    return ProxyRefused(said, reason=f"proxy_http_{code}")
