"""Administering the cluster: the topics warcflow needs, its users and their ACLs.

Creating topics, users and ACLs needs the admin principal (a super user);
``missing_topics`` is what any role may ask (it lists only the topics it may
describe). Every call is idempotent: ``warcflow up`` and ``warcflow provision``
run them at every start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streams.access import Grant
from streams.settings import KafkaAccess
from streams.topics import TopicNames


class AdminError(Exception):
    """The broker refused an administrative request; the message says which."""


def _admin(access: KafkaAccess, timeout: float):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        **access.client_kwargs(),
        client_id="warcflow-admin",
        request_timeout_ms=int(timeout * 1000),
    )


def ensure_topics(
    access: KafkaAccess,
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
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError

    admin = _admin(access, timeout)
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
            except TopicAuthorizationFailedError:
                raise AdminError(
                    f"topic {topic.name} is missing and {access.user or 'this client'} may not "
                    "create it: run `warcflow up` (local stack) or `warcflow provision` "
                    "with the admin credentials"
                ) from None
        return created
    finally:
        admin.close()


def missing_topics(access: KafkaAccess, names: TopicNames, *, timeout: float = 30.0) -> list[str]:
    """The topics of ``names`` this principal cannot see (absent, or not its to use)."""
    admin = _admin(access, timeout)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    return [name for name in names.all() if name not in existing]


def ensure_users(
    access: KafkaAccess, passwords: Mapping[str, str], *, timeout: float = 30.0
) -> None:
    """Set the SCRAM-SHA-512 password of each user (created if new). The
    broker keeps only a salted hash; a changed password applies to new
    connections. AdminError naming the users the broker refused."""
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    if not passwords:
        return
    admin = _admin(access, timeout)
    try:
        result = admin.alter_user_scram_credentials(
            [
                UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password)
                for user, password in passwords.items()
            ]
        )
    finally:
        admin.close()
    # kafka-python reports refusals per user as strings, it does not raise
    refused = {user: error for user, error in result.items() if error}
    if refused:
        raise AdminError(
            "the broker refused to set credentials: "
            + "; ".join(f"{user}: {error}" for user, error in sorted(refused.items()))
        )


def _acl(grant: Grant, operation: str):
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    return ACL(
        f"User:{grant.role}",
        "*",
        ACLOperation[operation],
        ACLPermissionType.ALLOW,
        ResourcePattern(
            ResourceType[grant.resource.upper()],
            grant.name,
            ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
        ),
    )


def ensure_acls(access: KafkaAccess, grants: Iterable[Grant], *, timeout: float = 30.0) -> int:
    """Allow every grant's operations (creating an ACL that exists is a no-op
    for the broker); the number of ACLs asked for. AdminError if any is refused."""
    acls = [_acl(grant, operation) for grant in grants for operation in grant.operations]
    admin = _admin(access, timeout)
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    if result["failed"]:
        raise AdminError(f"the broker refused ACLs: {result['failed']}")
    return len(acls)
