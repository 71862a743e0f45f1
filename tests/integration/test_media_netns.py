"""Media capture cannot reach inside (security review F1), live, in a network namespace.

The probe (tests/support/netns_media_probe.py) serves HLS streams from a
"public" address and keeps canaries on loopback, a private address and the
metadata address, all inside a namespace with no route out. Before the fence,
yt-dlp handed the AES-128, SAMPLE-AES and live streams to ffmpeg, which
fetched the key and segments from all three canaries itself (one hit each),
and the live stream kept ffmpeg polling past any deadline. Now: no program
gets a URL, every canary sees nothing, and the honest AES-128 stream is
captured natively with its key and every segment in the WARC.

Needs root, ``unshare`` and ``ip``: this test fails (it does not skip) where
it cannot make its namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.netns_probe import HOSTS
from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    hosts = tmp_path_factory.mktemp("netns-media") / "hosts"
    hosts.write_text(HOSTS)
    # files, not pipes: a helper process that outlives the probe (Chromium's
    # crash handler, say) must not keep the test waiting for an end of file
    out, err = hosts.with_name("stdout"), hosts.with_name("stderr")
    with open(out, "w") as stdout, open(err, "w") as stderr:
        done = subprocess.run(
            [
                "unshare",
                "--net",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "-m",
                "tests.support.netns_media_probe",
                str(hosts),
            ],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            timeout=240,
        )
    assert done.returncode == 0, err.read_text()[-3000:]
    return json.loads(out.read_text().strip().splitlines()[-1])


def test_no_canary_inside_was_reached(probe):
    assert probe["canary_hits"] == {"evil.test": {}, "internal.test": {}, "metadata.test": {}}


def test_no_program_was_given_a_url(probe):
    assert probe["programs_with_urls"] == []


def test_an_aes128_stream_is_captured_natively_key_and_segments_in_the_warc(probe):
    assert probe["outcomes"]["aes-public"] == "stored"
    recorded = set(probe["recorded"])
    base = "http://public.test:8080/aes/"
    assert {base + "stream.m3u8", base + "key.bin", base + "seg000.ts", base + "seg001.ts"} <= (
        recorded
    )


@pytest.mark.parametrize(
    "variant, outcome",
    [
        ("aes-inside.m3u8", "refused policy_refused"),  # the key URL, refused by the fetcher
        ("sample-aes.m3u8", "refused stream_unsupported"),
        ("live.m3u8", "refused live_stream"),
        ("segment-is-playlist.m3u8", "refused not_media"),
        ("playlist-as-video.mp4", "refused not_media"),
    ],
)
def test_streams_that_would_leave_the_fence_are_refused_with_their_reason(probe, variant, outcome):
    assert probe["outcomes"][variant] == outcome
