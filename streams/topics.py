"""Topic names, and what each topic keeps.

Names are ``<prefix>.ingest``, ``<prefix>.captures``, ``<prefix>.dead-letter``,
``<prefix>.retry.<stage>``, ``<prefix>.media``, ``<prefix>.liveness``,
``<prefix>.recheck``, ``<prefix>.custody`` (one partition: the ledger's
single writer) and the watchers' ``<prefix>.watches`` and
``<prefix>.watch-seen``; the prefix (default ``warcflow``) lets several
deployments share one cluster. The event log and the dead-letter topic keep
messages forever (``retention.ms=-1``): they are the record of what happened.
The watchers' two topics are compacted: the latest value per key is their state.
Creating them is ``streams.clients.admin.ensure_topics``.
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
