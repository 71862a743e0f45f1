"""docker-compose.yml's broker, run here: deploy/kafka/start.sh as the kafka
service runs it, with the image's two scripts standing in as one-line shims over
the same Apache jars, then compose's `init` job (`warcflow provision` with the
admin's credentials in the environment) and its roles.

There is no Docker engine on the development machines; this runs the part of
the production shape that decides who may do what on the broker.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from infra.processes import free_port, port_open
from streams.settings import KafkaAccess
from tests.support.stack import ROOT, cli, poll, settings_of

pytestmark = pytest.mark.integration

PASSWORDS = {
    "KAFKA_ADMIN_PASSWORD": "admin-0123456789abcdef",
    "KAFKA_SUBMITTER_PASSWORD": "submitter-0123456789abcdef",
    "KAFKA_VIEWER_PASSWORD": "viewer-0123456789abcdef",
    "KAFKA_WORKER_PASSWORD": "worker-0123456789abcdef",
    "KAFKA_OPERATOR_PASSWORD": "operator-0123456789abcdef",
}


def shims(directory: Path, libs: Path) -> Path:
    """bin/kafka-storage.sh and bin/kafka-server-start.sh, as in /opt/kafka."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    for name, main in (
        ("kafka-storage.sh", "kafka.tools.StorageTool"),
        ("kafka-server-start.sh", "kafka.Kafka"),
        ("kafka-configs.sh", "kafka.admin.ConfigCommand"),
    ):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec java -Xmx384m -cp "{libs}/*" {main} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


def worker_with(password: str, bootstrap: str) -> KafkaAccess:
    return KafkaAccess(bootstrap, "worker", password)


def send(access: KafkaAccess, topic: str):
    producer = KafkaProducer(
        **access.client_kwargs(), max_block_ms=5000, bootstrap_timeout_ms=5000, retries=0
    )
    try:
        return producer.send(topic, value=b"https://example.org/compose").get(10)
    finally:
        producer.close(timeout=2)


def test_the_compose_broker_authenticates_and_its_init_job_grants_the_roles(stack, tmp_path):
    admin = settings_of(stack.env(), "admin", local_stack=True).services
    libs = admin.cache / f"kafka-{admin.kafka_version}" / "libs"
    port, controller = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("WARCFLOW_", "KAFKA_"))},
        **PASSWORDS,
        "KAFKA_HOME": str(shims(tmp_path / "opt-kafka", libs)),
        "KAFKA_DATA": str(tmp_path / "data"),
        "KAFKA_CONF": str(tmp_path / "conf"),
        "KAFKA_LISTEN": f"127.0.0.1:{port}",
        "KAFKA_ADVERTISED": f"127.0.0.1:{port}",
        "KAFKA_CONTROLLER": f"127.0.0.1:{controller}",
    }
    log = open(tmp_path / "broker.log", "wb")
    broker = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "kafka" / "start.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        bootstrap = f"127.0.0.1:{port}"
        as_admin = KafkaAccess(bootstrap, "admin", PASSWORDS["KAFKA_ADMIN_PASSWORD"])

        def answering() -> bool:
            assert broker.poll() is None, (tmp_path / "broker.log").read_text()[-3000:]
            if not port_open("127.0.0.1", port):
                return False
            from kafka import KafkaAdminClient
            from kafka.errors import KafkaError

            try:
                KafkaAdminClient(**as_admin.client_kwargs(), bootstrap_timeout_ms=3000).close()
                return True
            except KafkaError:
                return False

        poll(answering, timeout=120, interval=1.0, what="the compose broker")
        for name in ("server.properties", "admin.properties"):
            assert (tmp_path / "conf" / name).stat().st_mode & 0o077 == 0, name  # secrets

        # compose's init job: `warcflow provision`, the admin's identity in the environment
        init_env = stack.env(
            WARCFLOW_KAFKA_BOOTSTRAP=bootstrap,
            WARCFLOW_TOPIC_PREFIX="compose",
            WARCFLOW_S3_BUCKET="compose-bucket",
            WARCFLOW_KAFKA_USER="admin",
            WARCFLOW_KAFKA_PASSWORD=PASSWORDS["KAFKA_ADMIN_PASSWORD"],
            WARCFLOW_S3_ACCESS_KEY=admin.s3_access_key,
            WARCFLOW_S3_SECRET_KEY=admin.s3_secret_key,
        )
        del init_env["WARCFLOW_CREDENTIALS"]
        provisioned = cli("provision", "--json", env=init_env, timeout=120)
        assert provisioned.returncode == 0, provisioned.stderr
        assert '"compose.ingest"' in provisioned.stdout

        # the roles' users were made when the log directory was formatted
        submitter = KafkaAccess(bootstrap, "submitter", PASSWORDS["KAFKA_SUBMITTER_PASSWORD"])
        assert send(submitter, "compose.ingest").offset >= 0
        with pytest.raises(TopicAuthorizationFailedError):
            send(submitter, "compose.custody")
        viewer = KafkaAccess(bootstrap, "viewer", PASSWORDS["KAFKA_VIEWER_PASSWORD"])
        assert send(viewer, "compose.custody").offset >= 0
        with pytest.raises(TopicAuthorizationFailedError):
            send(viewer, "compose.retry.capture")

        # docs/operations.md's rotation of a role's password, as written there
        doc = " ".join((ROOT / "docs" / "operations.md").read_text().split())
        command = doc[doc.index("/opt/kafka/bin/kafka-configs.sh") :].split("`", 1)[0]
        command = (
            command.replace("/opt/kafka", env["KAFKA_HOME"])
            .replace("localhost:9092", bootstrap)
            .replace("/tmp/warcflow", env["KAFKA_CONF"])
            .replace("password=NEW", "password=worker-rotated-0123")
            .replace("--entity-name ROLE", "--entity-name worker")
        )
        rotated = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
        assert rotated.returncode == 0 and "Completed updating config" in rotated.stdout, (
            rotated.stdout + rotated.stderr
        )
        assert send(KafkaAccess(bootstrap, "worker", "worker-rotated-0123"), "compose.media")
        with pytest.raises(KafkaTimeoutError):
            send(
                KafkaAccess(bootstrap, "worker", PASSWORDS["KAFKA_WORKER_PASSWORD"]),
                "compose.media",
            )
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait(10)
        log.close()
