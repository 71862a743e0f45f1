"""Reading the captures topic as a log: every event, in order, from saved offsets.

The captures topic keeps its events forever, so a reader that stores its own
offsets together with what it derived from them (the viewer's catalog, in one
SQLite transaction) has exactly-once derived state and can be rebuilt from
offset 0 at any time. No consumer group: each reader owns its position.

Any client can write to the topic, so every record becomes a ``FeedEvent``:
an event is a JSON object; anything else (not JSON, nested too deep, an
array) comes with ``event`` None and ``problem`` saying why, so the reader
can record it and move on. Nothing a record holds can stop the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from streams.clients.reader import TopicReader
from streams.messages.base import Undecodable, parse_json
from streams.settings import KafkaAccess

log = logging.getLogger("warcflow.feed")


@dataclass(frozen=True)
class FeedEvent:
    partition: int
    offset: int
    event: dict | None  # None: not a JSON object (``problem`` says why; its offset counts)
    problem: str | None = None


class CaptureFeed:
    def __init__(self, access: KafkaAccess, topic: str) -> None:
        self.access = access
        self.topic = topic
        self._reader: TopicReader | None = None

    def poll(self, start: Mapping[int, int], timeout: float = 1.0) -> Iterator[FeedEvent]:
        """Events after ``start`` (partition → next offset) that arrive within ``timeout``."""
        if self._reader is None:
            self._reader = TopicReader(
                self.access,
                (self.topic,),
                client_id="warcflow-viewer-feed",
                start={(self.topic, p): offset for p, offset in start.items()},
            )
        for record in self._reader.poll(timeout):
            try:
                event = parse_json(record.value)
                problem = None if isinstance(event, dict) else "the JSON value is not an object"
            except Undecodable as exc:
                event, problem = None, f"{exc.reason}: {exc}"
            if problem:
                log.warning(
                    "capture feed: %s/%d/%d is not an event (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    problem,
                )
                yield FeedEvent(record.partition, record.offset, None, problem)
            else:
                yield FeedEvent(record.partition, record.offset, event)

    def follow(
        self,
        start: Callable[[], Mapping[int, int]],
        handle: Callable[[list[FeedEvent]], None],
        stopped: Callable[[], bool],
        timeout: float = 1.0,
    ) -> None:
        """Call ``handle`` with the events of each poll (in order, at most
        ``max_poll_records`` of them) until ``stopped()``; reopens after errors.

        ``handle`` must persist the events' offsets with their effects; if it
        raises, the feed reopens from ``start()`` and the events it had not
        recorded come again — so it must raise only for what is worth waiting out
        (the broker or the store away), and record what it cannot apply instead
        (the viewer's catalog quarantines it).
        """
        import time

        delay = 1.0
        while not stopped():
            try:
                batch = list(self.poll(start(), timeout))
                if batch:
                    handle(batch)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - keep following; the log says why
                log.warning("capture feed: %s; retrying in %.0f s", exc, delay)
                self.close()
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
