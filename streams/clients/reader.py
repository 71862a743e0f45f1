"""Reading a topic as it stands now: every record up to the end offsets at the start.

For operators' commands (``warcflow dlq``, ``warcflow reconcile``) that look at
the record of what happened, not at live traffic: no consumer group, nothing
committed, so reading never disturbs the agents.
"""

from __future__ import annotations

from typing import Iterator

from streams.messages.base import SourceMessage


class TopicUnavailable(Exception):
    """The broker could not be reached, or the topic does not exist."""


def read_topic(bootstrap: str, topic: str, *, since_ms: int | None = None,
               timeout: float = 30.0) -> Iterator[SourceMessage]:
    """Each record of ``topic`` from ``since_ms`` (broker timestamps; default the
    beginning) to the end offsets as they were when reading began, partition by
    partition in offset order. Raises TopicUnavailable."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                                 enable_auto_commit=False, client_id="warcflow-reader",
                                 request_timeout_ms=int(timeout * 1000) + 1000)
    except KafkaError as exc:
        raise TopicUnavailable(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from None
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicUnavailable(f"there is no topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        if since_ms is None:
            consumer.seek_to_beginning(*tps)
        else:
            starts = consumer.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
        todo = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while todo:
            batch = consumer.poll(timeout_ms=int(timeout * 1000))
            if not batch:
                raise TopicUnavailable(f"reading {topic} stalled for {timeout:g} s")
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        yield SourceMessage(r.topic, r.partition, r.offset, r.timestamp, r.key,
                                            r.value, tuple((k, v) for k, v in (r.headers or [])))
                if consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
                    consumer.pause(tp)
    except KafkaError as exc:
        raise TopicUnavailable(f"reading {topic}: {exc}") from None
    finally:
        consumer.close()
