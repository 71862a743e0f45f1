"""Liveness: is the captured original still there, changed, or gone?

A recheck fetches the original URL again through the capture fetcher (same
address policy and limits), follows redirects, and classifies what it sees:

- ``gone``: HTTP 404 or 410, or a page whose text says the post is
  unavailable (``GONE_MARKERS``: the wording platforms use for removed posts
  and videos), or a redirect chain that ends on one of those; or, for a URL a
  platform's yt-dlp extractor claims, yt-dlp saying the video is unavailable
  or removed (the verdict ``archivers.media.ytdlp.extractor_verdict`` hands in);
- ``changed``: served, but its payload digest differs from the last one seen
  (the capture's own, at first);
- ``alive``: served with the same payload digest;
- ``unknown``: anything else (5xx, rate-limited, refused by policy, network
  errors): it says nothing about deletion, so it never moves the dates.

The state of one URL (``LivenessState``) keeps the last time the original was
seen alive and the first time it was seen gone (reset if it comes back), the
next check time and a bounded history. It is mutable state, not evidence: it
lives under ``liveness/<url_hash>.json``; each check also goes into the
custody ledger and onto the ``warcflow.liveness`` topic.

Invariants: ``first_seen_gone`` is set only by a ``gone`` check, and only when
unset; ``last_seen_alive`` only by ``alive`` or ``changed``; both are UTC ISO.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archivers.clock import iso, parse_iso
from archivers.errors import CaptureError
from archivers.net.fetcher import Fetcher
from archivers.net.recording import DecodingReader
from archivers.store import layout
from archivers.store.base import ObjectStore
from archivers.urls import url_hash
from archivers.warc.cdxj import page_digest

SCHEMA = "warcflow.liveness"
HISTORY = 200
MARKER_SCAN_BYTES = 512 * 1024
GONE_STATUSES = (404, 410)

GONE_MARKERS = (
    r"this video is (no longer )?unavailable",
    r"video unavailable",
    r"this post is (no longer )?(available|unavailable)",
    r"this (post|tweet|page|content) (has been|was) (deleted|removed)",
    r"sorry, this page isn'?t available",
    r"this account doesn'?t exist",
    r"the (post|video|page) you('| a)re looking for (doesn'?t|does not) exist",
    r"post not found",
)
"""Case-insensitive patterns of the "removed" pages of common platforms."""

_MARKERS = re.compile("|".join(f"(?:{m})" for m in GONE_MARKERS), re.IGNORECASE)


def combine(page: Observation, verdict: tuple[str, str] | None) -> Observation:
    """A page that still answers while the platform's extractor says the video is
    gone is gone (platforms often answer 200 with a shell page). ``verdict`` is
    the extractor's ``(state, reason)``, or None when it says nothing of removal."""
    if verdict is None or page.state == "gone":
        return page
    return Observation(
        page.at, verdict[0], page.http_status, page.final_url, page.digest, verdict[1]
    )


def state_key(url: str) -> str:
    return f"liveness/{url_hash(url)}.json"


@dataclass(frozen=True)
class Observation:
    """One look at the original."""

    at: str
    state: str
    http_status: int | None = None
    final_url: str | None = None
    digest: str | None = None
    reason: str | None = None


