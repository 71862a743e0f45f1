"""Who may do what on warcflow's topics: the Kafka principal of each role and its ACLs.

The broker authenticates every client (SASL/SCRAM-SHA-512) and authorises
every request with Kafka's ``StandardAuthorizer``, denying what no ACL allows
(``allow.everyone.if.no.acl.found=false``). Each role is one principal,
``User:<role>``; ``grants`` is the one table of what each may do on the topics
of one prefix, and ``streams.clients.admin.ensure_acls`` makes it so
(``warcflow up``, ``warcflow provision``). docs/operations.md, "Roles",
shows the same table for people.

    submitter  WRITE ingest                          warcflow submit, kcat, any client
    viewer     READ captures; WRITE custody, ingest  catalog feed; download events; its form
    worker     READ WRITE every <prefix>. topic;     the agents (faust), watchers, ledger
               its consumer group; faust's leader
               topic (READ: made by the admin)
    operator   READ WRITE every <prefix>. topic,     the CLI: dlq, reconcile, fixity,
               no consumer group                     export, report, watch, case, recheck,
                                                     ledger head
    admin      super user (broker configuration)     warcflow up / provision / rotate

``DESCRIBE`` goes with every topic grant (clients look topics up before
using them). No role but admin may create or delete topics, alter configs
or ACLs, or manage users. The worker and the operator can still write the
internal topics (retry, media, custody): that is inherent while the ledger
and the retries run in the worker; what they write is checked by the stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.topics import TopicNames

ROLES = ("submitter", "viewer", "worker", "operator")
"""The roles that get ACLs (admin is a super user instead)."""

ADMIN = "admin"


@dataclass(frozen=True)
class Grant:
    """``operations`` allowed to ``User:<role>`` on a topic or group named
    ``name`` (``prefixed``: every name that starts with it)."""

    role: str
    resource: str  # topic | group
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False


def grants(names: TopicNames) -> list[Grant]:
    """Every ACL of the roles on the topics and group of ``names``'s prefix."""
    everything = f"{names.prefix}."
    return [
        Grant("submitter", "topic", names.ingest, ("WRITE", "DESCRIBE")),
        Grant("viewer", "topic", names.captures, ("READ", "DESCRIBE")),
        Grant("viewer", "topic", names.custody, ("WRITE", "DESCRIBE")),
        Grant("viewer", "topic", names.ingest, ("WRITE", "DESCRIBE")),
        Grant("worker", "topic", everything, ("READ", "WRITE", "DESCRIBE"), prefixed=True),
        Grant("worker", "group", names.group, ("READ",)),
        Grant("worker", "topic", names.leader, ("READ", "DESCRIBE")),
        Grant("operator", "topic", everything, ("READ", "WRITE", "DESCRIBE"), prefixed=True),
    ]
