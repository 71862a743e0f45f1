"""The one exception tree of the capture side.

Callers branch on two classes only:

- ``Retryable``: the same work may succeed later (timeouts, connection resets,
  HTTP 5xx/408/425/429, S3 unavailable). Agents send the message to a retry topic.
- ``Permanent``: trying again cannot help (invalid URL, refused by the address
  policy, HTTP 4xx, a limit exceeded). Agents record a failed capture.

Every error carries ``reason``: a short, stable, machine-readable code
(``policy_refused``, ``http_404``, ``connect_timeout``, ``read_timeout`` …) that ends
up in events, manifests and the dead-letter topic; ``str(error)`` is the human sentence.

    CaptureError
    ├── Retryable
    │   ├── FetchUnavailable      network trouble, timeouts, HTTP 5xx/408/425/429
    │   │   ├── HostHeld          not sent: the host asked for a wait (archivers.net.holds);
    │   │   │                     retried at its end without spending an attempt
    │   │   └── ProxyUnavailable  a session's proxy is unreachable, timed out, closed,
    │   │                         or answered CONNECT with 5xx/408/429
    │   ├── StoreUnavailable      the S3 server did not answer or said 5xx (an outage:
    │   │                         waited out for as long as it lasts)
    │   └── StoreMisconfigured    bad keys, no bucket, access denied: retried a few
    │                             times (a key rotation, a bucket being made), then
    │                             given up, naming the setting to fix
    └── Permanent
        ├── InvalidURL            not an http(s) URL we accept
        ├── PolicyRefused         address policy said no (SSRF guard)
        ├── HTTPRefused           any other HTTP 4xx (or 3xx where a body was due)
        ├── LimitExceeded         size, redirect or header limit hit
        ├── ProxyRefused          a session's proxy refused CONNECT: 407 (the
        │                         credentials), another 4xx, or it is no HTTP proxy
        ├── StoreRefused          the S3 server refused the request (4xx)
        └── NotMedia              ffprobe found no media (archivers.media.ffmpeg)

Whether an HTTP status is worth another try is decided in one place,
``retryable_status``; ``http_error`` turns a status into the right error.
"""

from __future__ import annotations

from datetime import datetime


class CaptureError(Exception):
    """Base of every capture-side error. ``reason`` is a stable code."""

    reason: str = "capture_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class Retryable(CaptureError):
    reason = "retryable"
    retry_at: datetime | None = None
    """When trying again can help, if the error knows (a host's hold ends then)."""


class Permanent(CaptureError):
    reason = "permanent"


class FetchUnavailable(Retryable):
    reason = "fetch_unavailable"


class ProxyUnavailable(FetchUnavailable):
    """A session's proxy could not give a tunnel now (``archivers.net.proxy``).
    Its message names the proxy's ``host:port``, never its credentials."""

    reason = "proxy_unavailable"


class StoreUnavailable(Retryable):
    reason = "store_unavailable"


class StoreMisconfigured(Retryable):
    """The S3 server answers but refuses us as configured; ``setting`` names the
    ``WARCFLOW_*`` setting that is most likely wrong."""

    reason = "store_misconfigured"

    def __init__(self, message: str, *, setting: str, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.setting = setting


class InvalidURL(Permanent):
    reason = "invalid_url"


class PolicyRefused(Permanent):
    reason = "policy_refused"


class HTTPRefused(Permanent):
    reason = "http_refused"


class LimitExceeded(Permanent):
    reason = "limit_exceeded"


class ProxyRefused(Permanent):
    """A session's proxy refused the tunnel (``archivers.net.proxy``); its
    message names the proxy's ``host:port`` and status, never its credentials."""

    reason = "proxy_refused"


class StoreRefused(Permanent):
    reason = "store_refused"


RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""The 4xx statuses that mean "not now" rather than "no": timeout, too early, too many."""


def retryable_status(status: int) -> bool:
    """True for a status worth another try later: 5xx, 408, 425 and 429."""
    return status >= 500 or status in RETRYABLE_STATUSES


def http_error(status: int, message: str) -> CaptureError:
    """The error for an HTTP status that ends an attempt: ``FetchUnavailable``
    (retry) when ``retryable_status``, else ``HTTPRefused``; reason ``http_<status>``."""
    kind = FetchUnavailable if retryable_status(status) else HTTPRefused
    return kind(message, reason=f"http_{status}")
