"""Topic names and their creation.

Names are ``<prefix>.ingest``, ``<prefix>.captures``, ``<prefix>.dead-letter``,
``<prefix>.retry.<stage>``, ``<prefix>.media``, ``<prefix>.liveness``,
``<prefix>.recheck``, ``<prefix>.custody`` (one partition: the ledger's
single writer) and the watchers' ``<prefix>.watches`` and
``<prefix>.watch-seen``; the prefix (default ``warcflow``) lets several
deployments share one cluster. The event log and the dead-letter topic keep
messages forever (``retention.ms=-1``): they are the record of what happened.
The watchers' two topics are compacted: the latest value per key is their state.
"""

from __future__ import annotations

from dataclasses import dataclass

FOREVER = {"retention.ms": "-1"}
WEEK = {"retention.ms": str(7 * 24 * 3600 * 1000)}
COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicNames:
    prefix: str = "warcflow"

    @property
    def ingest(self) -> str:
        return f"{self.prefix}.ingest"

    @property
    def media(self) -> str:
        return f"{self.prefix}.media"

    @property
    def captures(self) -> str:
        return f"{self.prefix}.captures"

    @property
    def liveness(self) -> str:
        return f"{self.prefix}.liveness"

    @property
    def custody(self) -> str:
        """Custody events for the ledger: one partition, so one writer, in order."""
        return f"{self.prefix}.custody"

    @property
    def recheck(self) -> str:
        return f"{self.prefix}.recheck"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def watches(self) -> str:
        return f"{self.prefix}.watches"

    @property
    def watch_seen(self) -> str:
        return f"{self.prefix}.watch-seen"

    def retry(self, stage: str) -> str:
        return f"{self.prefix}.retry.{stage}"

    def all(self) -> dict[str, dict[str, str]]:
        """Every topic warcflow uses, with its configuration overrides."""
        return {
            self.ingest: WEEK,
            self.retry("capture"): WEEK,
            self.media: WEEK,
            self.retry("media"): WEEK,
            self.captures: FOREVER,
            self.liveness: FOREVER,
            self.custody: FOREVER,
            self.recheck: WEEK,
            self.dead_letter: FOREVER,
            self.watches: COMPACTED,
            self.watch_seen: COMPACTED,
        }

    def partitions(self, name: str, default: int) -> int:
        """Partitions of topic ``name``: one for the ledger's input, else ``default``."""
        return 1 if name == self.custody else default


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
