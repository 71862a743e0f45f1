"""The roles' rules as data: S3 policies, Kafka grants, credentials, and the docs
that show them. (tests/integration/test_access.py has the servers enforce them.)"""

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from archivers.custody import ledger, liveness
from archivers.store import layout, policy
from archivers.store.s3 import server_sha256
from streams.access import ROLES as KAFKA_ROLES
from streams.access import grants
from streams.settings import KafkaAccess
from streams.topics import TopicNames
from warcflow import credentials
from warcflow.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = layout.capture_id("warcflow.ingest", 0, 7, 1_790_000_000_000)
SHA = "ab" * 32


def test_every_key_warcflow_writes_is_under_a_prefix_the_worker_may_write():
    keys = [
        layout.warc_key(CAPTURE),
        layout.index_key(CAPTURE),
        layout.screenshot_key(CAPTURE),
        layout.manifest_key("https://example.org/p", CAPTURE),
        layout.media_manifest_key(CAPTURE, layout.media_id(CAPTURE, "https://e.org/v.mp4")),
        layout.media_key(SHA, "mp4"),
        layout.poster_key(SHA),
        layout.derived_key(SHA),
        layout.first_seen_key(SHA),
        ledger.entry_key(3),
        liveness.state_key("https://example.org/p"),
    ]
    for key in keys:
        assert key.startswith(layout.WRITTEN_PREFIXES), key
    worker = policy.identity_policy("worker", "b")
    [writes] = [s for s in worker["Statement"] if "s3:PutObject" in s["Action"]]
    assert writes["Resource"] == [f"arn:aws:s3:::b/{p}*" for p in layout.WRITTEN_PREFIXES]


def test_only_the_worker_writes_and_no_role_destroys_or_sets_retention():
    for role in policy.ROLES:
        statements = policy.identity_policy(role, "b")["Statement"]
        allowed = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
        denied = {a for s in statements if s["Effect"] == "Deny" for a in s["Action"]}
        assert ("s3:PutObject" in allowed) == (role == "worker"), role
        assert not allowed & set(policy.DENIED), role
        for action in (
            "s3:DeleteObjectVersion",
            "s3:BypassGovernanceRetention",
            "s3:PutObjectRetention",
            "s3:PutBucketPolicy",
            "s3:PutBucketObjectLockConfiguration",
        ):
            assert action in denied, (role, action)
        assert all("Condition" not in s for s in statements)  # versitygw ignores them
        assert all(re.fullmatch(r"[A-Za-z0-9]+", s["Sid"]) for s in statements)


def test_the_bucket_policy_names_each_roles_access_key():
    doc = policy.bucket_policy("b", {"worker": "wk", "viewer": "vk"})
    principals = {s["Principal"]["AWS"][0] for s in doc["Statement"]}
    assert principals == {"wk", "vk"}
    with pytest.raises(ValueError):
        policy.bucket_policy("b", {"admin": "root"})


@pytest.mark.parametrize("role", policy.ROLES)
def test_the_minio_policies_of_compose_are_made_by_the_policy_table(role):
    shipped = json.loads((ROOT / "deploy" / "minio" / f"{role}.json").read_text())
    assert shipped == policy.identity_policy(role, "warcflow"), (
        f"regenerate: python -m archivers.store.policy {role} warcflow > deploy/minio/{role}.json"
    )


def test_the_kafka_grants_keep_each_role_to_its_topics():
    names = TopicNames("p")
    by_role: dict[str, list] = {}
    for grant in grants(names):
        by_role.setdefault(grant.role, []).append(grant)
    assert set(by_role) == set(KAFKA_ROLES)
    [submitter] = by_role["submitter"]
    assert (submitter.name, submitter.operations, submitter.prefixed) == (
        "p.ingest",
        ("WRITE", "DESCRIBE"),
        False,
    )
    viewer = {(g.name, g.operations) for g in by_role["viewer"]}
    assert viewer == {
        ("p.captures", ("READ", "DESCRIBE")),
        ("p.custody", ("WRITE", "DESCRIBE")),
        ("p.ingest", ("WRITE", "DESCRIBE")),
    }
    assert all(g.name.startswith(("p.", "p-agents")) for g in grants(names))
    assert {g.name for g in by_role["worker"] if g.resource == "group"} == {"p-agents"}
    assert not any(g.resource == "group" for g in by_role["operator"])
    assert all("CREATE" not in g.operations for g in grants(names))


def test_the_cases_topic_is_read_and_written_by_the_cli_and_the_workers_only():
    names = TopicNames("p")

    def roles_that(operation: str) -> set[str]:
        return {
            g.role
            for g in grants(names)
            if g.resource == "topic"
            and operation in g.operations
            and (names.cases.startswith(g.name) if g.prefixed else names.cases == g.name)
        }

    # `warcflow case` runs as operator; no submitter or viewer may forge or read a case
    assert roles_that("WRITE") == roles_that("READ") == {"operator", "worker"}
    assert names.all()[names.cases] == {"cleanup.policy": "compact"}  # made by ensure_topics


