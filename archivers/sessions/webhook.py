"""The session webhook: each ``SessionMarked`` POSTed as JSON to the operator's URL.

``Webhook(url, worker)`` is a ``notices.Listener``: calling it puts the event
in a bounded queue and returns at once; a daemon thread of its own (started
by the first event) POSTs it — ``Content-Type: application/json``, the body
``SessionMarked.body(worker)`` — with ``TIMEOUT`` seconds per attempt, up to
``ATTEMPTS`` attempts ``BACKOFF`` × 2ⁿ seconds apart while the answer is a
connection error, a timeout, 408, 429 or 5xx. Any 2xx is delivered; any
other answer (a redirect included: never followed) is given up at once. A
given-up event, and one dropped because ``QUEUE`` events are already
waiting, is logged as a warning.

Invariants: a capture never waits for the webhook; the log names the
receiver by scheme, host and port only — webhook URLs often carry a token
in their path or query — and the body carries only public facts
(``notices``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from archivers.sessions.notices import SessionMarked

log = logging.getLogger("warcflow.sessions")

TIMEOUT = 5.0
"""Seconds one POST may take, connecting included."""
ATTEMPTS = 3
BACKOFF = 1.0
"""Seconds before the second attempt; doubled before each one after."""
QUEUE = 100
"""Events waiting at most; more are dropped (and logged) while the receiver is down."""
RETRIED = frozenset({408, 429})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer like any other: not delivered, not followed


class Webhook:
    def __init__(
        self,
        url: str,
        worker: str,
        *,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
    ) -> None:
        self.url = url
        self.worker = worker
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        parts = urlsplit(url)
        self.receiver = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        """The URL as logs name it: no path, query or user (they may hold a token)."""
        self._queue: queue.Queue[SessionMarked | None] = queue.Queue(QUEUE)
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"Webhook({self.receiver})"

    def __call__(self, marked: SessionMarked) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="session-webhook", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(marked)
        except queue.Full:
            log.warning(
                "session webhook %s: %d events already wait; not sending %s of session %s",
                self.receiver,
                QUEUE,
                marked.event,
                marked.session["id"],
            )

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within ``timeout`` seconds), then stop the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._stopping.set()  # no more waiting between attempts if it is still going

    def _run(self) -> None:
        while (marked := self._queue.get()) is not None:
            try:
                self._deliver(marked)
            except Exception:  # the thread must outlive one bad event
                log.exception("session webhook %s: could not send %s", self.receiver, marked.event)

    def _deliver(self, marked: SessionMarked) -> None:
        body = json.dumps(marked.body(self.worker)).encode("utf-8")
        why = ""
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(  # noqa: S310 - http(s) only (the setting's check)
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "warcflow"},
            )
            try:
                with self._opener.open(request, timeout=self.timeout) as answer:
                    answer.read(64 * 1024)
                return
            except urllib.error.HTTPError as exc:
                why = f"HTTP {exc.code}"
                exc.close()
                if not (exc.code in RETRIED or exc.code >= 500):
                    break
            except (OSError, ValueError) as exc:  # URLError, a timeout, a refused connection
                why = _cause(exc)
            if attempt < self.attempts and self._stopping.wait(self.backoff * 2 ** (attempt - 1)):
                break
        why = why.replace(self.url, self.receiver)
        log.warning(
            "session webhook %s did not take %s of session %s after %d attempt(s): %s",
            self.receiver,
            marked.event,
            marked.session["id"],
            attempt,
            why,
        )


def _cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason if reason is not None else exc}"
