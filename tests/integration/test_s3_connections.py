"""The worker's S3 client keeps its connection to versitygw across requests
(docs/decisions/0024-s3-connections.md): the session's server, started by
infra/ as ``warcflow up`` starts it, the worker's credentials, the project's
``S3Store``. Connections are counted where urllib3 opens each socket."""

from __future__ import annotations

import hashlib
import io

import pytest
import urllib3.connection

from tests.support.stack import store_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(stack):
    """A prefix and a bucket of their own, provisioned as `warcflow up` does."""
    return stack.agent_env("c", "127.0.0.1:1")


@pytest.fixture
def opened(monkeypatch) -> list[object]:
    """Every TCP connection an HTTP client of this process opens from now on."""
    sockets: list[object] = []
    original = urllib3.connection.HTTPConnection._new_conn

    def counting(conn):
        sock = original(conn)
        sockets.append(sock)
        return sock

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counting)
    return sockets


def test_five_hundred_requests_of_the_worker_share_one_connection(env, opened):
    worker = store_of(env, "worker")
    answers: list[str | None] = []

    def answered(http_response, **_):
        answers.append(http_response.headers.get("Connection"))

    worker.client.meta.events.register("after-call.s3", answered)
    for page in range(100):  # what captures do: a new object, read back, an existing key, a 404
        body = f"page {page}".encode()
        digest = hashlib.sha256(body).hexdigest()
        key = f"warc/conn/{page}.bin"  # not .warc.gz: the session validates those
        stored = worker.put_if_absent(
            key, io.BytesIO(body), size=len(body), sha256=digest, content_type="application/warc"
        )
        assert stored is not None and stored.sha256 == digest
        assert worker.get_bytes(key) == body
        again = worker.put_new(
            key, io.BytesIO(body), size=len(body), sha256=digest, content_type="application/warc"
        )
        assert again is False  # 412, answered before the body is sent
        assert worker.head(f"warc/conn/missing-{page}") is None
    assert len(answers) == 500
    assert "close" not in answers, (
        "versitygw closes its connections (infra/s3server.py: --keep-alive)"
    )
    assert len(opened) == 1, f"{len(opened)} connections for 500 requests"
