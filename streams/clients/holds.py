"""One host budget for the cluster: host holds shared over the hosts topic.

A worker's ``HostHolds`` (``archivers.net.holds``) knows the hosts that asked
*it* to wait. ``HoldsBoard`` makes that the whole cluster's knowledge: each
hold the worker meets is produced, sealed, to ``<prefix>.hosts`` (keyed by
host), and a reader thread of every worker follows that topic from its
beginning — it is compacted, so a worker that starts learns the holds still
running — and takes each hold it is told of. So after one ``429`` from a host,
no worker sends it anything before its ``Retry-After`` is over, whichever
partition a capture of that host lands on.

Invariants: a message on the topic without a good worker seal changes
nothing (logged, skipped), nor does one whose time cannot be held; a hold
told is never announced again (no echo: a worker's own hold comes back as
no news);
how long a hold may last is bounded by the receiving worker
(``HoldSettings.max_seconds``); the board never fails a capture: producing
is retried with backoff on the worker's loop, reading reconnects after the
broker comes back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from archivers.net.holds import Hold, HostHolds
from streams.agents.routing import Producer
from streams.clients.reader import TopicReader, TopicUnavailable
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.hosts import HostHoldMessage, decode_host_hold
from streams.messages.seal import Seals
from streams.settings import KafkaAccess

log = logging.getLogger("warcflow.holds")

SEND_TRIES = 5
RECONNECT_SECONDS = 5.0


class HoldsBoard:
    def __init__(
        self,
        holds: HostHolds,
        access: KafkaAccess,
        topic: str,
        seals: Seals,
        producer: Producer,
        *,
        reader: Callable[[], TopicReader] | None = None,
        who: str = "",
    ) -> None:
        self.holds = holds
        self.topic = topic
        self.seals = seals
        self.producer = producer
        self.who = who
        """The worker the holds it announces were met by (``host:pid``)."""
        self._reader = reader or (
            lambda: TopicReader(access, (topic,), client_id="warcflow-holds", timeout=30.0)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Hold] | None = None
        self._stop = threading.Event()
        self.told = 0
        """Holds of other workers taken (for tests and the log)."""

    def announce(self, hold: Hold) -> None:
        """``HostHolds`` listener: queue ``hold`` for the topic (from any thread)."""
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None and not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, hold)

    async def run(self) -> None:
        """Produce the holds this worker meets, and follow everyone's; until cancelled."""
        self._loop, self._queue = asyncio.get_running_loop(), asyncio.Queue()
        self.holds.subscribe(self.announce)
        threading.Thread(target=self._follow, name="warcflow-holds", daemon=True).start()
        try:
            while True:
                await self._send(await self._queue.get())
        finally:
            self._stop.set()

    async def _send(self, hold: Hold) -> None:
        value = self.seals.seal(
            self.topic, HostHoldMessage(hold.host, hold.until, hold.reason, self.who).to_json()
        )
        for attempt in range(SEND_TRIES):
            try:
                await self.producer.send(self.topic, hold.host.encode(), value)
                return
            except Exception as exc:  # noqa: BLE001 - the board never fails a capture
                log.warning("announcing the hold of %s failed (%s); trying again", hold.host, exc)
                await asyncio.sleep(min(2**attempt, 30))
        log.error("the hold of %s was not announced to the other workers", hold.host)

    def take(self, message: SourceMessage) -> bool:
        """Take the hold a message tells of; True if it lengthened a host's hold."""
        try:
            self.seals.open(self.topic, message.value)  # Undecodable unless a worker sealed it
            told = decode_host_hold(message.value)
        except Undecodable as exc:
            log.warning(
                "ignoring message %s/%d@%d on the hosts topic: %s",
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
            return False
        try:  # our own comes back too: not longer than the hold we took, so no news
            taken = self.holds.hold(
                Hold(told.host, told.until, f"{told.reason}, met by {told.by}"), announce=False
            )
        except (ValueError, OverflowError) as exc:  # a time no clock can hold
            log.warning("ignoring the hold of %s on the hosts topic: %s", told.host, exc)
            return False
        if taken:
            self.told += 1
            log.warning(
                "%s is on hold until %s (%s, met by %s): not sending it anything before",
                told.host,
                told.until.isoformat(),
                told.reason,
                told.by,
            )
        return taken

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                with self._reader() as reader:
                    while not self._stop.is_set():
                        for message in reader.poll(1.0):
                            self.take(message)
            except TopicUnavailable as exc:
                log.warning("following the hosts topic: %s; reconnecting", exc)
            except Exception:
                log.exception("following the hosts topic failed; reconnecting")
            self._stop.wait(RECONNECT_SECONDS)


def attach(app, board: HoldsBoard) -> None:
    """Run ``board`` in ``app`` (a faust app) on every worker, not only the leader."""

    @app.task
    async def host_holds():
        await board.run()
