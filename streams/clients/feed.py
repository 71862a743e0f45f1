"""Reading the captures topic as a log: every event, in order, from saved offsets.

The captures topic keeps its events forever, so a reader that stores its own
offsets together with what it derived from them (the viewer's catalog, in one
SQLite transaction) has exactly-once derived state and can be rebuilt from
offset 0 at any time. No consumer group: each reader owns its position.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

log = logging.getLogger("warcflow.feed")


@dataclass(frozen=True)
class FeedEvent:
    partition: int
    offset: int
    event: dict | None  # None: the message was not JSON (skipped, but its offset counts)


class CaptureFeed:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._consumer = None

    def _open(self, start: Mapping[int, int]):
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","),
                                 enable_auto_commit=False, group_id=None,
                                 client_id="warcflow-viewer-feed")
        partitions = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:
            if tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        return consumer

    def poll(self, start: Mapping[int, int], timeout: float = 1.0) -> Iterator[FeedEvent]:
        """Events after ``start`` (partition → next offset) that arrive within ``timeout``."""
        if self._consumer is None:
            self._consumer = self._open(start)
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
            for record in records:
                try:
                    event = json.loads(record.value)
                except (TypeError, ValueError):
                    log.warning("skipping a non-JSON message at %s/%d/%d", tp.topic,
                                tp.partition, record.offset)
                    event = None
                yield FeedEvent(tp.partition, record.offset, event)

    def follow(self, start: Callable[[], Mapping[int, int]], handle: Callable[[FeedEvent], None],
               stopped: Callable[[], bool], timeout: float = 1.0) -> None:
        """Call ``handle`` for every event until ``stopped()``; reopens after errors.

        ``handle`` must persist the event's offset with its effects; if it raises,
        the feed reopens from ``start()`` and the event comes again.
        """
        import time

        delay = 1.0
        while not stopped():
            try:
                for item in self.poll(start(), timeout):
                    handle(item)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - keep following; the log says why
                log.warning("capture feed: %s; retrying in %.0f s", exc, delay)
                self.close()
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None
