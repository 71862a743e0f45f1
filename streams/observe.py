"""The worker's own HTTP endpoint: ``/metrics`` (Prometheus) and ``/healthz`` (JSON).

A small threaded HTTP server beside the faust event loop, so a scrape never
waits on a capture. ``/healthz`` answers 200 once the worker has joined its
consumer group and got its partitions (``ready``), 503 until then; the body
says which, with the counts of what it has handled.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.metrics import Metrics
from streams.settings import KafkaAccess

log = logging.getLogger("warcflow.worker")


def lag_from_kafka(access: KafkaAccess, group: str, timeout: float = 5.0):
    """A ``Lag`` function: end offsets minus the group's committed offsets (kafka-python)."""

    def lag():
        from kafka import KafkaAdminClient, KafkaConsumer

        admin = KafkaAdminClient(**access.client_kwargs(), request_timeout_ms=int(timeout * 1000))
        try:
            committed = admin.list_group_offsets({group: None}).get(group) or {}
        finally:
            admin.close()
        if not committed:
            return []
        consumer = KafkaConsumer(
            **access.client_kwargs(),
            group_id=None,
            request_timeout_ms=int(timeout * 1000) + 1000,
        )
        try:
            ends = consumer.end_offsets(list(committed))
        finally:
            consumer.close()
        return [
            (tp.topic, tp.partition, max(0, ends[tp] - meta.offset))
            for tp, meta in sorted(committed.items())
            if tp in ends and meta.offset >= 0
        ]

    return lag


class ObservabilityServer:
    def __init__(self, address: str, metrics: Metrics, health: Callable[[], dict]) -> None:
        host, _, port = address.rpartition(":")
        self.metrics = metrics
        self.health = health
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # scrapes are not worth a log line
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/metrics":
                    body, kind, code = (
                        generate_latest(server.metrics.registry),
                        CONTENT_TYPE_LATEST,
                        200,
                    )
                elif path == "/healthz":
                    doc = server.health()
                    body = json.dumps(doc, indent=1).encode()
                    kind, code = "application/json", 200 if doc.get("status") == "ok" else 503
                else:
                    body, kind, code = b"/metrics or /healthz\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        self._server.daemon_threads = True
        self.address = f"{host or '127.0.0.1'}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="warcflow-observe"
        )

    def start(self) -> None:
        self._thread.start()
        log.info(
            "metrics on http://%s/metrics, health on http://%s/healthz", self.address, self.address
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
