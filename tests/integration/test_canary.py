"""The extractor canary in a running worker: a metric and a log line an operator sees
when the known video stops coming down, and again when it is back."""

from __future__ import annotations

import urllib.request
import uuid

import pytest

from infra.processes import free_port
from tests.support import media as testmedia
from tests.support.site import TestSite
from tests.support.stack import WorkerProcess, poll

pytestmark = pytest.mark.integration


def test_the_worker_notices_when_the_canary_video_stops_coming_down(stack, media_set, tmp_path):
    prefix = f"c{uuid.uuid4().hex[:8]}"
    with TestSite() as site, TestSite() as canary:
        testmedia.install(site, media_set, canary.origin)
        metrics = f"127.0.0.1:{free_port()}"
        env = stack.env(
            WARCFLOW_TOPIC_PREFIX=prefix,
            WARCFLOW_S3_BUCKET=f"{prefix}-bucket",
            WARCFLOW_FETCH_ALLOW=site.allow,
            WARCFLOW_WORKER_METRICS=metrics,
            WARCFLOW_CANARY_URL=site.url("/media/hls/stream.m3u8"),
            WARCFLOW_CANARY_EVERY="1",
        )
        stack.provision(env)
        worker = WorkerProcess(env, tmp_path / "worker.log").start()
        try:

            def gauge(value: str):
                with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as answer:
                    text = answer.read().decode()
                return f"warcflow_canary_ok {value}" in text

            poll(lambda: gauge("1.0"), timeout=60, what="a working canary")
            assert "canary ok: " + site.url("/media/hls/stream.m3u8") in worker.log()
            site.delete("/media/hls/stream.m3u8")  # as when a platform changes its pages
            poll(lambda: gauge("0.0"), timeout=60, what="the canary to notice")
            assert "canary: could not capture" in worker.log()
            assert sum(canary.hits.values()) == 0
        finally:
            worker.stop()
