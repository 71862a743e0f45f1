"""The book kept in Kafka: the watches and watch-seen topics, read and written.

``WatchLog`` follows both topics for the worker: one consumer, no group (each
worker reads everything), caught up to the end offsets of the moment before
every round of polling, so a worker that takes over the watchers knows what
the previous one submitted. ``read_book`` is the one-shot read for commands.
"""

from __future__ import annotations

import time

from streams.clients.reader import TopicUnavailable, read_topic
from streams.topics import TopicNames
from streams.watchers.book import WatchBook
from streams.watchers.definitions import Watch


class WatchLog:
    def __init__(self, bootstrap: str, names: TopicNames, *, timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.names = names
        self.timeout = timeout
        self._consumer = None
        self._partitions: list = []

    def _open(self):
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), group_id=None,
                                 enable_auto_commit=False, client_id="warcflow-watchers",
                                 request_timeout_ms=int(self.timeout * 1000) + 1000)
        tps = []
        for topic in (self.names.watches, self.names.watch_seen):
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                consumer.close()
                raise TopicUnavailable(f"there is no topic {topic}")
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        self._consumer, self._partitions = consumer, tps

    def catch_up(self, book: WatchBook) -> int:
        """Apply every new record up to the current end offsets to ``book``
        (blocking); the number applied."""
        return apply(book, self.read_new())

    def read_new(self) -> list[tuple[str, bytes | None, bytes | None]]:
        """The records (topic, key, value) after those read before, up to the
        current end offsets (blocking; a worker calls it in a thread and applies
        the records on its event loop). TopicUnavailable if the broker does not
        answer."""
        from kafka.errors import KafkaError

        try:
            if self._consumer is None:
                self._open()
            consumer = self._consumer
            ends = consumer.end_offsets(self._partitions)
            records = []
            deadline = time.monotonic() + self.timeout
            while any(consumer.position(tp) < ends[tp] for tp in self._partitions):
                if time.monotonic() > deadline:
                    raise TopicUnavailable(f"reading the watch topics stalled for "
                                           f"{self.timeout:g} s")
                for tp, batch in consumer.poll(timeout_ms=1000).items():
                    records += [(tp.topic, r.key, r.value) for r in batch]
            return records
        except KafkaError as exc:
            self.close()
            raise TopicUnavailable(f"reading the watch topics: {exc}") from None
        except TopicUnavailable:
            self.close()
            raise

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None


def apply(book: WatchBook, records) -> int:
    """Apply (topic, key, value) records of either watch topic to ``book``."""
    for topic, key, value in records:
        if topic.endswith(".watches"):
            book.apply_watch(key, value)
        else:
            book.apply_seen(key, value)
    return len(records)


def read_book(bootstrap: str, names: TopicNames, configured: tuple[Watch, ...] = (), *,
              with_seen: bool = True) -> WatchBook:
    """The book as it stands now (TopicUnavailable if the broker or topics are missing)."""
    book = WatchBook(configured)
    for record in read_topic(bootstrap, names.watches):
        book.apply_watch(record.key, record.value)
    if with_seen:
        for record in read_topic(bootstrap, names.watch_seen):
            book.apply_seen(record.key, record.value)
    return book
