"""A video of more than 1 GiB is captured with bounded memory.

The file is the generated clip plus a 1 GiB ``free`` box (valid MP4: players
and ffprobe skip it) of incompressible bytes, served by the test site. The
capture runs in a fresh process against the real S3 server; its peak RSS must
not grow with the file: within 100 MiB of the same capture of the 45 kB clip.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

import pytest

from tests.support.site import Route, TestSite
from tests.support.stack import ROOT, store_of

pytestmark = pytest.mark.integration

GIB = 1024**3


def big_mp4(clip: bytes, path) -> int:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as out:
        out.write(clip)
        out.write(struct.pack(">I", 8 + GIB) + b"free")
        for _ in range(GIB // len(block)):
            out.write(block)
    return path.stat().st_size


BUDGET = 900
"""Seconds for the whole test (its own pytest timeout): both captures share it."""


def capture(env, url, deadline: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.capture_media", url],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=max(1.0, deadline - time.monotonic()),  # fires before pytest's timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(BUDGET)
def test_a_1_gib_video_is_captured_with_bounded_memory(stack, media_set, tmp_path):
    deadline = time.monotonic() + BUDGET - 60  # room for making the file and the checks
    clip = media_set.path("clip.mp4").read_bytes()
    size = big_mp4(clip, tmp_path / "big.mp4")
    with TestSite() as site:
        site.routes["/big.mp4"] = Route(file=tmp_path / "big.mp4", content_type="video/mp4")
        site.routes["/small.mp4"] = Route(file=media_set.path("clip.mp4"), content_type="video/mp4")
        env = stack.env(
            WARCFLOW_FETCH_ALLOW=site.allow,
            WARCFLOW_S3_BUCKET="large-media",
            WARCFLOW_HOME=str(tmp_path / "home"),
        )
        small = capture(env, site.url("/small.mp4"), deadline)
        large = capture(env, site.url("/big.mp4"), deadline)
    (tmp_path / "big.mp4").unlink()
    assert large["status"] == "stored" and large["size"] == size > GIB
    assert large["duration"] == pytest.approx(3.0, abs=0.1) and large["width"] == 320

    store = store_of(env)
    assert store.head(large["key"]).size == size
    growth_mib = (large["peak_rss_kib"] - small["peak_rss_kib"]) / 1024
    print(
        f"peak RSS: {small['peak_rss_kib'] / 1024:.0f} MiB for 45 kB, "
        f"{large['peak_rss_kib'] / 1024:.0f} MiB for {size / GIB:.2f} GiB"
    )
    assert growth_mib < 100, f"memory grew by {growth_mib:.0f} MiB with the file size"
