"""The recording HTTP/1.1 fetcher: safe by default, exact bytes kept.

For each request the fetcher
1. validates the URL (http/https only, see ``archivers.urls``);
2. resolves the host once and checks every address against the address policy;
3. connects to a checked address (the address is pinned: no second lookup),
   with TLS and SNI for the original host name — directly, or, for a session
   with a proxy, through a ``CONNECT <checked-ip>:<port>`` tunnel of that
   proxy (``archivers.net.proxy``; ``_connect`` is the one place deciding);
4. sends a request it serialised itself (those exact bytes become the WARC
   request record) and records every response byte as received (the WARC
   response record), parsing the framing with h11;
5. enforces limits: connect and read timeouts, a total deadline, header size
   and response size. A response cut by the size limit is kept and marked
   truncated rather than dropped, as WARC's ``WARC-Truncated`` allows.

Every request holds a connection slot of the fetcher's ``HostGate`` (a global
bound, a per-host bound and a per-host delay between request starts, see
``archivers.politeness``) while its connection is open; yt-dlp's handler,
which runs each request on an event loop of its own thread, bounds itself.
A host that answered 429 (or 503 with ``Retry-After``) is on hold
(``archivers.net.holds``): every later request to it, gated or not, waits for
the hold's end if it is near and is otherwise not sent (``HostHeld``).

Redirects are followed by ``fetch_chain``; every hop goes through steps 1–5
again, so a redirect to a private address is refused like a direct request.
One connection per request (``Connection: close``): simple, and no response
bytes can belong to a neighbour.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import h11

from archivers.clock import utc_now
from archivers.errors import (
    CaptureError,
    FetchUnavailable,
    HTTPRefused,
    InvalidURL,
    LimitExceeded,
    PolicyRefused,
    ProxyRefused,
    ProxyUnavailable,
)
from archivers.net.addresses import AddressPolicy, AllowRule, literal_address
from archivers.net.cookies import WITHHELD, SessionCookies, final_head_end, trailer_start
from archivers.net.holds import HoldSettings, HostHolds
from archivers.net.politeness import HostGate, PolitenessSettings
from archivers.net.proxy import Proxy, open_tunnel
from archivers.net.recording import Exchange, RecordedResponse, address
from archivers.net.resolver import Resolver, SystemResolver
from archivers.net.tlsinfo import TLSInfo
from archivers.urls import canonical_url, validate_url

DEFAULT_USER_AGENT = "Mozilla/5.0 (compatible; warcflow/0.1; evidence archiving)"
READ_SIZE = 64 * 1024
"""Most bytes taken off a connection at once."""


@dataclass(frozen=True)
class FetchSettings:
    """Limits and policy of the fetcher. Times in seconds, sizes in bytes."""

    allow: tuple[AllowRule, ...] = ()
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 120.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_redirects: int = 10
    max_requisites: int = 150
    requisite_concurrency: int = 6
    user_agent: str = DEFAULT_USER_AGENT
    verify_tls: bool = True
    ca_file: str | None = None
    """A PEM file of CA certificates trusted besides the system's (a private CA, tests)."""
    politeness: PolitenessSettings = field(default_factory=PolitenessSettings)
    """Connection bounds of the fetcher's requests (``archivers.politeness``)."""
    holds: HoldSettings = field(default_factory=HoldSettings)
    """How long a host that answered 429 is left alone (``archivers.net.holds``)."""


