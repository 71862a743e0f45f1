"""A local test site: a social-media-like post with requisites, on 127.0.0.1.

Served by a real HTTP server in a thread so the fetcher talks real HTTP. Pages
can be changed or deleted while it runs (the original poster deleting a post),
and every request is counted so tests can assert what was (not) fetched.
"""

from __future__ import annotations

import gzip
import mimetypes
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour, made here so no binary fixture is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


POST_TEXT = "Mobilized soldiers protest about conditions at a training ground near Kazan"

POST_HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Post 1</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/app.js"></script></head>
<body><article class="post"><p>{POST_TEXT}</p>
<img src="/static/photo.png" alt="photo"></article></body></html>
"""


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False
    trailers: bytes = b""  # a chunked answer's trailer section, its blank line included
    gzip: bool = False
    fail_first: int = 0  # answer 503 this many times before the real answer
    file: Path | None = None  # stream this file instead of ``body`` (large media)
    drip: float = 0.0  # seconds between 100-byte pieces of the body (a slow-drip server)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections under a concurrent crawl
    tls: ssl.SSLContext | None = None
    handshakes = 0
    lock: threading.Lock

    def finish_request(self, request, client_address):
        if self.tls is not None:
            # the handshake in the connection's own thread, counted: a test can
            # tell how many TLS connections a capture opened
            request = self.tls.wrap_socket(request, server_side=True)
            with self.lock:
                self.handshakes += 1
        super().finish_request(request, client_address)


class TestSite:
    """``with TestSite() as site: site.url("/post/1")``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.delay = delay  # seconds added before every answer (a distant server's latency)
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.clients: list[tuple[str, str]] = []  # (path, client ip:port) of every request
        self.in_flight: dict[str, int] = {}  # requests of a path being answered now
        self.most_at_once: dict[str, int] = {}  # the most of them at one moment
        self.answering = 0  # requests being answered now, whatever their path
        self.most_answering = 0  # the most at one moment: what a platform's limit sees
        self.cookies_seen: list[tuple[str, str]] = []  # (path, Cookie header) of every request
        self.gate: Callable[[str, str], Route | None] | None = None
        """Asked (path, Cookie header) before the routes: a Route it returns is the
        answer (a platform's login wall, tests/support/platform.py)."""
        self.forms: dict[str, Callable[[bytes], Route]] = {}
        """POST handlers by path: given the request body, the answer (a login form)."""
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._handler())
        self._server.tls = tls
        self._server.lock = self._lock
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self.add_default_routes()

    @property
    def origin(self) -> str:
        return f"{'https' if self._server.tls else 'http'}://{self.host}:{self.port}"

    @property
    def handshakes(self) -> int:
        """TLS handshakes the server completed (one per connection)."""
        with self._lock:
            return self._server.handshakes

    @property
    def allow(self) -> str:
        """The WARCFLOW_FETCH_ALLOW entry that lets the fetcher reach this site."""
        return f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def add_default_routes(self) -> None:
        self.routes.update(
            {
                "/post/1": Route(POST_HTML.encode()),
                "/static/site.css": Route(
                    b"body { background: url(/static/bg.png) }\n", content_type="text/css"
                ),
                "/static/app.js": Route(
                    b"console.log('post');\n", content_type="application/javascript"
                ),
                "/static/photo.png": Route(png(32, 24, (200, 40, 40)), content_type="image/png"),
                "/static/bg.png": Route(png(8, 8, (240, 240, 240)), content_type="image/png"),
                "/redirect/1": Route(b"", status=302, headers=[("Location", "/post/1")]),
                "/gone": Route(b"<p>This post is unavailable</p>", status=404),
                "/chunked": Route(POST_HTML.encode(), chunked=True),
                "/gzip": Route(POST_HTML.encode(), gzip=True),
            }
        )

    def serve_dir(self, prefix: str, directory: Path) -> None:
        """Serve every file under ``directory`` at ``prefix`` + its relative path."""
        types = {
            ".m3u8": "application/vnd.apple.mpegurl",
            ".mpd": "application/dash+xml",
            ".ts": "video/mp2t",
            ".m4s": "video/iso.segment",
            ".mkv": "video/x-matroska",
            ".webm": "video/webm",
            ".mp4": "video/mp4",
        }
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                kind = types.get(path.suffix) or mimetypes.guess_type(path.name)[0]
                self.routes[prefix + path.relative_to(directory).as_posix()] = Route(
                    file=path, content_type=kind or "application/octet-stream"
                )

    def delete(self, path: str) -> None:
        """The poster deletes the post: from now on the path answers 404."""
        with self._lock:
            self.routes[path] = Route(b"<p>This post is unavailable</p>", status=404)

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def reset_most(self) -> None:
        """Start measuring ``most_answering`` and ``most_at_once`` afresh: from now
        on they are the most at one moment since this call (requests being answered
        now still count)."""
        with self._lock:
            self.most_answering = self.answering
            self.most_at_once = {path: n for path, n in self.in_flight.items() if n}

    def _handler(site):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are written separately: without TCP_NODELAY, a
            # keep-alive client waits ~40 ms a response for Nagle + delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                with site._lock:
                    now = site.in_flight[path] = site.in_flight.get(path, 0) + 1
                    site.most_at_once[path] = max(site.most_at_once.get(path, 0), now)
                    site.answering += 1
                    site.most_answering = max(site.most_answering, site.answering)
                try:
                    if site.delay:
                        time.sleep(site.delay)  # the test server's latency, not synchronisation
                finally:
                    # counted until the answer starts: its client cannot send another
                    # request on this budget before it has read this one's answer
                    with site._lock:
                        site.answering -= 1
                try:
                    self._answer(path)
                finally:
                    with site._lock:
                        site.in_flight[path] -= 1

            def do_POST(self):
                path = self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 64 * 1024))
                with site._lock:
                    site.hits[path] = site.hits.get(path, 0) + 1
                    site.clients.append((path, "{}:{}".format(*self.client_address[:2])))
                    form = site.forms.get(path)
                route = form(body) if form is not None else None
                route = route or Route(b"not found", status=404, content_type="text/plain")
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                for name, value in route.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def _answer(self, path):
                with site._lock:
                    site.hits[path] = site.hits.get(path, 0) + 1
                    site.clients.append((path, "{}:{}".format(*self.client_address[:2])))
                    cookie = self.headers.get("Cookie") or ""
                    if cookie:
                        site.cookies_seen.append((path, cookie))
                    gated = site.gate(path, cookie) if site.gate is not None else None
                    route = gated or site.routes.get(path)
                    failing = route is not None and route.fail_first > 0
                    if failing and route is not None:
                        route.fail_first -= 1
                if route is None:
                    route = Route(b"not found", status=404, content_type="text/plain")
                if failing:
                    route = Route(b"try later", status=503, content_type="text/plain")
                if route.file is not None:
                    self._send_file(route)
                    return
                body = gzip.compress(route.body) if route.gzip else route.body
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                for name, value in route.headers:
                    self.send_header(name, value)
                if route.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 100):
                        part = body[start : start + 100]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n" + (route.trailers or b"\r\n"))
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if route.drip:
                        for start in range(0, len(body), 100):
                            try:
                                self.wfile.write(body[start : start + 100])
                                self.wfile.flush()
                            except (BrokenPipeError, ConnectionResetError):
                                return
                            time.sleep(route.drip)  # the server is slow on purpose
                    else:
                        self.wfile.write(body)

            def _send_file(self, route):
                size = route.file.stat().st_size
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with open(route.file, "rb") as handle:
                    while chunk := handle.read(1024 * 1024):
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return

        return Handler

    def __enter__(self) -> TestSite:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
