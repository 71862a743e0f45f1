"""Host holds: a host that asked us to wait is left alone until then.

A response of ``429 Too Many Requests`` — or ``503`` with a ``Retry-After`` —
puts its host on hold: until ``Retry-After`` (seconds or an HTTP date), or
``HoldSettings.default_seconds`` when the answer names no time. While a host
is held, a request to it waits for the hold to end if that is near
(``wait_seconds``), and otherwise is not sent at all: ``HostHeld`` (retryable,
with ``retry_at``), so the capture goes to the retry topic due at the hold's
end instead of spending an attempt on an answer known in advance.

One ``HostHolds`` serves every fetcher of a worker process (page, media, the
yt-dlp threads: it is thread-safe), and ``streams.clients.holds`` shares it
with every worker of the cluster through the ``<prefix>.hosts`` topic: a hold
one worker met is announced to the listeners (``subscribe``) and a hold
another worker announced is taken with ``hold(..., announce=False)``.

Invariants: a hold's end is a UTC time (holds cross machines); a host's hold
only grows — a shorter or older hold never shortens one already there; no
hold ends more than ``max_seconds`` after it was taken here, whatever a server
or a message says; a hold is announced once, by the process that met it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from archivers.clock import iso, utc_now
from archivers.errors import FetchUnavailable

log = logging.getLogger("warcflow.fetch")

NEWS = timedelta(seconds=1)
"""A hold lengthens a host's hold (and is announced) only if it ends this much later."""
HOLDING_STATUSES = frozenset({429, 503})
"""Statuses that may put a host on hold: 429 always, 503 only with Retry-After."""


@dataclass(frozen=True)
class HoldSettings:
    """Times in seconds."""

    default_seconds: float = 30.0
    """A 429 without (a readable) ``Retry-After`` holds its host this long."""
    max_seconds: float = 3600.0
    """No hold lasts longer than this from when it was taken here."""
    wait_seconds: float = 10.0
    """A request to a host held for at most this long waits; a longer hold defers it."""


@dataclass(frozen=True)
class Hold:
    host: str
    until: datetime
    reason: str
    """What put the host on hold, e.g. ``429 with Retry-After: 30``."""

    def text(self) -> str:
        return f"{self.host} is on hold until {iso(self.until)} ({self.reason})"


class HostHeld(FetchUnavailable):
    """A request not sent: its host is on hold. ``retry_at`` is when it ends."""

    reason = "host_held"

    def __init__(self, hold: Hold) -> None:
        super().__init__(f"not sent: {hold.text()}")
        self.hold = hold
        self.retry_at: datetime | None = hold.until


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or
    None when it is absent or unreadable. Never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": str.isdigit takes any digit
        return float(int(value[:12]))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    try:
        return max(0.0, (when - now).total_seconds())
    except OverflowError:
        return None


class HostHolds:
    def __init__(
        self, settings: HoldSettings = HoldSettings(), clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}
        self._listeners: list[Callable[[Hold], None]] = []

    def subscribe(self, listener: Callable[[Hold], None]) -> None:
        """Call ``listener`` with each hold this process met (not those it was told of).
        It is called on the thread that met it and must not block."""
        self._listeners.append(listener)

    def current(self, host: str) -> Hold | None:
        """The hold of ``host`` (lower-case) if it has not ended."""
        with self._lock:
            hold = self._holds.get(host)
            if hold is not None and hold.until <= self.clock():
                del self._holds[host]
                return None
            return hold

    def hold(self, hold: Hold, *, announce: bool = True) -> bool:
        """Take ``hold`` (its end bounded by ``max_seconds`` from now); True if it
        lengthened the host's hold. Announced to the listeners if it did and
        ``announce``."""
        now = self.clock()
        until = min(hold.until, now + timedelta(seconds=self.settings.max_seconds))
        if until <= now:
            return False
        hold = Hold(hold.host.lower(), until, hold.reason)
        with self._lock:
            if len(self._holds) >= 4096:
                self._holds = {h: v for h, v in self._holds.items() if v.until > now}
            known = self._holds.get(hold.host)
            if known is not None and hold.until - known.until < NEWS:
                return False  # no longer by much: not news (each queued 429 adds a little)
            self._holds[hold.host] = hold
        if announce:
            log.warning("%s; every worker leaves it alone until then", hold.text())
            for listener in self._listeners:
                try:
                    listener(hold)
                except Exception:
                    log.exception("a host-hold listener failed")
        return True

    def note(self, host: str, status: int, headers: list[tuple[str, str]]) -> Hold | None:
        """Put ``host`` on hold if a response of ``status`` with ``headers`` asks for
        it. Total: whatever the headers hold, it returns (a hold, or None)."""
        if status not in HOLDING_STATUSES:
            return None
        try:
            return self._note(host, status, headers)
        except Exception:
            log.exception("could not read the Retry-After of %s", host)
            return None

    def _note(self, host: str, status: int, headers: list[tuple[str, str]]) -> Hold | None:
        now = self.clock()
        value = next((v for k, v in headers if k.lower() == "retry-after"), None)
        seconds = retry_after(value, now)
        if seconds is None:
            if status != 429:
                return None  # a 503 without Retry-After is an outage, not a request to wait
            seconds, reason = self.settings.default_seconds, "429 without Retry-After"
        else:
            reason = f"{status} with Retry-After: {value.strip() if value else ''}"[:120]
        seconds = min(seconds, self.settings.max_seconds)
        hold = Hold(host.lower(), now + timedelta(seconds=seconds), reason)
        self.hold(hold)
        return self.current(host.lower())

    async def wait(
        self, host: str, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    ) -> None:
        """Return once ``host`` is not on hold, waiting up to ``wait_seconds``;
        ``HostHeld`` at once if its hold lasts longer."""
        while (hold := self.current(host)) is not None:
            remaining = (hold.until - self.clock()).total_seconds()
            if remaining > self.settings.wait_seconds:
                raise HostHeld(hold)
            await sleep(max(remaining, 0.01))
