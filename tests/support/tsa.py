"""A time-stamping authority over HTTP on 127.0.0.1, as a public TSA is reached
(RFC 3161 section 3.4): the local OpenSSL TSA answering POSTed queries."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from infra.tsa import LocalTSA


@contextlib.contextmanager
def http_tsa(authority: LocalTSA, down: threading.Event | None = None):
    """Serve ``authority``; yields the URL to POST time-stamp queries to. While
    ``down`` is set it answers 503, as a TSA that is out of service."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if down is not None and down.is_set():
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            reply = authority.reply(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsr"
    finally:
        server.shutdown()
