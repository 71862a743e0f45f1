"""What integration and browser tests look at: topics, captures' media, the replay frame."""

import json
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from tests.support.stack import cli, kafka_of, poll

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
"""Screenshots and pages a failed browser test leaves behind."""


def read_topic(env, topic, role: str = "operator") -> list:
    """Every message on ``topic`` so far (a fresh consumer of ``role``, no group)."""
    consumer = KafkaConsumer(
        **kafka_of(env, role).client_kwargs(),
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def events_for(env, prefix, capture_id):
    return [
        json.loads(m.value)
        for m in read_topic(env, f"{prefix}.captures")
        if json.loads(m.value)["capture_id"] == capture_id
    ]


def media_of(env, url, count=1, timeout=90):
    """Poll until the newest capture of ``url`` has ``count`` finished media entries."""

    def done():
        result = cli("captures", url, "--json", env=env)
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        if found and len(found[0]["media"]) >= count:
            return found[0]
        return None

    return poll(done, timeout=timeout, interval=0.5, what=f"media of {url}")


def replay_frame(page, timeout: float = 30.0):
    """The frame showing the archived page: pywb's inner ``mp_`` frame, inside its top
    frame, inside the viewer's iframe. Polls with a deadline; Playwright's own
    ``wait_for_timeout`` between looks lets it process the frames' events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if "mp_/" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(100)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "no-replay-frame.png"), full_page=True)
    raise AssertionError(f"no replay frame after {timeout:g} s: {[f.url for f in page.frames]}")
