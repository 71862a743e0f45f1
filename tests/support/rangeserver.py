"""A static file server on 127.0.0.1 that honours HTTP ``Range`` (RFC 9110 section 14).

ReplayWeb.page's service worker (wabac.js) reads a WACZ by range requests: its
ZIP directory, then each index block and record. ``python -m http.server``
ignores ``Range`` and sends the whole file, which the player cannot use. This
one answers a single range with 206 and ``Content-Range`` (416 when it cannot
be satisfied), everything else as the standard library does, ``.js`` as
JavaScript (a service worker must be), and keeps a log of (method, path, range,
status) so a test can say what the player asked for.
"""

from __future__ import annotations

import os
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "application/javascript",
        ".wacz": "application/wacz",
        ".json": "application/json",
    }
    log: list[tuple[str, str, str | None, int]]
    _remaining: int | None = None

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def send_response(self, code, message=None):
        self.log.append((self.command, self.path, self.headers.get("Range"), code))
        super().send_response(code, message)

    def send_head(self):
        path = self.translate_path(self.path)
        wanted = self.headers.get("Range")
        if not wanted or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        match = RANGE.match(wanted.strip())
        if match is None or match.groups() == ("", ""):
            return self._unsatisfiable(size)
        first, last = match.groups()
        if first == "":  # the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start > end or start >= size:
            return self._unsatisfiable(size)
        handle = open(path, "rb")  # the base class closes it after copyfile
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def _unsatisfiable(self, size: int):
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def copyfile(self, source, outputfile):
        remaining, self._remaining = self._remaining, None
        if remaining is None:
            super().copyfile(source, outputfile)
            return
        while remaining > 0:
            chunk = source.read(min(1 << 16, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, *args):  # the log list above is what tests read
        pass


class RangeServer:
    """``with RangeServer(directory) as server: server.url("/index.html")``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log: list[tuple[str, str, str | None, int]] = []
        handler = type("Handler", (_Handler,), {"log": self.log})
        self._server = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(handler, directory=str(directory))
        )
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
