"""The viewer's audits of captures: run by a bounded pool of worker threads, never
inside a request, and cached by capture and ledger head.

An audit re-reads and re-hashes every object of a capture (its WARC, media of up
to gigabytes) and checks the ledger, so a request never runs one (review F7: a
page view did, in the request). ``AuditCache.get`` answers at once:

- ``("done", report)``: the result for this capture at the current ledger head;
- ``("pending", None)``: not known yet; an audit of it is queued (once: a second
  request for the same capture joins the first) — ask again shortly;
- ``("busy", None)``: the queue is full (``queue`` audits waiting): nothing was
  queued; ask again later.

The cache key is the capture id and the ledger's newest signed head: a new head
(new entries, e.g. this capture's download or fixity events) makes every result
out of date, and a result is never recomputed while the head stays the same.
The head (an S3 listing, longer as the ledger grows) is looked up by a thread
of its own every ``head_every`` seconds, never by a request, which uses the
last one found. At most ``size`` results are kept, the least recently used
dropped first.

Audits trust what the viewer is configured with (``Trust``: its key file,
WARCFLOW_TRUST, WARCFLOW_TSA's CAs), never a key or CA read from the bucket:
whoever can write the bucket could mint both (review F8).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from archivers.custody.audit import Trust
from archivers.store.base import ObjectStore


def ledger_head(store: ObjectStore) -> str:
    """The key of the newest signed head (``""``: none yet)."""
    last = ""
    for key in store.list_keys("ledger/heads/"):
        last = key
    return last


class AuditCache:
    def __init__(
        self,
        store: ObjectStore,
        trust: Trust | None = None,
        *,
        workers: int = 2,
        queue_size: int = 32,
        size: int = 256,
        head_every: float = 5.0,
        head: Callable[[], str] | None = None,
        audit: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.trust = trust or Trust()
        self.size = size
        self.head_every = head_every
        self._head_of = head or (lambda: ledger_head(store))
        self._audit = audit or self._run_audit
        self._head = ""
        self._done: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._queued: set[tuple[str, str]] = set()
        self._queue: queue.Queue[tuple[tuple[str, str], dict[str, Any]]] = queue.Queue(queue_size)
        self._guard = threading.Lock()
        self._workers = [
            threading.Thread(target=self._work, name=f"audit-{n}", daemon=True)
            for n in range(workers)
        ]
        self._workers.append(
            threading.Thread(target=self._follow_head, name="audit-head", daemon=True)
        )
        for thread in self._workers:
            thread.start()

    def refresh_head(self) -> None:
        """Look the ledger's newest head up now (the head thread does, every
        ``head_every`` seconds)."""
        try:
            head = self._head_of()
        except Exception:  # noqa: BLE001 - the store away: keep the last one known
            return
        with self._guard:
            self._head = head

    def _follow_head(self) -> None:
        while True:
            self.refresh_head()
            time.sleep(self.head_every)

    def current_head(self) -> str:
        with self._guard:
            return self._head

    def get(self, manifest: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        key = (manifest["capture_id"], self.current_head())
        with self._guard:
            if key in self._done:
                self._done.move_to_end(key)
                return "done", self._done[key]
            if key in self._queued:
                return "pending", None
            try:
                self._queue.put_nowait((key, manifest))
            except queue.Full:
                return "busy", None
            self._queued.add(key)
        return "pending", None

    def _work(self) -> None:
        while True:
            key, manifest = self._queue.get()
            try:
                result = self._audit(manifest)
            except Exception as exc:  # noqa: BLE001 - shown with its reason
                result = _failed(manifest, str(exc))
            with self._guard:
                self._queued.discard(key)
                self._done[key] = result
                while len(self._done) > self.size:
                    self._done.popitem(last=False)

    def _run_audit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        from archivers.custody.audit import audit_capture
        from archivers.manifests.manifest import Manifest

        return audit_capture(self.store, Manifest.from_dict(manifest), trust=self.trust).to_dict()


def _failed(manifest: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "capture_id": manifest["capture_id"],
        "ok": False,
        "error": reason,
        "checks": [],
        "items": {},
        "liveness": None,
        "custody": [],
    }
