"""The recheck stage and its scheduler: when did the original vanish?

``RecheckStage`` (``warcflow.recheck``, keyed by SURT) is the only writer of
the URL's ``LivenessState`` (``liveness/<url>``): it fetches the original,
folds the check into the state, schedules the next look
(``archivers.liveness.Schedule``), publishes a ``LivenessEvent`` on
``warcflow.liveness`` and a ``recheck`` custody event for the ledger; when the
page changed and re-capture is on, it submits the URL again. A new capture
of the URL comes as a ``LivenessStart`` on the same topic (from the custody
feed) and is added to the state here too.

One writer per URL: the key sends all of a URL's messages to one partition,
so to one worker at a time, and within the worker a lock per URL makes each
read-modify-write of a state whole (the agent handles several messages of a
partition at once). Two workers can overlap only during a rebalance, for the
messages in flight then.

Every message is opened first (``streams.messages.seal``): a LivenessStart
must be the worker's, a RecheckRequest the worker's or the operator's.

``due_rechecks`` is the leader's periodic scan of the states for checks that
are due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from archivers.clock import iso
from archivers.custody.ledger import CustodyEvent
from archivers.custody.liveness import LivenessState, Schedule, begin, check, due, state_key
from archivers.media.ytdlp import extractor_recognises
from archivers.net.fetcher import Fetcher
from archivers.store.base import ObjectStore
from archivers.urls import surt
from streams.agents.routing import Router, with_store
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import SubmitRequest
from streams.messages.custody import (
    LIVENESS_START,
    custody_json,
    decode_recheck,
    liveness_json,
    recheck_json,
)

log = logging.getLogger("warcflow.liveness")

REQUEUE_AFTER = 900.0
"""Seconds before the scheduler asks again for a check it already queued."""


class RecheckStage(Router):
    stage_name = "recheck"

    def __init__(
        self,
        fetcher: Fetcher,
        store: ObjectStore,
        schedule: Schedule,
        recapture_on_change: bool,
        *args,
        extractor: Callable[[str], Awaitable[tuple[str, str] | None]] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fetcher = fetcher
        self.extractor = extractor
        self.store = store
        self.schedule = schedule
        self.recapture_on_change = recapture_on_change
        self._queued: dict[str, float] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """url → (its lock, how many handlers hold or wait for it)."""

    async def on_recheck(self, message: SourceMessage) -> str:
        return await self.shielded(message, self._on_recheck)

    async def _on_recheck(self, message: SourceMessage) -> str:
        try:
            self.open(message)  # a recheck or liveness start of a role that may ask
            request = decode_recheck(message.value)
        except Undecodable as exc:
            return await self.dead_letter(message, exc.reason, str(exc))
        url = request["url"]
        lock, users = self._locks.get(url) or (asyncio.Lock(), 0)
        self._locks[url] = (lock, users + 1)
        try:
            async with lock:
                if request["schema"] == LIVENESS_START:
                    await with_store(
                        lambda: begin(
                            self.store,
                            url,
                            request["capture_id"],
                            request.get("final_url"),
                            self.schedule,
                            self.clock(),
                        ),
                        self.pause,
                    )
                    return "started"
                return await self._recheck(message, request)
        finally:
            lock, users = self._locks[url]
            if users == 1:
                del self._locks[url]  # nobody else waits for it: no lock per URL ever seen
            else:
                self._locks[url] = (lock, users - 1)

    async def _recheck(self, message: SourceMessage, request: dict) -> str:
        url = request["url"]
        key = state_key(url)
        state = await with_store(lambda: self._load(key, url), self.pause)
        platform = self.extractor if self.extractor and extractor_recognises(url) else None
        result = await check(self.fetcher, url, state.baseline_digest, self.clock(), platform)
        state.record(result)
        state.next_check_at = iso(self.schedule.next(state.checks, self.clock()))
        await with_store(lambda: self.store.put_state(key, state.to_json()), self.pause)
        self._queued.pop(url, None)
        summary = state.summary()
        await self.send(
            self.names.liveness, surt(url).encode(), liveness_json(url, result, summary)
        )
        latest = state.captures[-1] if state.captures else None
        await self.send(
            self.names.custody,
            (latest or "").encode(),
            custody_json(
                CustodyEvent(
                    event="recheck",
                    event_id=f"recheck:{message.topic}:{message.partition}:{message.offset}",
                    at=result.at,
                    who=request["by"],
                    capture_id=latest,
                    url=url,
                    detail={
                        **asdict(result),
                        "captures": list(state.captures),
                        "last_seen_alive": state.last_seen_alive,
                        "first_seen_gone": state.first_seen_gone,
                    },
                )
            ),
        )
        if result.state == "changed" and self.recapture_on_change:
            again = SubmitRequest.new(
                url, submitted_at=self.clock(), source="recheck", tags=("changed",)
            )
            await self.send(self.names.ingest, self.names.key(url), again.to_json())
        log.info("recheck %s: %s (%s)", url, result.state, result.reason)
        return result.state

    def _load(self, key: str, url: str) -> LivenessState:
        try:
            return LivenessState.from_json(self.store.get_bytes(key))
        except KeyError:
            return LivenessState(url)

    async def due_rechecks(self) -> int:
        """Queue a recheck for every URL whose check is due; the number queued."""
        now = self.clock()
        states = await with_store(lambda: list(self._states()), self.pause)
        queued = 0
        for state in states:
            if not due(state, now):
                continue
            if time.monotonic() - self._queued.get(state.url, -REQUEUE_AFTER) < REQUEUE_AFTER:
                continue
            self._queued[state.url] = time.monotonic()
            await self.send(
                self.names.recheck,
                self.names.key(state.url),
                recheck_json(state.url, now, "schedule"),
            )
            queued += 1
        return queued

    def _states(self):
        for key in self.store.list_keys("liveness/"):
            try:
                yield LivenessState.from_json(self.store.get_bytes(key))
            except (KeyError, ValueError):
                continue
