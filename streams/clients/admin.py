"""Administering the cluster: creating the topics warcflow needs."""

from __future__ import annotations

from streams.topics import TopicNames


def ensure_topics(
    bootstrap: str,
    names: TopicNames,
    *,
    partitions: int,
    replication: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the missing topics; return the names created. Idempotent.

    With ``replication`` of 3 or more, ``min.insync.replicas`` is one less, so
    that with the producers' acks=all a message is on two brokers before it
    counts as sent, and one broker can be down without stopping anything.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        client_id="warcflow-admin",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        existing = set(admin.list_topics())
        durability = {"min.insync.replicas": str(replication - 1)} if replication >= 3 else {}
        wanted = [
            NewTopic(
                name,
                names.partitions(name, partitions),
                replication,
                topic_configs={**config, **durability},
            )
            for name, config in names.all().items()
            if name not in existing
        ]
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic], timeout_ms=int(timeout * 1000))
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
