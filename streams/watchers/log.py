"""The book kept in Kafka: the watches and watch-seen topics, read and written.

``WatchLog`` follows both topics for the worker: one consumer, no group (each
worker reads everything), caught up to the end offsets of the moment before
every round of polling, so a worker that takes over the watchers knows what
the previous one submitted. ``read_book`` is the one-shot read for commands.
"""

from __future__ import annotations

from streams.clients.reader import TopicReader, TopicUnavailable, read_topic
from streams.settings import KafkaAccess
from streams.topics import TopicNames
from streams.watchers.book import WatchBook
from streams.watchers.definitions import Watch


class WatchLog:
    def __init__(self, access: KafkaAccess, names: TopicNames, *, timeout: float = 30.0) -> None:
        self.access = access
        self.names = names
        self.timeout = timeout
        self._reader: TopicReader | None = None

    def read_new(self) -> list[tuple[str, bytes | None, bytes | None]]:
        """The records (topic, key, value) after those read before, up to the
        current end offsets (blocking; a worker calls it in a thread and applies
        the records on its event loop). TopicUnavailable if the broker does not
        answer."""
        try:
            if self._reader is None:
                self._reader = TopicReader(
                    self.access,
                    (self.names.watches, self.names.watch_seen),
                    client_id="warcflow-watchers",
                    timeout=self.timeout,
                )
            return [(r.topic, r.key, r.value) for r in self._reader.read_to_end()]
        except TopicUnavailable:
            self.close()
            raise

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()


def apply(book: WatchBook, records) -> int:
    """Apply (topic, key, value) records of either watch topic to ``book``."""
    for topic, key, value in records:
        if topic.endswith(".watches"):
            book.apply_watch(key, value)
        else:
            book.apply_seen(key, value)
    return len(records)


def read_book(
    access: KafkaAccess,
    names: TopicNames,
    configured: tuple[Watch, ...] = (),
    *,
    with_seen: bool = True,
    min_every: float = 0.0,
) -> WatchBook:
    """The book as it stands now (TopicUnavailable if the broker or topics are missing)."""
    book = WatchBook(configured, min_every=min_every)
    for record in read_topic(access, names.watches):
        book.apply_watch(record.key, record.value)
    if with_seen:
        for record in read_topic(access, names.watch_seen):
            book.apply_seen(record.key, record.value)
    return book
