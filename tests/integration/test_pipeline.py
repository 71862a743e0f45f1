"""The walking skeleton end to end: CLI → real Kafka → worker process → real S3.

Every step is what a user does or sees: `warcflow submit`, `warcflow captures
--json`, `warcflow get`, `warcio check` on the downloaded file, events read
from the captures topic, dead letters read from the dead-letter topic.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from warcio.archiveiterator import ArchiveIterator

from archivers.store import layout
from tests.support.observe import events_for, read_topic
from tests.support.site import POST_HTML
from tests.support.stack import ROOT, cli, kafka_of, poll, store_of

pytestmark = pytest.mark.integration


def captures(env, url):
    result = cli("captures", url, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for_capture(env, url, count=1, timeout=60):
    return poll(
        lambda: (lambda found: found if len(found) >= count else None)(captures(env, url)),
        timeout=timeout,
        what=f"{count} capture(s) of {url}",
    )


def test_submitted_post_is_captured_as_a_valid_warc(pipeline, tmp_path):
    env, site, prefix = pipeline["env"], pipeline["site"], pipeline["prefix"]
    url = site.url("/post/1")
    result = cli(
        "submit",
        url,
        "--tag",
        "kazan",
        "--note",
        "shared by a war tracker",
        "--case",
        "KZN-17",
        "--purpose",
        "mobilisation protests",
        "--json",
        env={**env, "WARCFLOW_OPERATOR": "anna"},
    )
    assert result.returncode == 0, result.stderr
    [submitted] = json.loads(result.stdout)
    assert submitted["topic"] == f"{prefix}.ingest" and submitted["url"] == url

    [capture] = wait_for_capture(env, url)
    assert capture["status"] == "stored" and capture["http_status"] == 200
    assert capture["tags"] == ["kazan"]
    assert (capture["operator"], capture["case_id"], capture["purpose"]) == (
        "anna",
        "KZN-17",
        "mobilisation protests",
    )
    assert capture["items"] == {"url": True, "html": True, "screenshot": False, "media": False}
    assert capture["fetched_at"] <= capture["finished_at"]
    assert capture["submitted_at"] <= capture["fetched_at"]
    assert capture["fetched_at"][:19] <= capture["stored_at"][:19]  # S3 keeps whole seconds

    warc = tmp_path / "capture.warc.gz"
    got = cli("get", capture["capture_id"], "-o", str(warc), env=env)
    assert got.returncode == 0, got.stderr
    data = warc.read_bytes()
    import hashlib

    assert hashlib.sha256(data).hexdigest() == capture["sha256"] and len(data) == capture["size"]
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", str(warc)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout

    responses = {}
    meta = None
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type == "response":
            responses[record.rec_headers.get_header("WARC-Target-URI")] = (
                record.content_stream().read()
            )
        elif record.rec_type == "metadata":
            meta = json.loads(record.content_stream().read())
    assert responses[url] == POST_HTML.encode()  # exactly what the site served
    assert responses[site.url("/static/photo.png")] == site.routes["/static/photo.png"].body
    assert responses[site.url("/static/bg.png")] == site.routes["/static/bg.png"].body  # via CSS
    assert meta["request"]["note"] == "shared by a war tracker"
    assert meta["request"]["operator"] == "anna" and meta["request"]["case_id"] == "KZN-17"
    assert meta["network"]["remote_address"] == f"127.0.0.1:{site.port}"
    assert meta["network"]["local_address"] in {a for p, a in site.clients if p == "/post/1"}
    agent = meta["agent"]  # the method and its tools, for the record
    assert agent["name"] == "warcflow" and agent["yt_dlp"] and agent["ffmpeg"] != "?"
    assert len(agent["settings_sha256"]) == 64
    assert meta["provenance"]["topic"] == f"{prefix}.ingest"
    assert meta["provenance"]["partition"] == submitted["partition"]
    assert meta["provenance"]["offset"] == submitted["offset"]

    [event] = poll(
        lambda: events_for(env, prefix, capture["capture_id"]),
        timeout=20,
        what="the CaptureStored event",
    )
    assert event["schema"] == "warcflow.CaptureStored"
    for field in ("warc_key", "sha256", "size", "stored_at", "fetched_at", "http_status"):
        assert event[field] == capture[field], field
    store = store_of(env)
    manifest = json.loads(store.get_bytes(event["manifest_key"]))
    assert manifest["sha256"] == capture["sha256"] and manifest["warc_key"] == capture["warc_key"]
    stored = store.head(capture["warc_key"])  # the server's checksum and version
    assert stored.sha256 == capture["sha256"]
    assert manifest["warc_version_id"] == capture["warc_version_id"] == stored.version_id


def test_junk_goes_to_the_dead_letter_topic_and_the_agent_keeps_working(pipeline):
    env, site, prefix = pipeline["env"], pipeline["site"], pipeline["prefix"]
    producer = KafkaProducer(**kafka_of(env, "submitter").client_kwargs(), acks="all")
    junk = [
        b"\x00\xff\xfe\x01 binary junk",
        b'{"schema": "warcflow.SubmitRequest", "version": 7}',
        b"{broken json",
        b"javascript:alert(1)",
    ]
    for value in junk:
        producer.send(f"{prefix}.ingest", key=b"junk", value=value).get(10)
    producer.send(f"{prefix}.ingest", value=site.url("/redirect/1").encode()).get(10)  # bare URL
    producer.close()

    letters = poll(
        lambda: (lambda ls: ls if len(ls) >= len(junk) else None)(
            [json.loads(m.value) for m in read_topic(env, f"{prefix}.dead-letter")]
        ),
        timeout=30,
        what="dead letters",
    )
    by_value = {base64.b64decode(letter["value_b64"]): letter for letter in letters}
    assert set(junk) <= set(by_value)
    assert by_value[junk[0]]["reason"] == "not_utf8"
    assert by_value[junk[1]]["reason"] == "unknown_version"
    assert by_value[junk[2]]["reason"] == "bad_json"
    assert by_value[junk[3]]["reason"] == "invalid_url"
    assert all(letter["source"]["topic"] == f"{prefix}.ingest" for letter in letters)

    [capture] = wait_for_capture(env, site.url("/redirect/1"))  # the agent survived the junk
    assert capture["status"] == "stored" and capture["final_url"] == site.url("/post/1")
    assert pipeline["worker"].proc.poll() is None


def test_any_kafka_client_can_submit_a_bare_url(pipeline):
    """README's kcat line, as written there (the submitter's credentials in the
    kcat file `warcflow up` writes), with this test's home, topic and URL."""
    env, site, prefix = pipeline["env"], pipeline["site"], pipeline["prefix"]
    url = site.url("/chunked")
    [line] = [
        line.strip()
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.strip().startswith("echo https://") and "| kcat " in line
    ]
    line = (
        line.replace("https://example.org/post/2", url)
        .replace(".warcflow/", env["WARCFLOW_HOME"] + "/")
        .replace(" warcflow.ingest", f" {prefix}.ingest")
    )
    done = subprocess.run(["sh", "-c", line], text=True, capture_output=True, timeout=30, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    [capture] = wait_for_capture(env, url)
    assert capture["status"] == "stored"


def test_invalid_url_is_refused_and_nothing_is_produced(pipeline):
    env, prefix = pipeline["env"], pipeline["prefix"]
    before = len(read_topic(env, f"{prefix}.ingest"))
    result = cli("submit", pipeline["site"].url("/post/1"), "ftp://example.com/x", env=env)
    assert result.returncode == 2
    assert "only http and https" in result.stderr and "nothing was submitted" in result.stderr
    result = cli("submit", "-", env=env, stdin="https://ok.example/1\nhttps://us:pw@x.example/\n")
    assert result.returncode == 2 and "stdin line 2" in result.stderr
    assert len(read_topic(env, f"{prefix}.ingest")) == before


def test_deleted_post_and_flaky_server_have_clear_outcomes(pipeline):
    env, site = pipeline["env"], pipeline["site"]
    from tests.support.site import Route

    site.routes["/flaky"] = Route(b"<p>up again</p>", fail_first=2)
    assert cli("submit", site.url("/gone"), site.url("/flaky"), env=env).returncode == 0
    [gone] = wait_for_capture(env, site.url("/gone"))
    assert gone["status"] == "failed" and gone["reason"] == "http_404" and gone["warc_key"]
    assert gone["items"]["html"] is False  # the 404 page is kept, but it is not the post
    [flaky] = wait_for_capture(env, site.url("/flaky"), timeout=60)
    assert flaky["status"] == "stored"
    assert site.count("/flaky") == 3  # two 503s, then the capture


def test_refused_address_is_a_recorded_failure(pipeline):
    env = pipeline["env"]
    url = "http://127.0.0.1:9/not-allowed"
    assert cli("submit", url, env=env).returncode == 0
    [capture] = wait_for_capture(env, url)
    assert capture["status"] == "failed" and capture["reason"] == "policy_refused"
    assert capture["warc_key"] is None
    assert capture["items"] == {
        "url": True,
        "html": False,
        "screenshot": False,
        "media": False,
    }  # the failed attempt is a record too


def test_redelivered_message_gives_one_capture(pipeline):
    """Kill the worker, rewind the group to re-consume a captured message, restart."""
    env, site, prefix, worker = (
        pipeline["env"],
        pipeline["site"],
        pipeline["prefix"],
        pipeline["worker"],
    )
    url = site.url("/gzip")
    [submitted] = json.loads(cli("submit", url, "--json", env=env).stdout)
    [capture] = wait_for_capture(env, url)
    poll(lambda: events_for(env, prefix, capture["capture_id"]), what="first event")
    hits = site.count("/gzip")

    letters_before = len(read_topic(env, f"{prefix}.dead-letter"))
    worker.stop()
    tp = TopicPartition(f"{prefix}.ingest", submitted["partition"])
    rewind = KafkaConsumer(
        **kafka_of(env, "worker").client_kwargs(),
        group_id=f"{prefix}-agents",
        enable_auto_commit=False,
    )
    from kafka.structs import OffsetAndMetadata

    rewind.commit({tp: OffsetAndMetadata(submitted["offset"], "", -1)})
    rewind.close()
    worker.start()

    def consumed_again():
        probe = KafkaConsumer(
            **kafka_of(env, "worker").client_kwargs(),
            group_id=f"{prefix}-agents",
            enable_auto_commit=False,
        )
        try:
            committed = probe.committed(tp)
            return committed is not None and committed > submitted["offset"]
        finally:
            probe.close()

    poll(consumed_again, timeout=60, what="the rewound message to be consumed again")
    assert captures(env, url) == [capture]
    assert len(events_for(env, prefix, capture["capture_id"])) == 1
    store = store_of(env)
    versions = store.client.list_object_versions(
        Bucket=store.bucket, Prefix=layout.warc_key(capture["capture_id"])
    )
    assert len(versions.get("Versions", [])) == 1
    assert site.count("/gzip") == hits  # found done: not even fetched again
    assert len(read_topic(env, f"{prefix}.dead-letter")) == letters_before
    assert "internal error" not in worker.log()


def test_the_worker_reports_metrics_and_health(pipeline):
    """What Prometheus and an orchestrator see: outcomes, bytes, lag, health."""
    import urllib.request

    env, site = pipeline["env"], pipeline["site"]
    base = f"http://{env['WARCFLOW_WORKER_METRICS']}"
    url = site.url("/post/1?metrics")
    producer = KafkaProducer(**kafka_of(env, "submitter").client_kwargs(), acks="all")
    producer.send(f"{pipeline['prefix']}.ingest", value=b"\xff\xfe junk").get(10)
    producer.close()
    assert cli("submit", url, env=env).returncode == 0
    wait_for_capture(env, url)

    def scrape() -> str:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
            return answer.read().decode()

    text = poll(
        lambda: (
            lambda t: (
                t
                if 'outcome="stored",stage="capture"' in t and "warcflow_consumer_lag{" in t
                else None
            )
        )(scrape()),
        timeout=30,
        what="metrics with a stored capture and the lag",
    )
    assert 'warcflow_stored_bytes_total{stage="capture"}' in text
    assert 'warcflow_dead_letters_total{reason="not_utf8",stage="capture"}' in text
    assert 'warcflow_handle_seconds_bucket{le="+Inf",stage="capture"}' in text
    with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:
        health = json.loads(answer.read())
    assert answer.status == 200 and health["status"] == "ok" and health["handled"]["stored"] >= 1
