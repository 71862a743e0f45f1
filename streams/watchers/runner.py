"""The watchers' loop inside ``warcflow worker``: poll what is due, submit what is new.

Every ``tick`` (a faust timer, on the consumer group's leader only — one worker
polls) the runner catches the book up from the watch topics, then polls each
watch whose time has come. For each new item, in the order the source lists
it (at most ``max_items`` a poll), it produces a ``SubmitRequest`` (source
``watch:<id>``, the watch's tags, and what the item itself says of its
submission: a sheet row's tags, note, case and mode) to the ingest topic, one more for each of
the item's media links, and then the item's ``WatchSeen`` record, each
acknowledged by the broker before the next. So an item is marked seen only
once it is submitted: a worker stopped between the two resubmits that one
item on restart (at least once, never missed).

The first poll of a watch submits everything the source lists then (up to
``max_items``; the rest on the next polls). A poll that fails — network,
HTTP error, malformed body, broker — is logged and counted and tried again
after the watch's period, doubled for each further failure up to
``max_backoff``; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from archivers.capture.modes import AUTO
from archivers.clock import utc_now
from archivers.errors import CaptureError, InvalidURL
from streams.messages.capture import SubmitRequest
from streams.topics import TopicNames
from streams.watchers.book import WatchBook
from streams.watchers.definitions import Watch, seen_key, seen_record
from streams.watchers.items import Item, MalformedSource
from streams.watchers.kinds import Fetch, read_items
from streams.watchers.settings import WatchSettings

log = logging.getLogger("warcflow.watch")

TICK_SECONDS = 1.0
"""How often the runner looks for due watches (a watch's period is its own)."""


class Producer(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...


@dataclass
class _Due:
    at: float = 0.0  # monotonic seconds; 0: at once
    failures: int = 0


def backoff(every: float, failures: int, max_backoff: float) -> float:
    """Seconds until the next poll after ``failures`` failed polls in a row (≥ 1):
    the period, doubled per further failure, at most ``max(max_backoff, every)``."""
    return min(max(max_backoff, every), every * 2 ** (failures - 1))


class WatchRunner:
    def __init__(
        self,
        book: WatchBook,
        refresh: Callable[[WatchBook], Awaitable[object]],
        fetch: Fetch,
        producer: Producer,
        names: TopicNames,
        settings: WatchSettings,
        *,
        metrics=None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        concurrency: int = 4,
    ) -> None:
        self.book = book
        self.refresh = refresh
        self.fetch = fetch
        self.producer = producer
        self.names = names
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.monotonic = monotonic
        self._due: dict[str, _Due] = {}
        self._running: dict[str, asyncio.Future] = {}
        self._slots = asyncio.Semaphore(concurrency)

    async def tick(self, *, wait: bool = True) -> list[str]:
        """Start a poll of every due watch not already being polled; the ids
        started. ``wait``: return once those polls are done (the worker's timer
        does not wait, so a slow source never holds up the others). Never raises."""
        try:
            await self.refresh(self.book)
        except Exception as exc:  # noqa: BLE001 - without the seen state, polling could resubmit
            log.warning("cannot read the watch topics, not polling: %s", exc)
            if self.metrics:
                self.metrics.watch_poll("all", "failed", "state_unavailable")
            return []
        now = self.monotonic()
        watches = self.book.watches()
        for gone in set(self._due) - {w.id for w in watches}:
            del self._due[gone]
        due = [
            w
            for w in watches
            if w.id not in self._running and self._due.setdefault(w.id, _Due()).at <= now
        ]
        started = []
        for watch in due:
            task = asyncio.ensure_future(self._guarded(watch))
            self._running[watch.id] = task
            task.add_done_callback(functools.partial(self._finished, watch.id))
            started.append(task)
        if wait and started:
            await asyncio.gather(*started)
        return [w.id for w in due]

    def _finished(self, watch_id: str, _task: asyncio.Future) -> None:
        self._running.pop(watch_id, None)

    async def _guarded(self, watch: Watch) -> None:
        async with self._slots:
            try:
                await self.poll(watch)
            except Exception:
                log.exception("watch %s: internal error", watch.id)
                self._failed(watch, "internal_error")

    async def poll(self, watch: Watch) -> int:
        """Poll one watch now; the number of items submitted."""
        try:
            items = await read_items(watch, self.fetch)
        except (CaptureError, MalformedSource) as exc:
            log.warning(
                "watch %s (%s %s): poll failed: %s: %s",
                watch.id,
                watch.kind,
                watch.url,
                exc.reason,
                exc,
            )
            self._failed(watch, exc.reason)
            return 0
        new = self.book.new_items(watch.id, items)[: self.settings.max_items]
        submitted = 0
        try:
            for item in new:
                submitted += await self._submit(watch, item)
        except Exception as exc:  # noqa: BLE001 - the broker: try again next period
            log.warning("watch %s: submitting failed after %d: %s", watch.id, submitted, exc)
            self._count(watch, submitted)
            self._failed(watch, "submit_failed")
            return submitted
        self._count(watch, submitted)
        if self.metrics:
            self.metrics.watch_poll(watch.kind, "ok")
        state = self._due.setdefault(watch.id, _Due())
        state.failures, state.at = 0, self.monotonic() + watch.every
        if new:
            log.info(
                "watch %s (%s %s): %d new item(s), %d URL(s) submitted",
                watch.id,
                watch.kind,
                watch.url,
                len(new),
                submitted,
            )
        return submitted

    async def _submit(self, watch: Watch, item: Item) -> int:
        """Submit an item and its media, then mark it seen; URLs submitted."""
        now = self.clock()
        url = item.url
        requests = []
        tags = tuple(dict.fromkeys((*watch.tags, *item.tags)))
        for target, note in [(url, item.note), *((m, f"media of {url}") for m in item.media)]:
            try:
                requests.append(
                    SubmitRequest.new(
                        target,
                        submitted_at=now,
                        source=watch.source,
                        tags=tags,
                        note=note,
                        case_id=item.case_id,
                        mode=item.mode or AUTO,
                    )
                )
            except (InvalidURL, ValueError) as exc:
                log.info("watch %s: skipping %r: %s", watch.id, target, exc)
        for request in requests:
            await self.producer.send(
                self.names.ingest, self.names.key(request.url), request.to_json()
            )
        first = requests[0].request_id if requests else ""
        await self.producer.send(
            self.names.watch_seen,
            seen_key(watch.id, url),
            seen_record(watch.id, url, request_id=first, submitted_at=now),
        )
        self.book.mark(watch.id, url)
        return len(requests)

    def _count(self, watch: Watch, submitted: int) -> None:
        if self.metrics and submitted:
            self.metrics.watch_items(watch.kind, submitted)

    def _failed(self, watch: Watch, reason: str) -> None:
        if self.metrics:
            self.metrics.watch_poll(watch.kind, "failed", reason)
        state = self._due.setdefault(watch.id, _Due())
        state.failures += 1
        wait = backoff(watch.every, state.failures, self.settings.max_backoff)
        state.at = self.monotonic() + wait
        log.info(
            "watch %s: next try in %.0f s (%d failure(s) in a row)", watch.id, wait, state.failures
        )


def attach(app, runner: WatchRunner, interval: float = TICK_SECONDS) -> None:
    """Run ``runner.tick`` every ``interval`` seconds in ``app`` (a faust app), on
    the leader of its consumer group only."""

    @app.timer(interval=interval, on_leader=True, name="watchers")
    async def watchers():
        await runner.tick(wait=False)
