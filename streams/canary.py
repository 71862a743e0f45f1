"""The extractor canary: capture a known video on a schedule, so a broken yt-dlp
extractor shows as a metric and a log line before users notice missing videos.

Platforms change their pages, and yt-dlp's extractors follow within days; in
between, captures of that platform's videos fail. The canary downloads and
probes a known URL (``WARCFLOW_CANARY_URL``, locally a test stream) through the
same fenced yt-dlp as real captures, stores nothing, and sets
``warcflow_canary_ok`` (1 or 0) and ``warcflow_canary_last_ok_timestamp_seconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from archivers.errors import CaptureError
from streams.metrics import Metrics

log = logging.getLogger("warcflow.canary")


async def run_canary(
    rehearse: Callable[[str], Awaitable[dict[str, Any]]], url: str, metrics: Metrics
) -> bool:
    """One canary run; True if ``url`` came down as playable media."""
    try:
        facts = await rehearse(url)
    except CaptureError as exc:
        metrics.canary(False)
        log.error(
            "canary: could not capture %s (%s): %s. If this is a platform's video, its "
            "yt-dlp extractor may be broken: upgrade yt-dlp (docs/operations.md)",
            url,
            exc.reason,
            exc,
        )
        return False
    except Exception as exc:  # noqa: BLE001 - the canary must report, never crash the worker
        metrics.canary(False)
        log.error("canary: %s failed unexpectedly: %s: %s", url, type(exc).__name__, exc)
        return False
    metrics.canary(True)
    log.info(
        "canary ok: %s (%s, %s, %.1f s of media, %s bytes in %.1f s)",
        url,
        facts["kind"],
        facts["container"],
        facts["duration"] or 0,
        facts["size"],
        facts["seconds"],
    )
    return True
