"""`warcflow up / status / down` as a user runs them, beside the session's stack."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from kafka import KafkaConsumer, TopicPartition

from infra.processes import free_port
from tests.support.stack import TestStack, cli, kafka_of, poll, settings_of, store_of

pytestmark = pytest.mark.integration


def ingest_messages(env) -> list[bytes]:
    consumer = KafkaConsumer(
        **kafka_of(env, "operator").client_kwargs(),
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        partitions = [
            TopicPartition("warcflow.ingest", p)
            for p in consumer.partitions_for_topic("warcflow.ingest") or []
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [m.value for m in consumer]
    finally:
        consumer.close()


@pytest.mark.alone  # a third stack beside the two of a two-process run would starve
def test_a_second_stack_runs_beside_the_first_and_restarts_with_its_data(stack, site, tmp_path):
    """`make run` (`warcflow up --agents`) in a fresh home, beside the session's
    stack, with nothing set up by hand: it makes the credentials, starts the
    broker with SASL, the S3 server with its users, the worker and the viewer,
    and a submitted URL ends up in the viewer."""
    other = TestStack(tmp_path / "second-home")
    env = other.env(
        WARCFLOW_FETCH_ALLOW=site.allow,
        WARCFLOW_VIEWER_PORT=str(free_port()),
        WARCFLOW_REPLAY_PORT=str(free_port()),
        WARCFLOW_WORKER_METRICS=f"127.0.0.1:{free_port()}",
    )
    del env["WARCFLOW_CREDENTIALS"]  # the default place, as for a user
    up = cli("up", "--agents", "--json", env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["ok"] is True
    assert report["worker"]["answering"] and report["viewer"]["answering"]
    viewer = report["viewer"]["address"]
    url = site.url("/post/1?make-run")
    assert cli("submit", url, env=env).returncode == 0

    def shown():
        with urllib.request.urlopen(f"{viewer}/api/captures?url={quote(url)}", timeout=5) as r:
            found = json.loads(r.read())
        return found and found[0]["status"] == "stored"

    poll(shown, timeout=90, what="the capture in the viewer")
    assert report["kafka"]["address"] == f"127.0.0.1:{other.kafka_port}"
    assert report["s3"]["address"] == f"http://127.0.0.1:{other.s3_port}"
    assert report["home"] == str(tmp_path / "second-home")
    assert cli("status", env=stack.env()).returncode == 0  # the first stack is unaffected
    # every role's credentials: made on the first start, shown once, kept 0600
    made = other.credentials()
    assert (tmp_path / "second-home" / "credentials.json").stat().st_mode & 0o777 == 0o600
    for role, _user, password, _access, secret in made.rows():
        assert password in up.stderr and secret in up.stderr, role
    # and the viewer's first account: an admin, shown once, kept hashed in a 0600 file
    first = re.search(r"viewer account made: name (\S+), password ([0-9a-f]+) ", up.stderr)
    assert first, up.stderr
    name, secret = first.groups()
    users = tmp_path / "second-home" / "viewer" / "users.json"
    assert users.stat().st_mode & 0o777 == 0o600 and secret not in users.read_text()
    whoami = urllib.request.Request(
        f"{viewer}/api/whoami", headers={"Authorization": f"Bearer {name}:{secret}"}
    )
    with urllib.request.urlopen(whoami, timeout=5) as r:
        assert json.loads(r.read())["role"] == "admin"

    submitted = cli("submit", "https://example.org/post/42", env=env)
    assert submitted.returncode == 0, submitted.stderr
    probe = store_of(env, "admin")
    probe.client.put_object(Bucket=probe.bucket, Key="probe/kept.txt", Body=b"still here")
    first_pid = report["kafka"]["pid"]

    again = cli("up", env=env)  # idempotent: already running
    assert again.returncode == 0 and "already running" in again.stderr
    assert made.kafka["submitter"][1] not in again.stderr  # shown once only
    assert secret not in again.stderr and "viewer account made" not in again.stderr
    assert other.credentials() == made

    # rotating the worker restarts it; rotating the admin restarts the S3 server
    rotated = cli("rotate", "worker", env=env, timeout=180)
    assert rotated.returncode == 0, rotated.stderr
    assert (
        json.loads(cli("status", "--json", env=env).stdout)["worker"]["pid"]
        != (report["worker"]["pid"])
    )
    old_root = store_of(env, "admin")
    rotated = cli("rotate", "admin", env=env, timeout=180)
    assert rotated.returncode == 0, rotated.stderr
    assert cli("status", env=env).returncode == 0  # the broker takes the admin's new password
    with pytest.raises(ClientError):
        old_root.client.head_bucket(Bucket=old_root.bucket)
    store = store_of(env, "admin")  # the new root
    assert store.get_bytes("probe/kept.txt") == b"still here"
    url = site.url("/post/1?after-rotation")  # the restarted worker, on its new secrets
    assert cli("submit", url, env=env).returncode == 0
    poll(shown, timeout=90, what="a capture after the rotations")

    down = cli("down", "--json", env=env)
    assert json.loads(down.stdout)["stopped"] == ["viewer", "worker", "kafka", "s3"]
    status = cli("status", "--json", env=env)
    assert status.returncode == 3 and json.loads(status.stdout)["ok"] is False
    assert cli("status", env=stack.env()).returncode == 0  # down touched only its own processes

    restarted = cli("up", "--json", env=env, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["kafka"]["pid"] != first_pid
    assert any(b"https://example.org/post/42" in value for value in ingest_messages(env))
    assert store.get_bytes("probe/kept.txt") == b"still here"
    assert cli("down", env=env).returncode == 0


def test_status_of_a_stack_that_never_ran(tmp_path):
    env = TestStack(tmp_path / "empty").env()
    result = cli("status", "--json", env=env)
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["kafka"]["pid"] is None and report["s3"]["answering"] is False
    human = cli("status", env=env)
    assert "down" in human.stdout and human.returncode == 3


def test_submit_without_a_broker_says_so(tmp_path):
    env = TestStack(tmp_path / "nothing").env()
    result = cli("submit", "https://example.org/post/1", env=env, timeout=120)
    assert result.returncode == 3
    assert "is `warcflow up` running?" in result.stderr


def test_a_home_formatted_before_sasl_gets_its_admin_at_the_next_up(tmp_path):
    """A Kafka log directory formatted by a warcflow without SASL (no SCRAM
    user in its metadata log) is not formatted again (that would lose it):
    `up` starts it once with a one-time PLAIN bootstrap user, sets the admin's
    SCRAM credential through it, and restarts it as usual."""
    from infra.kafka import KafkaBroker

    old = TestStack(tmp_path / "old-home")
    env = old.env()
    services = settings_of(env, "admin", local_stack=True).services
    broker = KafkaBroker(services)
    broker.install(lambda message: None)
    broker.dir.mkdir(parents=True)
    (broker.dir / "cluster.id").write_text("EAAAAAAAAAAAAAAAAAAAAA\n")
    plain = broker.dir / "plain.properties"
    controller = free_port()
    plain.write_text(  # what infra/kafka.py wrote before SASL
        "process.roles=broker,controller\nnode.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{controller}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{old.kafka_port},CONTROLLER://127.0.0.1:{controller}\n"
        "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        f"log.dirs={broker.data_dir}\n"
    )
    formatted = subprocess.run(
        broker._java(
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id=EAAAAAAAAAAAAAAAAAAAAA",
            "-c",
            str(plain),
        ),
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stderr
    meta = (broker.data_dir / "meta.properties").read_text()

    up = cli("up", env=env, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        assert "setting the Kafka admin's SCRAM credential" in up.stderr
        assert (broker.data_dir / "meta.properties").read_text() == meta  # not reformatted
        assert cli("submit", "https://example.org/after", env=env).returncode == 0
        # the next start is an ordinary one: the log holds the admin's credential now
        made = settings_of(env, "admin", local_stack=True).services  # now there are some
        assert KafkaBroker(made)._admin_is_current()
    finally:
        cli("down", env=env)
