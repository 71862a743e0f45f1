"""Reading topics outside faust: one consumer, no group, our own positions.

``TopicReader`` is the one Kafka reader of everything that is not an agent:
operators' commands (``warcflow dlq``, ``reconcile``: ``read_topic``), the
viewer's capture feed (``streams.clients.feed``), the watchers' book
(``streams.watchers.log``) and the redelivery check
(``streams.clients.eventlog``). No consumer group and nothing committed, so
reading never disturbs the agents; each reader owns its position.

Two ways to read:
- ``read_to_end``: every record up to the end offsets as they are when the
  call starts (a snapshot of what happened), partition by partition in
  offset order; ``TopicUnavailable`` if the broker stops answering for
  ``timeout`` seconds before the end is reached;
- ``poll``: whatever arrives within ``timeout`` after the current positions
  (following live traffic).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from streams.messages.base import SourceMessage
from streams.settings import KafkaAccess


class TopicUnavailable(Exception):
    """The broker could not be reached, or the topic does not exist."""


class TopicReader:
    """A group-less kafka-python consumer over every partition of ``topics``.

    ``start``: ``None`` reads from the beginning; an int is a broker timestamp
    (ms) to start from; a mapping ``(topic, partition) → offset`` gives exact
    positions (partitions it does not name start at the beginning).
    """

    def __init__(
        self,
        access: KafkaAccess,
        topics: tuple[str, ...] | list[str],
        *,
        client_id: str = "warcflow-reader",
        timeout: float = 30.0,
        start: int | Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        self.timeout = timeout
        try:
            self._consumer = KafkaConsumer(
                **access.client_kwargs(),
                group_id=None,
                enable_auto_commit=False,
                client_id=client_id,
                request_timeout_ms=int(timeout * 1000) + 1000,
            )
        except KafkaError as exc:
            raise TopicUnavailable(access.unreachable(exc)) from None
        try:
            self.partitions = []
            for topic in topics:
                found = self._consumer.partitions_for_topic(topic)
                if not found:
                    raise TopicUnavailable(
                        f"there is no topic {topic}"
                        + (f" that {access.user} may read" if access.user else "")
                    )
                self.partitions += [TopicPartition(topic, p) for p in sorted(found)]
            self._consumer.assign(self.partitions)
            self._seek(start)
        except KafkaError as exc:
            self.close()
            raise TopicUnavailable(f"reading {', '.join(topics)}: {exc}") from None
        except TopicUnavailable:
            self.close()
            raise

    def _seek(self, start) -> None:
        consumer = self._consumer
        if start is None:
            consumer.seek_to_beginning(*self.partitions)
        elif isinstance(start, int):
            ends = consumer.end_offsets(self.partitions)
            found = consumer.offsets_for_times({tp: start for tp in self.partitions})
            for tp in self.partitions:
                at = found.get(tp)
                consumer.seek(tp, at.offset if at is not None else ends[tp])
        else:
            for tp in self.partitions:
                if (tp.topic, tp.partition) in start:
                    consumer.seek(tp, start[(tp.topic, tp.partition)])
                else:
                    consumer.seek_to_beginning(tp)

    def read_to_end(self) -> Iterator[SourceMessage]:
        """Every record after the current positions up to the end offsets of now."""
        from kafka.errors import KafkaError

        consumer = self._consumer
        try:
            ends = consumer.end_offsets(self.partitions)
            todo = {tp for tp in self.partitions if consumer.position(tp) < ends[tp]}
            for tp in self.partitions:
                if tp in todo:
                    consumer.resume(tp)
                else:
                    consumer.pause(tp)
            deadline = time.monotonic() + self.timeout
            while todo:
                batch = consumer.poll(timeout_ms=1000)
                if not batch and time.monotonic() > deadline:
                    names = sorted({tp.topic for tp in todo})
                    raise TopicUnavailable(
                        f"reading {', '.join(names)} stalled for {self.timeout:g} s"
                    )
                if batch:
                    deadline = time.monotonic() + self.timeout
                for tp, records in sorted(
                    batch.items(), key=lambda item: (item[0].topic, item[0].partition)
                ):
                    for r in records:
                        if r.offset < ends[tp]:
                            yield _message(r)
                    if consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
                        consumer.pause(tp)
            consumer.resume(*self.partitions)
        except KafkaError as exc:
            raise TopicUnavailable(f"reading: {exc}") from None

    def poll(self, timeout: float = 1.0) -> Iterator[SourceMessage]:
        """Records that arrive within ``timeout`` after the current positions."""
        from kafka.errors import KafkaError

        try:
            batch = self._consumer.poll(timeout_ms=int(timeout * 1000))
        except KafkaError as exc:
            raise TopicUnavailable(f"reading: {exc}") from None
        for _tp, records in sorted(
            batch.items(), key=lambda item: (item[0].topic, item[0].partition)
        ):
            for r in records:
                yield _message(r)

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _message(r) -> SourceMessage:
    return SourceMessage(
        r.topic,
        r.partition,
        r.offset,
        r.timestamp,
        r.key,
        r.value,
        tuple((k, v) for k, v in (r.headers or [])),
    )


def read_topic(
    access: KafkaAccess, topic: str, *, since_ms: int | None = None, timeout: float = 30.0
) -> Iterator[SourceMessage]:
    """Each record of ``topic`` from ``since_ms`` (broker timestamps; default the
    beginning) to the end offsets as they were when reading began, partition by
    partition in offset order. Raises TopicUnavailable."""
    with TopicReader(access, (topic,), timeout=timeout, start=since_ms) as reader:
        yield from reader.read_to_end()
