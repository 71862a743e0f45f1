"""The viewer's audits of captures: run once per capture at a time, results cached.

They trust what the viewer is configured with (``Trust``: its key file,
WARCFLOW_TRUST, WARCFLOW_TSA's CAs), never a key or CA read from the bucket:
whoever can write the bucket could mint both (review F8)."""

from __future__ import annotations

import threading
import time
from typing import Any

from archivers.custody.audit import Trust
from archivers.store.base import ObjectStore


class AuditCache:
    """Audit results by capture id, kept ``ttl`` seconds (an audit re-reads every
    object, so a page view should not redo it each time). One audit of a capture
    runs at a time: concurrent views wait for it instead of repeating it; at most
    ``size`` results are kept."""

    def __init__(
        self, store: ObjectStore, trust: Trust, ttl: float = 300.0, size: int = 256
    ) -> None:
        self.store = store
        self.trust = trust
        self.ttl = ttl
        self.size = size
        self._done: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, manifest: dict[str, Any]) -> dict[str, Any]:
        capture_id = manifest["capture_id"]
        with self._guard:
            lock = self._locks.setdefault(capture_id, threading.Lock())
        with lock:
            cached = self._done.get(capture_id)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            result = self._audit(manifest)
            with self._guard:
                self._done[capture_id] = (time.monotonic(), result)
                while len(self._done) > self.size:
                    oldest = min(self._done, key=lambda k: self._done[k][0])
                    del self._done[oldest]
                    self._locks.pop(oldest, None)
            return result

    def _audit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        from archivers.custody.audit import audit_capture
        from archivers.manifests.manifest import Manifest

        m = Manifest.from_dict(manifest)
        try:
            return audit_capture(self.store, m, trust=self.trust).to_dict()
        except Exception as exc:  # noqa: BLE001 - the page still shows, with the reason
            return {
                "capture_id": manifest["capture_id"],
                "ok": False,
                "error": str(exc),
                "checks": [],
                "items": {},
                "liveness": None,
                "custody": [],
            }