@dataclass
class LivenessState:
    url: str
    captures: list[str] = field(default_factory=list)
    baseline_digest: str | None = None
    state: str = "unknown"
    last_seen_alive: str | None = None
    first_seen_gone: str | None = None
    last_checked: str | None = None
    next_check_at: str | None = None
    checks: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(
            {"schema": SCHEMA, **asdict(self)}, indent=1, sort_keys=True, ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> LivenessState:
        doc = json.loads(data)
        if doc.get("schema") != SCHEMA:
            raise ValueError("not a warcflow liveness state")
        doc.pop("schema")
        return cls(**doc)

    def record(self, check: Observation) -> None:
        """Fold one check into the state (see the module's invariants)."""
        self.checks += 1
        self.last_checked = check.at
        self.history = ([*self.history, asdict(check)])[-HISTORY:]
        if check.state == "unknown":
            return
        self.state = check.state
        if check.state in ("alive", "changed"):
            self.last_seen_alive = check.at
            self.first_seen_gone = None
            if check.digest:
                self.baseline_digest = check.digest
        elif check.state == "gone" and self.first_seen_gone is None:
            self.first_seen_gone = check.at

    def summary(self) -> dict[str, Any]:
        """What ``warcflow liveness --json`` prints."""
        return {
            "url": self.url,
            "state": self.state,
            "last_seen_alive": self.last_seen_alive,
            "first_seen_gone": self.first_seen_gone,
            "last_checked": self.last_checked,
            "next_check_at": self.next_check_at,
            "checks": self.checks,
            "captures": list(self.captures),
            "history": list(self.history),
        }


@dataclass(frozen=True)
class Schedule:
    """When to look again: ``delays[n]`` seconds after the n-th check (the
    first soon after capture), the last delay repeating; ± ``jitter``."""

    delays: tuple[float, ...] = (300.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
    jitter: float = 0.1

    def next(self, checks: int, now: datetime, rng: random.Random | None = None) -> datetime:
        delay = self.delays[min(checks, len(self.delays) - 1)]
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return now + timedelta(seconds=max(1.0, delay * (1 + spread)))


def classify_response(status: int, text: str, digest: str, baseline: str | None) -> tuple[str, str]:
    """(state, reason) for a final response."""
    if status in GONE_STATUSES:
        return "gone", f"http_{status}"
    if 200 <= status < 300:
        match = _MARKERS.search(text)
        if match:
            return "gone", f"unavailable page: {match.group(0)!r}"
        if baseline and digest != baseline:
            return "changed", "payload digest differs"
        return "alive", "same payload" if baseline else "served"
    return "unknown", f"http_{status}"


async def check(
    fetcher: Fetcher,
    url: str,
    baseline: str | None,
    now: datetime,
    extractor: Callable[[str], Awaitable[tuple[str, str] | None]] | None = None,
) -> Observation:
    """Fetch ``url`` now and classify it against ``baseline`` (a payload SHA-256 hex);
    ``extractor(url)`` (for URLs a platform extractor claims) returns its verdict,
    ``("gone", reason)`` or None (``combine``)."""
    page = await _page_check(fetcher, url, baseline, now)
    if extractor is None:
        return page
    return combine(page, await extractor(url))


async def _page_check(
    fetcher: Fetcher, url: str, baseline: str | None, now: datetime
) -> Observation:
    try:
        chain = await fetcher.fetch_chain(url)
    except CaptureError as exc:
        return Observation(iso(now), "unknown", reason=f"{exc.reason}: {exc}")
    try:
        final = chain[-1]
        text = _text(final.response)
        digest = final.response.payload_sha256
        state, reason = classify_response(final.status, text, digest, baseline)
        return Observation(iso(now), state, final.status, final.url, digest, reason)
    finally:
        for exchange in chain:
            exchange.close()


def _text(response) -> str:
    """The start of the body as text, content coding (gzip, br …) undone."""
    encoding = (response.header("content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        data = response.read_body(MARKER_SCAN_BYTES)
    else:
        try:
            data = io.BufferedReader(DecodingReader(response.body_chunks(), encoding)).read(
                MARKER_SCAN_BYTES
            )
        except Exception:  # noqa: BLE001 - a broken coding: scan nothing
            data = b""
    return data.decode("utf-8", "replace")


def due(state: LivenessState, now: datetime) -> bool:
    return state.next_check_at is None or parse_iso(state.next_check_at) <= now


def begin(
    store: ObjectStore,
    url: str,
    capture_id: str,
    final_url: str | None,
    schedule: Schedule,
    now: datetime,
) -> None:
    """Start (or extend) ``url``'s liveness record for a new stored capture
    (blocking): the capture listed once, the page's own payload digest as the
    baseline while nothing was seen yet, the first check ``schedule``d."""
    key = state_key(url)
    try:
        state = LivenessState.from_json(store.get_bytes(key))
    except KeyError:
        state = LivenessState(url)
    if capture_id in state.captures:
        return
    state.captures.append(capture_id)
    try:
        digest = page_digest(store.get_bytes(layout.index_key(capture_id)), final_url or url)
    except KeyError:
        digest = None
    if digest and state.state == "unknown":
        state.baseline_digest = digest
    if state.next_check_at is None:
        state.next_check_at = iso(schedule.next(0, now))
    store.put_state(key, state.to_json())
