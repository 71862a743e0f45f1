"""How hard one worker may press on the web: connection slots, globally and per host.

A ``HostGate`` is shared by every capture in a worker process. Each request
holds one global slot and one slot of its host for as long as its connection
is open, and requests to one host start at least ``host_delay`` seconds apart.
So a burst of captures from one platform is spread over time instead of
hammering it, while captures of different hosts go on in parallel.

A gate serves one event loop at a time (it is not thread-safe); when a new loop
uses it, it starts afresh. Invariants: at most ``total`` requests in flight;
at most ``per_host`` to one host; two request starts to one host are
``host_delay`` apart or more. Slots are taken host first, then global, so a
crowd waiting for one busy host does not hold global slots other hosts could use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class PolitenessSettings:
    total: int = 64
    per_host: int = 8
    host_delay: float = 0.0


class _Host:
    __slots__ = ("next_start", "slots", "starting", "users")

    def __init__(self, per_host: int) -> None:
        self.slots = asyncio.Semaphore(per_host)
        self.starting = asyncio.Lock()  # one start of this host at a time
        self.next_start = 0.0
        self.users = 0


class HostGate:
    def __init__(self, settings: PolitenessSettings = PolitenessSettings()) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._total = asyncio.Semaphore(settings.total)
        self._hosts: dict[str, _Host] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold a connection slot for ``host`` (lower-case name or address)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # semaphores belong to one event loop
            self._loop, self._hosts = loop, {}
            self._total = asyncio.Semaphore(self.settings.total)
        entry = self._hosts.get(host)
        if entry is None:
            if len(self._hosts) >= 4096:
                self._forget_idle()
            entry = self._hosts[host] = _Host(self.settings.per_host)
        entry.users += 1
        try:
            async with entry.slots:
                if self.settings.host_delay <= 0:
                    async with self._total:
                        yield
                    return
                # Starts of one host are taken one at a time, and the next one is
                # due ``host_delay`` after the moment this one really began (not
                # after when it was due: a late start on a busy loop moves the
                # next one too). The wait is rechecked, since a timer may fire early.
                async with entry.starting:
                    while (wait := entry.next_start - time.monotonic()) > 0:
                        await asyncio.sleep(wait)
                    await self._total.acquire()
                    entry.next_start = time.monotonic() + self.settings.host_delay
                try:
                    yield
                finally:
                    self._total.release()
        finally:
            entry.users -= 1
            if entry.users == 0 and entry.next_start <= time.monotonic():
                del self._hosts[host]  # idle hosts are forgotten: the table stays small

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for name in [
            name
            for name, entry in self._hosts.items()
            if entry.users == 0 and entry.next_start <= now
        ]:
            del self._hosts[name]