class Fetcher:
    """Safe recording fetcher (see module docstring). Stateless between requests."""

    def __init__(
        self,
        settings: FetchSettings,
        resolver: Resolver | None = None,
        clock: Callable[[], datetime] = utc_now,
        holds: HostHolds | None = None,
        gate: HostGate | None = None,
    ) -> None:
        self.settings = settings
        self.holds = holds or HostHolds(settings.holds, clock)
        """Hosts that asked to be left alone (``archivers.net.holds``), shared by
        every fetcher of the worker process and, through the hosts topic, the cluster."""
        self.policy = AddressPolicy(settings.allow)
        self.resolver = resolver or SystemResolver()
        self.clock = clock
        self.gate = gate or HostGate(settings.politeness)
        """Connection slots per host; shared by every fetcher of a worker process
        (page, media, recheck, watch: ``warcflow.wiring``), so the per-host budget
        is the process's, whichever stage asks."""
        self._tls = ssl.create_default_context()
        if settings.ca_file:
            self._tls.load_verify_locations(cafile=settings.ca_file)
        if not settings.verify_tls:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE
        self._tls.set_alpn_protocols(["http/1.1"])

    async def fetch(
        self, url: str, *, referer: str | None = None, session: SessionCookies | None = None
    ) -> Exchange:
        """GET ``url`` as a browser would (default headers), no redirects followed."""
        return await self.request(url, headers=self._default_headers(referer), session=session)

    async def request(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        gated: bool = True,
        session: SessionCookies | None = None,
    ) -> Exchange:
        """One request with the caller's headers (``Host`` and ``Connection: close``
        are set here). Raises CaptureError subclasses; never follows redirects.

        ``gated=False`` skips the connection gate, for callers that run requests
        on event loops of their own threads (yt-dlp's handler) and bound themselves.

        With a ``session``, its cookies for the URL are the ``Cookie`` header (in
        place of the caller's), and the exchange returned has every ``Cookie`` and
        ``Set-Cookie`` value withheld (``archivers.net.cookies``): the real values
        went over the wire and are kept nowhere. A session with a ``proxy`` has
        the connection tunnelled through it; the exchange is still the one with
        the origin (``ip``: the checked address), its ``proxy`` naming the proxy.
        """
        url = canonical_url(url)
        parts = validate_url(url)
        if session is not None:
            headers = _with_session_cookie(headers or [], session.header_for(url))
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self.holds.wait(host.lower())  # HostHeld when its host asked for a long wait
        addresses = await self.resolver.resolve(host, port)
        if not addresses:
            raise FetchUnavailable(f"no address for {host}", reason="dns_failure")
        for ip in addresses:
            self.policy.check(host, ip, port)
        proxy = session.proxy if session is not None else None
        try:
            if not gated:
                exchange = await self._exchange(
                    url, parts, host, port, addresses, method, headers, body, proxy
                )
            else:
                exchange = await self._gated_exchange(
                    url, parts, host, port, addresses, method, headers, body, proxy
                )
        except CaptureError as exc:
            # a proxy's refusal is told in words made here (its host:port, a status)
            if session is None or isinstance(exc, (ProxyRefused, ProxyUnavailable)):
                raise
            # an error's text may quote the bytes it choked on (h11 quotes a bad
            # header line): under a session it names the kind of error only
            raise type(exc)(
                f"{url}: {exc.reason.replace('_', ' ')} (details withheld: session "
                f"{session.session_id})",
                reason=exc.reason,
            ) from None
        self.holds.note(host.lower(), exchange.response.status, exchange.response.headers)
        if session is not None:
            _withhold(exchange, session, self.settings.max_header_bytes)
        return exchange

    async def _gated_exchange(self, url, parts, host, port, addresses, *rest) -> Exchange:
        """``_exchange`` in a slot of the gate, and not while ``host`` is on hold: a
        hold that began while this request queued for its slot (the answer of the
        request ahead of it) is waited out — or deferred — outside the slot."""
        while True:
            async with self.gate.slot(host.lower()):
                if self.holds.current(host.lower()) is None:
                    return await self._exchange(url, parts, host, port, addresses, *rest)
            await self.holds.wait(host.lower())

    async def _exchange(
        self, url, parts, host, port, addresses, method, headers, body, proxy
    ) -> Exchange:
        deadline = time.monotonic() + self.settings.total_timeout
        reader, writer, ip = await self._connect(parts.scheme, host, port, addresses, proxy)
        try:
            local_address, tls = _connection_facts(writer, host)
            conn = h11.Connection(
                our_role=h11.CLIENT, max_incomplete_event_size=self.settings.max_header_bytes
            )
            request = self._request_bytes(conn, parts, method, headers or [], body)
            started_at = self.clock()
            t0 = time.monotonic()
            writer.write(request)
            await writer.drain()
            response, limits = await self._read_response(conn, reader, deadline)
            return Exchange(
                url,
                str(ip),
                port,
                started_at,
                request,
                response,
                time.monotonic() - t0,
                limits,
                method=method,
                local_address=local_address,
                tls=tls,
                proxy=proxy.address if proxy is not None else None,
            )
        except (ConnectionError, OSError) as exc:
            raise FetchUnavailable(
                f"connection to {host} failed: {exc}", reason="connection_error"
            ) from None
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
                pass

    async def fetch_chain(
        self, url: str, *, referer: str | None = None, session: SessionCookies | None = None
    ) -> list[Exchange]:
        """Follow redirects up to ``max_redirects``; every hop is checked and kept.

        The last exchange is the final response. A redirect limit hit leaves
        the chain ending on a redirect, with ``limits_hit`` saying so.
        """
        chain: list[Exchange] = []
        current = url
        while True:
            exchange = await self.fetch(current, referer=referer, session=session)
            chain.append(exchange)
            target = exchange.redirect_target()
            if target is None:
                return chain
            if len(chain) > self.settings.max_redirects:
                exchange.limits_hit.append(f"max_redirects={self.settings.max_redirects}")
                return chain
            try:
                validate_url(target)
            except InvalidURL as exc:
                raise PolicyRefused(
                    f"redirect from {current} to a URL that is refused: {exc}",
                    reason="redirect_refused",
                ) from None
            current = target

    async def _connect(self, scheme, host, port, addresses, proxy: Proxy | None):
        """A connection to the first checked address that answers: directly, or
        through ``proxy``'s tunnel to that address (never to a name the proxy
        would resolve). The one place that decides how a connection is made.
        Through a proxy, opening the tunnel and the TLS handshake have
        ``connect_timeout`` each; a proxy's refusal (407 …) is not tried again
        on the next address, its trouble (unreachable, 5xx) is, as a failed
        direct connection is."""
        server_hostname = host if _is_name(host) else None
        tls: dict[str, Any] = {
            "ssl": self._tls if scheme == "https" else None,
            "server_hostname": server_hostname if scheme == "https" else None,
            "limit": self.settings.max_header_bytes,
        }
        via = f" through the proxy {proxy.address}" if proxy is not None else ""
        last_error: Exception | None = None
        for ip in addresses:
            try:
                if proxy is None:
                    opening = asyncio.open_connection(str(ip), port, **tls)
                else:
                    sock = await open_tunnel(
                        proxy,
                        ip,
                        port,
                        timeout=self.settings.connect_timeout,
                        max_answer=self.settings.max_header_bytes,
                    )
                    opening = _over(sock, tls)
                reader, writer = await asyncio.wait_for(opening, self.settings.connect_timeout)
                return reader, writer, ip
            except ProxyUnavailable as exc:
                last_error = exc
            except TimeoutError:
                last_error = FetchUnavailable(
                    f"connecting to {host} ({ip}){via} timed out after "
                    f"{self.settings.connect_timeout:g} s",
                    reason="connect_timeout",
                )
            except ssl.SSLCertVerificationError as exc:
                raise HTTPRefused(
                    f"TLS certificate of {host} does not verify: {exc.verify_message}",
                    reason="tls_certificate",
                ) from None
            except (ConnectionError, OSError) as exc:
                last_error = FetchUnavailable(
                    f"cannot connect to {host} ({ip}){via}: {exc}", reason="connection_error"
                )
        assert last_error is not None
        raise last_error

    def _default_headers(self, referer: str | None) -> list[tuple[str, str]]:
        headers = [
            ("User-Agent", self.settings.user_agent),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept-Language", "en-US,en;q=0.8,*;q=0.5"),
        ]
        if referer:
            headers.append(("Referer", referer))
        return headers

    def _request_bytes(
        self, conn: h11.Connection, parts, method: str, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hop_by_hop = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}
        all_headers = [("Host", parts.netloc)]
        all_headers += [(k, v) for k, v in headers if k.lower() not in hop_by_hop]
        if body or method in ("POST", "PUT", "PATCH"):
            all_headers.append(("Content-Length", str(len(body))))
        all_headers.append(("Connection", "close"))
        try:
            data = conn.send(h11.Request(method=method, target=target, headers=all_headers))
        except h11.LocalProtocolError:
            # a header h11 refuses to send (a line break, a bad name): never quoted,
            # it may be a session's cookie
            raise HTTPRefused(
                "a request header is not valid HTTP (not sent)", reason="invalid_request_header"
            ) from None
        if body:
            data += conn.send(h11.Data(data=body))
        return data + conn.send(h11.EndOfMessage())

    async def _read_response(
        self, conn: h11.Connection, reader: asyncio.StreamReader, deadline: float
    ):
        settings = self.settings
        response = RecordedResponse()
        limits: list[str] = []
        try:
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    if response.status:
                        response.truncated = "disconnect"
                        limits.append(f"incomplete response: {exc}")
                        break
                    if "exceeded" in str(exc) or "too long" in str(exc):
                        raise LimitExceeded(
                            f"response headers exceed {settings.max_header_bytes} bytes",
                            reason="header_too_large",
                        ) from None
                    raise FetchUnavailable(
                        f"malformed HTTP response: {exc}", reason="http_protocol_error"
                    ) from None
                if event is h11.NEED_DATA:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    data = await asyncio.wait_for(
                        reader.read(READ_SIZE), min(settings.read_timeout, remaining)
                    )
                    if response.raw.size + len(data) > settings.max_response_bytes:
                        data = data[: settings.max_response_bytes - response.raw.size]
                        response.feed_raw(data)
                        response.truncated = "length"
                        limits.append(f"max_response_bytes={settings.max_response_bytes}")
                        break
                    response.feed_raw(data)
                    head = (
                        response.header_size
                        if response.header_size is not None
                        else response.raw.size
                    )
                    if not response.status and head > settings.max_header_bytes:
                        # h11 only checks an event still incomplete; a header block
                        # that arrives whole in big reads must be measured here
                        response.close()
                        raise LimitExceeded(
                            f"response headers exceed {settings.max_header_bytes} bytes",
                            reason="header_too_large",
                        )
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    response.status = event.status_code
                    response.reason = event.reason.decode("latin-1")
                    response.http_version = event.http_version.decode("ascii")
                    response.headers = [
                        (k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in event.headers.raw_items()
                    ]
                    response.chunked = (
                        "chunked" in (response.header("transfer-encoding") or "").lower()
                    )
                elif isinstance(event, h11.Data):
                    if response.chunked:
                        response.entity.write(bytes(event.data))
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    if isinstance(event, h11.EndOfMessage):
                        response.trailers = [
                            (k.decode("latin-1"), v.decode("latin-1"))
                            for k, v in event.headers.raw_items()
                        ]
                    trailing, _closed = conn.trailing_data
                    response.drop_tail(len(trailing))
                    break
        except TimeoutError:
            if not response.status:
                response.close()
                raise FetchUnavailable(
                    "the server did not answer in time", reason="read_timeout"
                ) from None
            response.truncated = "time"
            limits.append("timeout while reading the body")
        if response.header_size is None:
            response.close()
            raise FetchUnavailable(
                "the server closed the connection without a response", reason="empty_response"
            )
        return response, limits


def _with_session_cookie(
    headers: list[tuple[str, str]], cookie: str | None
) -> list[tuple[str, str]]:
    """The caller's headers with one ``Cookie``: the session's cookies, then those
    the caller's own jar (Chromium's, yt-dlp's) holds under other names — minus
    any that carry a withheld placeholder (what a withheld ``Set-Cookie`` left)."""
    ours = cookie.split("; ") if cookie else []
    names = {pair.split("=", 1)[0] for pair in ours}
    theirs = [
        pair.strip()
        for k, v in headers
        if k.lower() == "cookie"
        for pair in v.split(";")
        if "=" in pair and pair.split("=", 1)[0].strip() not in names and WITHHELD not in pair
    ]
    merged = "; ".join([*ours, *theirs])
    kept = [(k, v) for k, v in headers if k.lower() != "cookie"]
    return [*kept, ("Cookie", merged)] if merged else kept


def _withhold(exchange: Exchange, session: SessionCookies, max_header_bytes: int) -> None:
    """Withhold the session's cookie values from what the exchange keeps: the
    request's ``Cookie``, the response's header blocks and its trailer section."""
    exchange.request_bytes = session.withheld_request(exchange.request_bytes)
    response = exchange.response
    if not response.header_size:
        return
    # every header block up to the final one (a 103 Early Hints can carry
    # Set-Cookie too, and h11 accepts bare-LF line ends)
    end = final_head_end(response.raw.read_range(0, 4 * 64 * 1024), response.header_size)
    head = response.raw.read_range(0, end)
    withheld = session.withheld_response_fields(head)
    if withheld != head:
        response.replace_head(withheld, session.withheld_parsed(response.headers), end)
    if response.trailers and session.withheld_parsed(response.trailers) != response.trailers:
        _withhold_trailer(response, session, max_header_bytes)


def _withhold_trailer(
    response: RecordedResponse, session: SessionCookies, max_header_bytes: int
) -> None:
    """Withhold the cookie fields of a complete chunked response's trailer
    section, the end of its raw bytes. h11 bounds the last chunk's line and the
    section as it bounds a head (``max_header_bytes`` plus what one read
    brought), so only that much of the end is read, never the body."""
    assert response.header_size is not None
    reach = 2 * (max_header_bytes + READ_SIZE)
    begin = max(response.header_size, response.raw.size - reach)
    tail = response.raw.read_range(begin, response.raw.size - begin)
    start = trailer_start(tail, from_line_start=begin == response.header_size)
    if start is None:
        # h11 parsed this section, so it is there: refuse rather than keep it
        response.close()
        raise LimitExceeded(
            f"the response's trailer section exceeds {max_header_bytes} bytes",
            reason="header_too_large",
        )
    section = tail[start:]
    response.replace_trailer(
        session.withheld_response_fields(section),
        session.withheld_parsed(response.trailers),
        begin + start,
    )


async def _over(sock, options):
    """Streams over the tunnel ``sock`` (TLS per ``options``), closing ``sock`` if
    that fails."""
    try:
        return await asyncio.open_connection(sock=sock, **options)
    except BaseException:
        sock.close()
        raise


def _is_name(host: str) -> bool:
    return literal_address(host) is None


def _connection_facts(writer: asyncio.StreamWriter, host: str) -> tuple[str | None, TLSInfo | None]:
    """(local ``ip:port``, TLS facts) of the connection just opened: read from
    the very socket and TLS object that will carry the request."""
    sockname = writer.get_extra_info("sockname")
    local = address(str(sockname[0]), int(sockname[1])) if sockname else None
    sslobj = writer.get_extra_info("ssl_object")
    tls = TLSInfo.from_ssl_object(sslobj, host if _is_name(host) else None) if sslobj else None
    return local, tls
