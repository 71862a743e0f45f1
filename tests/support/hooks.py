"""A webhook receiver on 127.0.0.1: records every POST, answers what the test says.

``with WebhookReceiver() as hook:`` gives ``hook.url`` (path ``/hook/<token>``:
a token in the path, as real webhook URLs carry, that logs must not show),
``hook.posts`` (each POST's path, headers and parsed JSON body), ``hook.status``
(the answer, 204 unless set; a 3xx points back to ``url``) and ``hook.hold``
(cleared: every POST waits until the test sets it — a receiver that hangs).
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        self.posts: list[dict[str, Any]] = []
        self.status = 204
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                receiver.hold.wait(30)
                with receiver._lock:
                    receiver.posts.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": json.loads(raw) if raw else None,
                        }
                    )
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:  # to itself: a redirect followed would POST again
                    self.send_header("Location", receiver.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook/{self.token}"

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
