"""Media capture through the whole pipeline: CLI → Kafka → worker → versitygw.

The test site carries the clip the way social posts do (og:video, <video>,
HLS, DASH, a file browsers cannot play, the same clip reposted under two
URLs, media on a private address). What is asserted is what a user sees:
`warcflow captures --json`, files fetched with `warcflow get`, `warcio check`.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.support import media as testmedia
from tests.support.observe import events_for, media_of, read_topic
from tests.support.site import TestSite
from tests.support.stack import cli, poll, store_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_canary():
    with TestSite() as running:
        yield running


@pytest.fixture(scope="module")
def media_pipeline(pipeline, media_set, module_canary):
    testmedia.install(pipeline["site"], media_set, module_canary.origin)
    return pipeline


def submit(env, *urls):
    result = cli("submit", *urls, env=env)
    assert result.returncode == 0, result.stderr


def download(env, what, path):
    result = cli("get", what, "-o", str(path), env=env)
    assert result.returncode == 0, result.stderr
    return path.read_bytes()


def warcio_check(path):
    done = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_og_video_clip_is_captured_at_full_quality(media_pipeline, media_set, tmp_path):
    env, site, prefix = media_pipeline["env"], media_pipeline["site"], media_pipeline["prefix"]
    submit(env, site.url("/post/og-video"))
    capture = media_of(env, site.url("/post/og-video"))
    [media] = capture["media"]
    assert media["status"] == "stored" and media["source_url"] == site.url("/media/clip.mp4")
    assert (media["width"], media["height"]) == (320, 240)
    assert media["duration"] == pytest.approx(3.0, abs=0.1)
    original = media_set.path("clip.mp4").read_bytes()
    stored = download(env, f"sha256:{media['sha256']}", tmp_path / "clip.mp4")
    assert stored == original and hashlib.sha256(stored).hexdigest() == media["sha256"]
    for capture_id in (capture["capture_id"], media["media_id"]):
        warc = tmp_path / f"{capture_id}.warc.gz"
        download(env, capture_id, warc)
        warcio_check(warc)
    [event] = poll(lambda: events_for(env, prefix, media["media_id"]), what="MediaStored")
    assert event["schema"] == "warcflow.MediaStored"
    assert event["parent_capture_id"] == capture["capture_id"]
    assert event["sha256"] == media["sha256"] and event["size"] == len(original)


@pytest.mark.parametrize(
    "path, video, audio",
    [
        ("/post/webm", "vp9", "opus"),
        ("/post/hls", "h264", "aac"),
        ("/post/dash", "h264", "aac"),
    ],
)
def test_video_elements_and_streams(media_pipeline, tmp_path, path, video, audio):
    env, site = media_pipeline["env"], media_pipeline["site"]
    submit(env, site.url(path))
    [media] = media_of(env, site.url(path))["media"]
    assert media["status"] == "stored", media
    assert (media["video_codec"], media["audio_codec"]) == (video, audio)
    assert (media["width"], media["height"]) == (320, 240)
    expected = 2.0 if path == "/post/webm" else 3.0
    assert media["duration"] == pytest.approx(expected, abs=0.2)
    assert media["derived_key"] is None  # all of these play in browsers
    warc = tmp_path / "media.warc.gz"
    download(env, media["media_id"], warc)
    warcio_check(warc)
    types = [r.rec_type for r in ArchiveIterator(io.BytesIO(warc.read_bytes()))]
    if path in ("/post/hls", "/post/dash"):
        assert "resource" in types  # the merged file, as assembled
        assert types.count("response") >= 3  # the manifest and its segments


def test_unplayable_original_gets_a_derived_copy(media_pipeline, tmp_path):
    env, site = media_pipeline["env"], media_pipeline["site"]
    submit(env, site.url("/post/mkv"))
    [media] = media_of(env, site.url("/post/mkv"))["media"]
    assert media["status"] == "stored" and media["container"] == "matroska,webm"
    assert media["derived_key"] and media["derived_key"] != media["key"]
    derived = download(env, f"sha256:{media['sha256']}", tmp_path / "orig.mkv")
    assert hashlib.sha256(derived).hexdigest() == media["sha256"]  # `get` gives the original


def test_reposts_of_the_same_clip_share_one_media_object(media_pipeline, tmp_path):
    env, site = media_pipeline["env"], media_pipeline["site"]
    submit(env, site.url("/post/repost-a"))
    [first] = media_of(env, site.url("/post/repost-a"))["media"]
    submit(env, site.url("/post/repost-b"))
    [second] = media_of(env, site.url("/post/repost-b"))["media"]
    assert first["status"] == second["status"] == "stored"
    assert first["source_url"] != second["source_url"]
    assert first["sha256"] == second["sha256"] and first["key"] == second["key"]
    assert second["deduplicated"] is True

    store = store_of(env)
    originals = [
        k
        for k in store.list_keys(first["key"].rsplit(".", 1)[0])
        if not k.endswith((".json", ".jpg", ".derived.mp4"))
    ]
    assert originals == [first["key"]]
    warc = tmp_path / "repost-b.warc.gz"
    download(env, second["media_id"], warc)
    warcio_check(warc)
    assert "revisit" in [r.rec_type for r in ArchiveIterator(io.BytesIO(warc.read_bytes()))]


def test_media_on_private_addresses_is_refused(media_pipeline, module_canary):
    env, site = media_pipeline["env"], media_pipeline["site"]
    submit(env, site.url("/post/private-media"), site.url("/post/hls-evil"))
    for path in ("/post/private-media", "/post/hls-evil"):
        capture = media_of(env, site.url(path))
        assert capture["status"] == "stored"  # the page itself is fine
        [media] = capture["media"]
        assert media["status"] == "failed" and media["reason"] == "policy_refused", media
    assert sum(module_canary.hits.values()) == 0
    letters = [
        json.loads(m.value) for m in read_topic(env, f"{media_pipeline['prefix']}.dead-letter")
    ]
    assert not [letter for letter in letters if letter["stage"] == "media"]
