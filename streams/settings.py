"""Settings of the Kafka side, built once by the entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.messages.seal import MacKey, Seals
from streams.topics import TopicNames

SASL_MECHANISM = "SCRAM-SHA-512"
"""The SASL mechanism every warcflow client and the local broker use."""


@dataclass(frozen=True)
class KafkaAccess:
    """Where the brokers are and who this process is to them.

    ``user`` empty: no authentication (plain TCP, for a broker without SASL);
    otherwise SASL/SCRAM-SHA-512 over ``SASL_PLAINTEXT``. ``client_kwargs``
    is the one place a client's connection arguments are made: every
    kafka-python client outside faust takes them, and faust's credentials are
    built from the same fields (``streams.app``).
    """

    bootstrap: str = "127.0.0.1:9092"
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def servers(self) -> list[str]:
        return [server.strip() for server in self.bootstrap.split(",") if server.strip()]

    def client_kwargs(self) -> dict[str, Any]:
        """kafka-python's connection arguments (KafkaProducer, KafkaConsumer,
        KafkaAdminClient): the servers and, with a user, SASL/SCRAM."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.servers}
        if self.user:
            kwargs.update(
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=SASL_MECHANISM,
                sasl_plain_username=self.user,
                sasl_plain_password=self.password,
            )
        return kwargs

    def who(self) -> str:
        """For messages: the broker and the user, never the password."""
        return f"{self.bootstrap} as {self.user}" if self.user else f"{self.bootstrap} (no SASL)"

    def unreachable(self, detail: object) -> str:
        """The error for a broker that did not let us in. Clients report refused
        credentials only as a bootstrap timeout (the SASL error is in their
        debug log), so the message names both causes."""
        return (
            f"cannot reach the Kafka broker at {self.who()}: {detail} (if it answers, it "
            "refused these credentials: check WARCFLOW_KAFKA_USER and WARCFLOW_KAFKA_PASSWORD, "
            "or the credentials file, WARCFLOW_CREDENTIALS)"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff. Times in seconds.

    Attempt ``n`` (1-based) that fails transiently is retried after
    ``min(max_delay, base_delay * 2**(n-1))`` ± 20 % jitter, until
    ``max_attempts`` attempts in all have failed; then the message goes to the
    dead-letter topic with the history of reasons.
    """

    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int, jitter: float = 0.0) -> float:
        """Seconds to wait after failed attempt ``attempt``; ``jitter`` in [-1, 1]."""
        raw = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return max(0.0, raw * (1 + 0.2 * jitter))


@dataclass(frozen=True)
class StreamSettings:
    kafka: KafkaAccess = KafkaAccess()
    mac_keys: tuple[MacKey, ...] = field(default=(), repr=False)
    """The MAC keys this process holds (``streams.messages.seal``)."""
    role: str = ""
    """Whose first key in ``mac_keys`` seals what this process makes."""
    topic_prefix: str = "warcflow"
    partitions: int = 4
    spread_sites: frozenset[str] = frozenset()
    """Sites keyed by URL, not by site (``streams.keys``, WARCFLOW_SPREAD_SITES)."""
    replication: int = 1
    concurrency: int = 16
    drain_seconds: float = 20.0
    """Seconds a stopping worker gives the messages in flight (``streams.app``)."""
    media_concurrency: int = 2
    processes: int = 1
    """Capture processes of ``warcflow worker`` (0: one per core)."""
    retry: RetryPolicy = RetryPolicy()
    metrics_address: str = ""
    """HOST:PORT of the worker's /metrics and /healthz; empty: not served."""
    canary_url: str = ""
    """A known video the worker captures (and discards) every ``canary_every``
    seconds to notice a broken extractor; empty: no canary."""
    canary_every: float = 3600.0
    head_every: float = 60.0
    """Seconds between two signed ledger heads (only when entries were added)."""
    fixity_every: float = 86400.0
    """Seconds between two scheduled fixity runs over every capture; 0: never."""
    recheck_delays: tuple[float, ...] = (300.0, 3600.0, 21600.0, 86400.0, 604800.0)
    """Seconds from capture to the first recheck, then between rechecks (last repeats)."""
    recapture_on_change: bool = False

    @property
    def seals(self) -> Seals:
        return Seals(self.mac_keys, self.role)

    @property
    def app_id(self) -> str:
        """Faust app id, which is also the consumer group (``TopicNames.group``)."""
        return TopicNames(self.topic_prefix).group
