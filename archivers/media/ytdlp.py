"""yt-dlp, fenced in: every HTTP request it makes goes through warcflow's fetcher.

``FencedYoutubeDL`` replaces yt-dlp's request handlers (urllib, requests,
curl_cffi, websockets) with one, ``WarcflowRH``, which sends each request with
``archivers.fetcher.Fetcher``. So yt-dlp's traffic — extractor API calls,
manifests, HLS/DASH segments, progressive downloads — obeys the same address
policy as pages (resolved once, checked, pinned; every redirect re-checked),
the same size and time limits, and is recorded byte for byte: the exchanges
end up as request/response records in the media capture's WARC, so the
original page's player replays.

Other ways out are closed: downloads use yt-dlp's native downloaders only (no
ffmpeg or aria2c fetching URLs; ffmpeg only ever sees local files), no netrc,
no ``exec`` post-processor, no cache directory, no plugins' handlers.
"""

from __future__ import annotations

import asyncio
import functools
import io
import threading
import urllib.request
from email.message import Message
from yt_dlp import YoutubeDL
from yt_dlp.networking.common import RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError, TransportError

from archivers.errors import CaptureError, LimitExceeded, Permanent
from archivers.net.fetcher import Exchange, Fetcher
from archivers.net.recording import DecodingReader
from archivers.urls import validate_url


class Recorder:
    """Collects what the fenced yt-dlp did: exchanges, and refusals by the fetcher.

    ``max_bytes`` caps the bytes of all responses together (an HLS stream is
    many small responses; the per-response limit alone would not bound it).
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.exchanges: list[Exchange] = []
        self.refusals: list[CaptureError] = []
        self.max_bytes = max_bytes
        self.total = 0
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> None:
        """Keep ``exchange``; LimitExceeded once the byte budget is spent."""
        with self._lock:
            self.exchanges.append(exchange)
            self.total += exchange.response.raw.size
            over = self.max_bytes is not None and self.total > self.max_bytes
        if over:
            error = LimitExceeded(f"the media's responses exceed {self.max_bytes} bytes",
                                  reason="media_too_large")
            self.refuse(error)
            raise error

    def refuse(self, error: CaptureError) -> None:
        with self._lock:
            self.refusals.append(error)

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.close()


class _CookieResponse:
    """Just enough of an ``http.client`` response for ``CookieJar.extract_cookies``."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._message = Message()
        for name, value in headers:
            self._message[name] = value

    def info(self) -> Message:
        return self._message


class WarcflowRH(RequestHandler):
    """yt-dlp request handler sending through ``Fetcher`` and recording every exchange."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()

    fetcher: Fetcher
    recorder: Recorder

    def _check_extensions(self, extensions):
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing", "impersonate"):
            extensions.pop(name, None)

    def _send(self, request):
        data = request.data
        if data is None:
            body = b""
        elif isinstance(data, bytes):
            body = data
        elif hasattr(data, "read"):
            body = data.read()
        else:
            body = b"".join(data)
        method = (request.method or ("POST" if body else "GET")).upper()
        url = request.url
        headers = self._get_headers(request)
        headers.setdefault("Accept-Encoding", "gzip, deflate")
        jar = self._get_cookiejar(request)
        for _hop in range(self.fetcher.settings.max_redirects + 1):
            probe = urllib.request.Request(url, method=method)
            jar.add_cookie_header(probe)
            sent = {k: v for k, v in headers.items() if k.lower() != "cookie"}
            if probe.get_header("Cookie"):
                sent["Cookie"] = probe.get_header("Cookie")
            try:
                # a loop of this thread's own: the worker's connection gate
                # belongs to the worker's loop (media concurrency bounds these)
                exchange = asyncio.run(self.fetcher.request(
                    url, method=method, headers=list(sent.items()), body=body, gated=False))
            except Permanent as exc:
                self.recorder.refuse(exc)
                raise RequestError(f"warcflow refused {url}: {exc}") from None
            except CaptureError as exc:
                raise TransportError(f"{url}: {exc}") from None
            try:
                self.recorder.add(exchange)
            except LimitExceeded as exc:
                raise RequestError(str(exc)) from None
            jar.extract_cookies(_CookieResponse(exchange.response.headers),
                                urllib.request.Request(url, method=method))
            if exchange.response.truncated:
                error = LimitExceeded(f"{url}: response cut at the media size limit",
                                      reason="media_too_large")
                self.recorder.refuse(error)
                raise RequestError(str(error))
            target = exchange.redirect_target()
            if target is None:
                break
            try:
                validate_url(target)
            except CaptureError as exc:
                self.recorder.refuse(exc)
                raise RequestError(f"redirect to a refused URL: {exc}") from None
            if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                method, body = "GET", b""
            url = target
        else:
            raise HTTPError(self._response(exchange, url), redirect_loop=True)
        response = self._response(exchange, url)
        if not 200 <= exchange.status < 300:
            raise HTTPError(response)
        return response

    @staticmethod
    def _response(exchange: Exchange, url: str) -> Response:
        recorded = exchange.response
        encoding = recorded.header("content-encoding") or ""
        headers: dict[str, str] = {}
        for name, value in recorded.headers:
            if encoding and name.lower() in ("content-encoding", "content-length"):
                continue  # the body handed to yt-dlp is decoded
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        fp = io.BufferedReader(DecodingReader(recorded.body_chunks(), encoding))
        return Response(fp, url, headers, status=exchange.status, reason=recorded.reason or None)


class FencedYoutubeDL(YoutubeDL):
    """A YoutubeDL whose only request handler is ``WarcflowRH``."""

    def __init__(self, params: dict, *, fetcher: Fetcher, recorder: Recorder) -> None:
        self._warcflow = (fetcher, recorder)
        super().__init__(params)

    @functools.cached_property
    def _request_director(self):
        director = self.build_request_director([WarcflowRH])
        handler = director.handlers[WarcflowRH.RH_KEY]
        handler.fetcher, handler.recorder = self._warcflow
        return director

