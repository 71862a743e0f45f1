"""Topic creation: names, retention, and durability on a replicated cluster."""

from typing import ClassVar

import kafka.admin

from streams.clients.admin import ensure_topics
from streams.settings import KafkaAccess
from streams.topics import TopicNames


class FakeAdmin:
    created: ClassVar[list] = []

    def __init__(self, **kwargs):
        pass

    def list_topics(self):
        return ["warcflow.ingest"]  # already there: left alone

    def create_topics(self, topics, timeout_ms):
        FakeAdmin.created.extend(topics)

    def close(self):
        pass


def test_replicated_topics_need_two_in_sync_replicas(monkeypatch):
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", FakeAdmin)
    FakeAdmin.created = []
    created = ensure_topics(KafkaAccess("b:9092"), TopicNames(), partitions=8, replication=3)
    assert "warcflow.ingest" not in created and "warcflow.captures" in created
    by_name = {t.name: t for t in FakeAdmin.created}
    captures = by_name["warcflow.captures"]
    assert (captures.num_partitions, captures.replication_factor) == (8, 3)
    assert dict(captures.topic_configs) == {"retention.ms": "-1", "min.insync.replicas": "2"}


def test_a_single_broker_gets_no_in_sync_requirement(monkeypatch):
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", FakeAdmin)
    FakeAdmin.created = []
    ensure_topics(KafkaAccess("b:9092"), TopicNames(), partitions=4)
    assert len(FakeAdmin.created) == len(TopicNames().all()) - 1  # all but the one that exists
    assert all("min.insync.replicas" not in dict(t.topic_configs) for t in FakeAdmin.created)