def test_the_operations_doc_lists_every_role():
    doc = (ROOT / "docs" / "operations.md").read_text()
    section = doc.split("## Roles", 1)[1].split("\n## ", 1)[0]
    for role in credentials.ROLES:
        assert f"| `{role}` |" in section, role


def test_kafka_access_is_sasl_scram_only_with_a_user():
    assert KafkaAccess("a:1,b:2").client_kwargs() == {"bootstrap_servers": ["a:1", "b:2"]}
    kwargs = KafkaAccess("a:1", "worker", "pw").client_kwargs()
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("worker", "pw")
    assert "pw" not in repr(KafkaAccess("a:1", "worker", "pw"))
    message = KafkaAccess("a:1", "worker", "pw").unreachable("timed out")
    assert "a:1 as worker" in message and "WARCFLOW_KAFKA_PASSWORD" in message
    assert "pw" not in message.replace("PASSWORD", "")


def test_the_server_checksum_is_believed_and_a_composite_one_is_not():
    b64 = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
    assert server_sha256({"ChecksumSHA256": b64}) == "abcdef1234567890" * 4
    assert server_sha256({"ChecksumSHA256": b64 + "-3", "ChecksumType": "COMPOSITE"}) is None
    assert server_sha256({"ChecksumSHA256": b64, "ChecksumType": "COMPOSITE"}) is None
    assert server_sha256({"Metadata": {"sha256": SHA}}) is None  # metadata is never a digest


def test_credentials_are_made_0600_with_every_role_and_refused_when_readable(tmp_path):
    path = tmp_path / "home" / "credentials.json"
    made, created = credentials.ensure(path)
    assert created and path.stat().st_mode & 0o777 == 0o600
    assert set(made.kafka) == set(credentials.KAFKA_ROLES)
    assert set(made.s3) == set(credentials.S3_ROLES)
    secrets = [p for _u, p in made.kafka.values()] + [k for _a, k in made.s3.values()]
    assert len(set(secrets)) == len(secrets) and all(
        re.fullmatch(r"[0-9a-f]{48}", s) for s in secrets
    )
    assert credentials.ensure(path) == (made, False)
    rotated = made.rotated("worker")
    assert (
        rotated.kafka["worker"][0] == "worker"
        and rotated.kafka["worker"][1] != made.kafka["worker"][1]
    )
    assert rotated.kafka["viewer"] == made.kafka["viewer"]
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        credentials.load(path)


def test_a_command_takes_its_roles_credentials_unless_the_settings_name_some(tmp_path):
    made, _ = credentials.ensure(tmp_path / "credentials.json")
    base = load_settings({"WARCFLOW_HOME": str(tmp_path)})
    worker = credentials.for_role(base, "worker")
    assert (worker.streams.kafka.user, worker.streams.kafka.password) == made.kafka["worker"]
    assert (worker.store.access_key, worker.store.secret_key) == made.s3["worker"]
    assert worker.services.kafka_admin_password == made.kafka["admin"][1]
    submitter = credentials.for_role(base, "submitter")
    assert submitter.streams.kafka.user == "submitter" and submitter.store.access_key == ""

    named = load_settings(
        {
            "WARCFLOW_HOME": str(tmp_path),
            "WARCFLOW_KAFKA_USER": "worker",
            "WARCFLOW_KAFKA_PASSWORD": "given",
            "WARCFLOW_S3_ACCESS_KEY": "k",
            "WARCFLOW_S3_SECRET_KEY": "s",
        }
    )
    as_viewer = credentials.for_role(named, "viewer")  # the settings' identity wins
    assert (as_viewer.streams.kafka.user, as_viewer.streams.kafka.password) == ("worker", "given")
    assert (as_viewer.store.access_key, as_viewer.store.secret_key) == ("k", "s")
    local = credentials.for_role(named, "admin", local_stack=True)  # the stack's own: the file
    assert local.streams.kafka.password == made.kafka["admin"][1]

    nowhere = load_settings({"WARCFLOW_HOME": str(tmp_path / "none")})
    plain = credentials.for_role(nowhere, "worker")
    assert plain.streams.kafka == replace(plain.streams.kafka, user="", password="")
    assert "security_protocol" not in plain.streams.kafka.client_kwargs()


def test_the_kcat_file_is_the_submitters_and_private(tmp_path):
    path = tmp_path / "kcat.conf"
    credentials.write_kcat_config(path, KafkaAccess("127.0.0.1:9092", "submitter", "pw"))
    text = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert "sasl.username=submitter\n" in text and "sasl.password=pw\n" in text
    assert "sasl.mechanisms=SCRAM-SHA-512\n" in text  # librdkafka's name: plural
