"""The extractor canary's verdicts, as the operator sees them: a metric and a log line."""

import asyncio
import logging

from archivers.errors import FetchUnavailable
from streams.canary import run_canary
from streams.metrics import Metrics

FACTS = {
    "url": "https://v.example/clip",
    "kind": "extractor",
    "container": "mp4",
    "duration": 12.0,
    "size": 1000,
    "seconds": 0.5,
    "video_codec": "h264",
}


def test_a_working_canary_says_so(caplog):
    metrics = Metrics()

    async def works(url):
        return FACTS

    with caplog.at_level(logging.INFO, logger="warcflow.canary"):
        assert asyncio.run(run_canary(works, FACTS["url"], metrics)) is True
    assert metrics.canary_ok._value.get() == 1
    assert metrics.canary_last_ok._value.get() > 0
    assert "canary ok: https://v.example/clip" in caplog.text


def test_a_broken_extractor_shows_in_the_metric_and_the_log(caplog):
    metrics = Metrics()

    async def breaks(url):
        raise FetchUnavailable("yt-dlp: Unable to extract video data", reason="extractor_error")

    with caplog.at_level(logging.INFO, logger="warcflow.canary"):
        assert asyncio.run(run_canary(breaks, FACTS["url"], metrics)) is False
    assert metrics.canary_ok._value.get() == 0
    assert "extractor_error" in caplog.text and "upgrade yt-dlp" in caplog.text


def test_an_unexpected_error_is_reported_not_raised(caplog):
    metrics = Metrics()

    async def crashes(url):
        raise RuntimeError("boom")

    assert asyncio.run(run_canary(crashes, FACTS["url"], metrics)) is False
    assert "RuntimeError: boom" in caplog.text
