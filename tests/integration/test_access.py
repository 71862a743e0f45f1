"""Who may do what, as the real broker and the real S3 server enforce it.

Each role's credentials are the ones `warcflow up` made for the session's
stack (tests/support/stack.py); every refusal asserted here is the server's
own (a SASL failure, TopicAuthorizationFailed, AccessDenied), never ours.
docs/operations.md, "Roles", is the table these tests hold.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from archivers.custody.fixity import object_digest
from archivers.store.s3 import S3Store
from streams.settings import KafkaAccess
from tests.support.stack import ROOT, cli, kafka_of, poll, settings_of, store_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(stack):
    """A prefix and a bucket of their own, provisioned as `warcflow up` does."""
    return stack.agent_env("a", "127.0.0.1:1")


def produce(access: KafkaAccess, topic: str, value: bytes = b"https://example.org/x"):
    producer = KafkaProducer(
        **access.client_kwargs(),
        max_block_ms=5000,
        request_timeout_ms=5000,
        bootstrap_timeout_ms=5000,
        retries=0,
    )
    try:
        return producer.send(topic, value=value).get(10)
    finally:
        producer.close(timeout=2)


def kcat(env, *args: str, stdin: str = "https://example.org/x\n"):
    return subprocess.run(
        ["kcat", "-b", env["WARCFLOW_KAFKA_BOOTSTRAP"], "-X", "message.timeout.ms=5000", *args],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=30,
    )


def sasl(user: str, password: str) -> list[str]:
    return [
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanisms=SCRAM-SHA-512",
        "-X",
        f"sasl.username={user}",
        "-X",
        f"sasl.password={password}",
    ]


# -- Kafka: authentication ---------------------------------------------------------------


def test_the_broker_refuses_clients_without_or_with_wrong_credentials(stack, env):
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    ingest = f"{prefix}.ingest"
    good = kafka_of(env, "submitter")
    assert produce(good, ingest).offset >= 0  # the right password is let in
    log = stack.home / "logs" / "kafka.log"

    def said(text: str) -> int:
        return log.read_text(errors="replace").count(text)

    # kafka-python only says "Unable to bootstrap"; the broker logs why it refused
    refused_before = said("due to invalid credentials with SASL mechanism SCRAM-SHA-512")
    handshake_before = said("during SASL handshake")
    with pytest.raises(KafkaTimeoutError):
        produce(replace(good, password="not-the-password"), ingest)
    with pytest.raises(KafkaTimeoutError):  # plain TCP: the listener speaks SASL only
        produce(KafkaAccess(good.bootstrap), ingest)
    poll(
        lambda: (
            said("due to invalid credentials with SASL mechanism SCRAM-SHA-512") > refused_before
            and said("during SASL handshake") > handshake_before
        ),
        timeout=10,
        what="the broker's log of both refusals",
    )

    # kcat (librdkafka) names the causes itself
    for user, password in ((good.user, "not-the-password"), ("mallory", "guess")):
        wrong = kcat(env, "-P", "-t", ingest, *sasl(user, password))
        assert wrong.returncode == 1 and "SASL authentication error" in wrong.stderr, user
        assert "invalid credentials" in wrong.stderr
    plain = kcat(env, "-P", "-t", ingest)
    assert plain.returncode == 1 and "broker might require SASL authentication" in plain.stderr


def test_the_controller_port_admits_no_anonymous_administrator(stack, env):
    """The controller listener speaks SASL/PLAIN for the broker's own `controller`
    user only: an unauthenticated client cannot change a topic's retention
    through it (with a PLAINTEXT controller, User:ANONYMOUS would have to be a
    super user, and this would succeed)."""
    admin = settings_of(env, "admin", local_stack=True).services
    properties = (stack.home / "kafka" / "server.properties").read_text()
    [voters] = [line for line in properties.splitlines() if line.startswith("controller.quorum")]
    controller = voters.rsplit("@", 1)[1]
    config = stack.home / "ctl-client.properties"
    config.write_text("request.timeout.ms=3000\ndefault.api.timeout.ms=6000\n")
    captures = f"{env['WARCFLOW_TOPIC_PREFIX']}.captures"
    done = subprocess.run(
        [
            "java",
            "-Xmx128m",
            "-cp",
            f"{admin.cache}/kafka-{admin.kafka_version}/libs/*",
            "kafka.admin.ConfigCommand",
            "--bootstrap-controller",
            controller,
            "--command-config",
            str(config),
            "--entity-type",
            "topics",
            "--entity-name",
            captures,
            "--alter",
            "--add-config",
            "retention.ms=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0, done.stdout
    assert "Completed updating config" not in done.stdout
    from kafka.admin import ConfigResource, ConfigResourceType

    client = KafkaAdminClient(**kafka_of(env, "admin").client_kwargs())
    try:
        described = client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, captures, ["retention.ms"])]
        )
    finally:
        client.close()
    assert described["topic"][captures]["retention.ms"]["value"] == "-1"  # forever, unchanged


# -- Kafka: authorisation ----------------------------------------------------------------


def test_the_submitter_may_write_ingest_and_nothing_else(stack, env):
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    submitter = kafka_of(env, "submitter")
    assert produce(submitter, f"{prefix}.ingest").offset >= 0
    for topic in (
        f"{prefix}.custody",
        f"{prefix}.retry.capture",
        f"{prefix}.media",
        f"{prefix}.captures",
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            produce(submitter, topic, b'{"event": "fixity", "detail": "forged"}')
    # kcat with the same credentials is refused by the broker the same way
    refused = kcat(env, "-P", "-t", f"{prefix}.custody", *sasl(submitter.user, submitter.password))
    assert refused.returncode == 1 and "Topic authorization failed" in refused.stderr
    denied = (
        "Principal = User:submitter is Denied operation = DESCRIBE from host = 127.0.0.1 "
        f"on resource = Topic:LITERAL:{prefix}.custody"
    )
    log = stack.home / "logs" / "kafka.log"
    poll(lambda: denied in log.read_text(errors="replace"), timeout=10, what="the denial logged")
    # nor may it read what others submitted
    consumer = KafkaConsumer(**submitter.client_kwargs(), request_timeout_ms=6000)
    try:
        tp = TopicPartition(f"{prefix}.ingest", 0)
        consumer.assign([tp])
        with pytest.raises(TopicAuthorizationFailedError):
            consumer.seek_to_beginning(tp)
            consumer.poll(timeout_ms=5000)
            consumer.position(tp)
    finally:
        consumer.close()


def test_the_viewer_writes_custody_and_ingest_and_reads_captures_only(env):
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    viewer = kafka_of(env, "viewer")
    assert produce(viewer, f"{prefix}.custody", b"{}").offset >= 0  # download events
    assert produce(viewer, f"{prefix}.ingest").offset >= 0  # its submit form
    for topic in (f"{prefix}.captures", f"{prefix}.retry.capture", f"{prefix}.media"):
        with pytest.raises(TopicAuthorizationFailedError):
            produce(viewer, topic, b"{}")


def test_the_worker_uses_its_own_group_and_creates_nothing(env):
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    worker = kafka_of(env, "worker")
    assert produce(worker, f"{prefix}.retry.capture", b"{}").offset >= 0
    rogue = KafkaConsumer(
        f"{prefix}.ingest",
        **worker.client_kwargs(),
        group_id="rogue-group",
        request_timeout_ms=6000,
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            rogue.poll(timeout_ms=5000)
    finally:
        rogue.close()
    admin = KafkaAdminClient(**worker.client_kwargs(), request_timeout_ms=6000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            admin.create_topics([NewTopic(f"{prefix}.evil", 1, 1)])
        refused = admin.alter_user_scram_credentials([])  # nothing asked, nothing refused
        assert refused == {}
    finally:
        admin.close()
    from streams.clients.admin import AdminError, ensure_users

    with pytest.raises(AdminError, match="not authorized"):
        ensure_users(worker, {"worker": "a-new-password-of-its-choosing"})


# -- S3 ----------------------------------------------------------------------------------


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_viewer_and_the_operator_may_only_read(env):
    admin = store_of(env, "admin")
    body = b"evidence"
    admin.client.put_object(Bucket=admin.bucket, Key="warc/read-only.bin", Body=body)
    for role in ("viewer", "operator"):
        store = store_of(env, role)
        assert store.get_bytes("warc/read-only.bin") == body
        for attempt in (
            lambda s=store: s.client.put_object(
                Bucket=s.bucket,
                Key="warc/planted.bin",
                Body=b"x",
                ChecksumSHA256=sha256_b64(b"x"),
            ),
            lambda s=store: s.client.put_object(Bucket=s.bucket, Key="media/x.mp4", Body=b"x"),
            lambda s=store: s.client.delete_object(Bucket=s.bucket, Key="warc/read-only.bin"),
            lambda s=store: s.client.put_bucket_policy(Bucket=s.bucket, Policy="{}"),
        ):
            with pytest.raises(ClientError) as refused:
                attempt()
            assert refused.value.response["Error"]["Code"] == "AccessDenied", role
    assert store_of(env, "viewer").head("warc/planted.bin") is None


def test_the_worker_writes_its_prefixes_but_cannot_destroy_or_unlock(env):
    worker = store_of(env, "worker")
    root = store_of(env, "admin")
    body = b"a capture's bytes"
    digest = hashlib.sha256(body).hexdigest()
    stored = worker.put_if_absent(
        "warc/locked.bin",
        io.BytesIO(body),
        size=len(body),
        sha256=digest,
        content_type="application/warc",
    )
    assert stored is not None and stored.sha256 == digest and stored.version_id
    version = stored.version_id
    with pytest.raises(ClientError, match="AccessDenied"):  # outside its prefixes
        worker.client.put_object(Bucket=worker.bucket, Key="elsewhere/x", Body=body)
    refusals = {
        "delete the version": lambda: worker.client.delete_object(
            Bucket=worker.bucket, Key="warc/locked.bin", VersionId=version
        ),
        "bypass governance": lambda: worker.client.delete_object(
            Bucket=worker.bucket,
            Key="warc/locked.bin",
            VersionId=version,
            BypassGovernanceRetention=True,
        ),
        "shorten the retention": lambda: worker.client.put_object_retention(
            Bucket=worker.bucket,
            Key="warc/locked.bin",
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(UTC)},
        ),
        "unlock the bucket": lambda: worker.client.put_object_lock_configuration(
            Bucket=worker.bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        ),
        "rewrite the policy": lambda: worker.client.put_bucket_policy(
            Bucket=worker.bucket, Policy="{}"
        ),
    }
    for what, attempt in refusals.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied", what
    # the bucket's default retention holds the version even against the root
    with pytest.raises(ClientError, match="object lock"):
        root.client.delete_object(Bucket=root.bucket, Key="warc/locked.bin", VersionId=version)
    assert worker.head("warc/locked.bin", version).version_id == version
    rule = root.retention_rule()
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3650}}
    assert root.ensure_retention() is False  # set once: versitygw counts from then


def test_on_versitygw_the_root_can_still_unlock_and_delete_a_version(env):
    """What docs/operations.md says holds only on MinIO/AWS: versitygw's root
    may give a version a retention that ends now, then delete it."""
    root = store_of(env, "admin")
    put = root.client.put_object(Bucket=root.bucket, Key="warc/doomed.bin", Body=b"x")
    with pytest.raises(ClientError, match="object lock"):
        root.client.delete_object(
            Bucket=root.bucket, Key="warc/doomed.bin", VersionId=put["VersionId"]
        )
    root.client.put_object_retention(
        Bucket=root.bucket,
        Key="warc/doomed.bin",
        VersionId=put["VersionId"],
        Retention={
            "Mode": "GOVERNANCE",
            "RetainUntilDate": datetime.now(UTC) + timedelta(seconds=2),
        },
    )

    def deleted() -> bool:
        try:
            root.client.delete_object(
                Bucket=root.bucket, Key="warc/doomed.bin", VersionId=put["VersionId"]
            )
            return True
        except ClientError:
            return False

    poll(deleted, timeout=15, interval=0.5, what="the root's delete once the retention ended")
    assert root.head("warc/doomed.bin", put["VersionId"]) is None


def test_a_forged_metadata_digest_is_not_believed(env):
    """Whoever may write can set x-amz-meta-sha256; head() and custody's digest
    are the server's checksum, and a multipart object's (a checksum of checksums)
    is re-hashed rather than taken."""
    root = store_of(env, "admin")
    body = b"the real bytes"
    root.client.put_object(
        Bucket=root.bucket,
        Key="warc/forged.bin",
        Body=body,
        ChecksumSHA256=sha256_b64(body),
        Metadata={"sha256": "0" * 64},
    )
    real = hashlib.sha256(body).hexdigest()
    assert store_of(env, "viewer").head("warc/forged.bin").sha256 == real
    assert object_digest(store_of(env, "worker"), "warc/forged.bin").sha256 == real

    settings = settings_of(env, "worker").store
    parts = S3Store(replace(settings, multipart_threshold=5 * 1024**2, part_size=5 * 1024**2))
    big = bytes(range(256)) * (6 * 1024**2 // 256)
    digest = hashlib.sha256(big).hexdigest()
    stored = parts.put_if_absent(
        "media/sha256/aa/multipart.mp4",
        io.BytesIO(big),
        size=len(big),
        sha256=digest,
        content_type="video/mp4",
    )
    assert stored is not None and stored.sha256 is None  # COMPOSITE: not the bytes' digest
    assert object_digest(parts, "media/sha256/aa/multipart.mp4").sha256 == digest


def test_reads_can_name_the_version_a_manifest_recorded(env):
    root = store_of(env, "admin")
    first = root.client.put_object(Bucket=root.bucket, Key="warc/v.bin", Body=b"first")
    root.client.put_object(Bucket=root.bucket, Key="warc/v.bin", Body=b"overwritten")
    viewer = store_of(env, "viewer")
    assert viewer.get_bytes("warc/v.bin") == b"overwritten"
    assert viewer.get_bytes("warc/v.bin", first["VersionId"]) == b"first"
    assert viewer.open("warc/v.bin", (1, 3), first["VersionId"]).read() == b"irs"
    assert viewer.head("warc/v.bin", first["VersionId"]).size == len(b"first")
    assert viewer.head("warc/v.bin", "01NOSUCHVERSION0000000000") is None
    with pytest.raises(KeyError):
        viewer.get_bytes("warc/v.bin", "01NOSUCHVERSION0000000000")


# -- rotation ----------------------------------------------------------------------------


def test_a_rotated_secret_replaces_the_old_one_at_once(stack, env):
    viewer_before = kafka_of(env, "viewer")
    s3_before = settings_of(env, "viewer").store
    mac_before = stack.credentials().mac["viewer"]
    rotated = cli("rotate", "viewer", "--json", env=stack.env(), timeout=120)
    assert rotated.returncode == 0, rotated.stderr
    [row] = json.loads(rotated.stdout)
    assert row["role"] == "viewer" and row["kafka_password"] != viewer_before.password
    assert stack.credentials().kafka["viewer"][1] == row["kafka_password"]
    # a new MAC key seals from now on; the previous one is kept for opening only
    mac_after = stack.credentials().mac["viewer"]
    assert mac_after[0] != mac_before[0] and mac_after[1:] == mac_before[:1]

    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    assert produce(kafka_of(env, "viewer"), f"{prefix}.custody", b"{}").offset >= 0
    with pytest.raises(KafkaTimeoutError):
        produce(viewer_before, f"{prefix}.custody", b"{}")
    assert store_of(env, "viewer").head("warc/v.bin") is not None
    with pytest.raises(ClientError) as refused:
        S3Store(s3_before).client.head_object(Bucket=s3_before.bucket, Key="warc/v.bin")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    submitter = cli("rotate", "submitter", env=stack.env(), timeout=120)
    assert submitter.returncode == 0, submitter.stderr
    new = stack.credentials().kafka["submitter"][1]
    assert new in submitter.stderr  # shown once, with where it is kept
    assert f"sasl.password={new}" in (stack.home / "kcat.conf").read_text()
    sent = kcat(env, "-F", str(stack.home / "kcat.conf"), "-P", "-t", f"{prefix}.ingest")
    assert sent.returncode == 0, sent.stderr

    # a rotation whose step failed (here: the file changed, nothing applied) is
    # completed by `warcflow up`, which sets every role's secrets from the file
    from warcflow import credentials

    changed = stack.credentials().rotated("operator")
    credentials.save(stack.home / "credentials.json", changed)
    assert cli("up", env=stack.env(), timeout=180).returncode == 0
    assert produce(kafka_of(env, "operator"), f"{prefix}.ingest").offset >= 0
    assert store_of(env, "operator").head("warc/v.bin") is not None


def test_a_secret_updated_while_the_old_one_is_in_use_holds_at_once(env):
    """`rotate` updates an account while its agent still sends requests with the
    old secret. With versitygw's IAM cache on, such a request put the old account
    back in the cache and the new secret was refused for minutes
    (SignatureDoesNotMatch; 7 of 10 trials in a probe). The local stack runs the
    gateway without that cache (infra/s3server.py)."""
    import threading

    from infra.s3server import S3Server

    s3 = S3Server(settings_of(env, "admin", local_stack=True).services)
    base = settings_of(env, "viewer").store
    for trial in range(3):
        old, new = f"old-secret-{trial}-0123456789", f"new-secret-{trial}-0123456789"
        s3.ensure_user("rotation-probe", old)
        stop, made = threading.Event(), [0]

        def busy(secret=old, stop=stop, made=made):
            client = S3Store(replace(base, access_key="rotation-probe", secret_key=secret)).client
            while not stop.is_set():
                try:
                    client.list_objects_v2(Bucket=base.bucket, MaxKeys=1)
                except ClientError:
                    pass  # AccessDenied: the probe account has no policy; its key is known
                made[0] += 1

        threads = [threading.Thread(target=busy) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            poll(lambda made=made: made[0] >= 10, timeout=30, interval=0.05, what="requests")
            s3.ensure_user("rotation-probe", new)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        client = S3Store(replace(base, access_key="rotation-probe", secret_key=new)).client
        with pytest.raises(ClientError) as answer:
            client.list_objects_v2(Bucket=base.bucket, MaxKeys=1)
        # the key and secret are known (no policy gives the account anything)
        assert answer.value.response["Error"]["Code"] == "AccessDenied", answer.value.response


def test_the_operations_doc_reads_the_event_log_as_the_operator(stack, env):
    """docs/operations.md's kcat line, as written there, with this test's broker,
    home and prefix: the operator may read what the submitter may not."""
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    assert produce(kafka_of(env, "worker"), f"{prefix}.captures", b'{"probe": 1}').offset >= 0
    doc = (ROOT / "docs" / "operations.md").read_text()
    start = doc.index("kcat -C ")
    command = doc[start : doc.index("\n", doc.index(" -e ", start))].split("#")[0]
    command = (
        command.replace("127.0.0.1:9092", env["WARCFLOW_KAFKA_BOOTSTRAP"])
        .replace(".warcflow/", f"{stack.home}/")
        .replace("warcflow.captures", f"{prefix}.captures")
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert '{"probe": 1}' in done.stdout


def test_a_worker_on_topics_nobody_provisioned_says_what_to_run(stack):
    """The worker may not create topics or buckets; it stops and says who can."""
    env = stack.env(WARCFLOW_TOPIC_PREFIX="unprovisioned", WARCFLOW_S3_BUCKET="unprovisioned")
    done = cli("worker", env=env, timeout=120)
    assert done.returncode == 3
    assert "topics missing or not allowed to worker" in done.stderr
    assert "warcflow provision" in done.stderr
