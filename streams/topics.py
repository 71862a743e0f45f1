"""Topic names, and what each topic keeps.

Names are ``<prefix>.ingest``, ``<prefix>.captures``, ``<prefix>.dead-letter``,
``<prefix>.retry.<stage>``, ``<prefix>.media``, ``<prefix>.liveness``,
``<prefix>.recheck``, ``<prefix>.custody`` (one partition: the ledger's
single writer), ``<prefix>.hosts`` (hosts on hold, read by every worker:
``streams.clients.holds``), the watchers' ``<prefix>.watches`` and
``<prefix>.watch-seen``, and ``<prefix>.cases`` (the case records); the
prefix (default ``warcflow``) lets several deployments share one cluster.
The workers' consumer group is ``<prefix>-agents`` (the faust app id), and
faust elects the group's leader through
``<prefix>-agents-__assignor-__leader`` (one partition), which is made here
with the others: the workers may not create topics (docs/operations.md,
"Roles"). The event log and the dead-letter topic keep
messages forever (``retention.ms=-1``): they are the record of what happened.
The watchers' two topics and the cases topic are compacted: the latest value
per key is their state; so is the hosts topic, whose holds also expire (a day).
Creating them is ``streams.clients.admin.ensure_topics``. Messages on the
internal topics of ``sealed`` carry the seal of the role that made them.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.keys import site_key

FOREVER = {"retention.ms": "-1"}
WEEK = {"retention.ms": str(7 * 24 * 3600 * 1000)}
COMPACTED = {"cleanup.policy": "compact"}
EXPIRING_STATE = {"cleanup.policy": "compact,delete", "retention.ms": str(24 * 3600 * 1000)}


@dataclass(frozen=True)
class TopicNames:
    prefix: str = "warcflow"
    spread: frozenset[str] = frozenset()
    """Sites whose messages are keyed by URL, not by site (WARCFLOW_SPREAD_SITES)."""

    def key(self, url: str) -> bytes:
        """The key of every message about the page ``url`` on the ingest, retry,
        media, recheck and captures topics: its site (``streams.keys``), so one
        worker process owns a site."""
        return site_key(url, self.spread)

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
    def hosts(self) -> str:
        """Hosts on hold (``streams.messages.hosts``), keyed by host; every worker reads all."""
        return f"{self.prefix}.hosts"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def watches(self) -> str:
        return f"{self.prefix}.watches"

    @property
    def watch_seen(self) -> str:
        return f"{self.prefix}.watch-seen"

    @property
    def cases(self) -> str:
        """Case records (``streams.messages.cases``), keyed by case id; compacted."""
        return f"{self.prefix}.cases"

    def retry(self, stage: str) -> str:
        return f"{self.prefix}.retry.{stage}"

    @property
    def group(self) -> str:
        """The workers' consumer group, which is also the faust app id."""
        return f"{self.prefix}-agents"

    @property
    def leader(self) -> str:
        """faust's leader-election topic of the workers' group (its own name rule)."""
        return f"{self.group}-__assignor-__leader"

    def sealed(self) -> frozenset[str]:
        """The internal topics whose messages carry their maker's seal
        (``streams.messages.seal``): every message on them is made by a
        warcflow role and opened by a stage before any effect."""
        return frozenset(
            {
                self.retry("capture"),
                self.retry("media"),
                self.media,
                self.captures,
                self.custody,
                self.recheck,
                self.hosts,
            }
        )

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
            self.cases: COMPACTED,
            self.hosts: EXPIRING_STATE,
            self.leader: {},
        }

    def partitions(self, name: str, default: int) -> int:
        """Partitions of topic ``name``: one for the ledger's input and for faust's
        leader election, else ``default``."""
        return 1 if name in (self.custody, self.leader) else default
