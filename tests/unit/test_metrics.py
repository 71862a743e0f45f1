"""The worker's metrics and health endpoint, without a broker."""

import asyncio
import json
import urllib.error
import urllib.request

from prometheus_client import generate_latest

from streams.metrics import Metrics
from streams.observe import ObservabilityServer
from tests.support.site import Route
from tests.support.stages import NAMES, ingest, make_stage, submit


def sample(metrics: Metrics, name: str, **labels) -> float:
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_the_stages_count_failures_dead_letters_and_bytes(site):
    stage, producer, _store = make_stage(site, attempts=1)
    metrics = stage.metrics
    site.routes["/down"] = Route(b"down", status=503)
    asyncio.run(stage.on_ingest(ingest(submit(site.url("/post/1")))))
    asyncio.run(stage.on_ingest(ingest(submit(site.url("/down")), offset=2)))
    asyncio.run(stage.on_ingest(ingest(b"\xff junk", offset=3)))
    stored = producer.on(NAMES.captures)[0]["size"]
    assert sample(metrics, "warcflow_stored_bytes_total", stage="capture") == stored
    assert sample(metrics, "warcflow_attempt_failures_total", reason="http_503") == 1
    assert sample(metrics, "warcflow_dead_letters_total", reason="not_utf8") == 1
    assert sample(metrics, "warcflow_dead_letters_total", reason="retries_exhausted:http_503") == 1


def test_outcomes_times_and_lag_are_exported():
    metrics = Metrics()
    metrics.observe("capture", "stored", 0.3)
    metrics.observe("capture", "retry", None)
    metrics.follow_lag(lambda: [("warcflow.ingest", 0, 12)])
    text = generate_latest(metrics.registry).decode()
    assert 'warcflow_messages_total{outcome="stored",stage="capture"} 1.0' in text
    assert 'warcflow_handle_seconds_count{stage="capture"} 1.0' in text  # retries not timed
    assert 'warcflow_consumer_lag{partition="0",topic="warcflow.ingest"} 12.0' in text
    assert metrics.totals() == {"stored": 1, "retry": 1}


def test_healthz_says_starting_until_ready_and_metrics_are_served():
    metrics = Metrics()
    state = {"status": "starting"}
    server = ObservabilityServer("127.0.0.1:0", metrics, lambda: dict(state))
    server.start()
    base = f"http://{server.address}"
    try:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=5)
            raise AssertionError("a starting worker must answer 503")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and json.loads(exc.read())["status"] == "starting"
        state["status"] = "ok"
        with urllib.request.urlopen(base + "/healthz", timeout=5) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
            assert b"# TYPE warcflow_messages_total counter" in answer.read()
            assert answer.headers["Content-Type"].startswith("text/plain")
    finally:
        server.stop()
