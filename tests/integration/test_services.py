"""`warcflow up / status / down` as a user runs them, beside the session's stack."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, TopicPartition

from archivers.store.s3 import S3Store
from tests.support.stack import TestStack, cli
from warcflow.settings import load_settings

pytestmark = pytest.mark.integration


def ingest_messages(env) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=env["WARCFLOW_KAFKA_BOOTSTRAP"],
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


def test_a_second_stack_runs_beside_the_first_and_restarts_with_its_data(stack, tmp_path):
    other = TestStack(tmp_path / "second-home")
    env = other.env()
    up = cli("up", "--json", env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["ok"] is True
    assert report["kafka"]["address"] == f"127.0.0.1:{other.kafka_port}"
    assert report["s3"]["address"] == f"http://127.0.0.1:{other.s3_port}"
    assert report["home"] == str(tmp_path / "second-home")
    assert cli("status", env=stack.env()).returncode == 0  # the first stack is unaffected

    submitted = cli("submit", "https://example.org/post/42", env=env)
    assert submitted.returncode == 0, submitted.stderr
    store = S3Store(load_settings(env).store)
    store.client.put_object(Bucket=store.bucket, Key="probe/kept.txt", Body=b"still here")
    first_pid = report["kafka"]["pid"]

    again = cli("up", env=env)  # idempotent: already running
    assert again.returncode == 0 and "already running" in again.stderr

    down = cli("down", "--json", env=env)
    assert json.loads(down.stdout)["stopped"] == ["kafka", "s3"]
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
