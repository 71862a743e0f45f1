"""The media fence (security review F1, F4, F12): yt-dlp's helpers never fetch,
decoded bytes are bounded while decoding, and a download's requests are counted.

The live proof that nothing reaches inside is tests/integration/test_media_netns.py;
here each piece of the fence is pinned down on loopback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import yt_dlp.downloader.hls

from archivers.clock import utc_now
from archivers.errors import LimitExceeded
from archivers.media import ffmpeg, ytdlp
from archivers.media.archiver import MediaArchiver, MediaRequest, MediaSettings
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from tests.support import media as testmedia
from tests.support.stack import ROOT


def _playlist_naming(origin: str) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:1.0,\n{origin}/from-ffmpeg.ts\n#EXT-X-ENDLIST\n"
    )


def test_the_wrapped_ffmpeg_and_ffprobe_open_no_url_a_local_playlist_names(tmp_path, canary):
    # a downloaded "video" that is really a playlist naming an inside URL
    local = tmp_path / "media.mp4"
    local.write_text(_playlist_naming(canary.origin))
    fence = ffmpeg.fenced_programs(tmp_path / "fence")
    for argv in (
        [str(fence / "ffprobe"), "-show_streams", f"file:{local}"],
        [str(fence / "ffmpeg"), "-y", "-i", f"file:{local}", "-c", "copy", str(tmp_path / "o.mp4")],
        # a whitelist yt-dlp (or an option it passes) might add is dropped, not obeyed
        [
            str(fence / "ffmpeg"),
            "-y",
            "-protocol_whitelist",
            "file,http,tcp",
            "-i",
            str(local),
            "-f",
            "null",
            "-",
        ],
    ):
        subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert canary.hits == {}
    # the same input does make the unwrapped program fetch: the test input is real
    subprocess.run(
        ["ffprobe", "-protocol_whitelist", "file,http,tcp", "-show_streams", str(local)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert canary.hits == {"/from-ffmpeg.ts": 1}


def test_yt_dlps_hls_downloader_finds_a_refusal_where_it_reaches_for_ffmpeg():
    refused = yt_dlp.downloader.hls.FFmpegFD
    assert refused is ytdlp._RefusedFFmpegFD
    with ytdlp.YoutubeDL({"quiet": True}) as ydl, pytest.raises(Exception) as stopped:
        refused(ydl, {}).real_download("x", {"url": "http://example.test/x.m3u8"})
    assert getattr(stopped.value, "reason", None) == "stream_unsupported"


def test_only_native_downloaders_may_run():
    from yt_dlp.downloader import get_suitable_downloader

    params = {"external_downloader": {"default": "native"}, "hls_prefer_native": True}
    live = {"url": "http://x.test/a.m3u8", "protocol": "m3u8_native", "is_live": True}
    assert get_suitable_downloader(dict(live), params) not in ytdlp.NATIVE_DOWNLOADERS
    with pytest.raises(Exception) as stopped:
        ytdlp.refuse_external(object(), live, "FFmpegFD")
    assert stopped.value.reason == "live_stream"
    vod = {**live, "is_live": False}
    assert get_suitable_downloader(dict(vod), params) in ytdlp.NATIVE_DOWNLOADERS


@pytest.fixture
def media_site(site, media_set, canary):
    testmedia.install(site, media_set, canary.origin)
    return site


def _request(site, path, kind="stream"):
    now = utc_now()
    parent = layout.capture_id("t", 0, 0, int(now.timestamp() * 1000))
    url = site.url(path)
    return MediaRequest(
        layout.media_id(parent, url), parent, site.url("/post"), url, kind, "t", now
    )


def test_a_playlist_of_more_segments_than_the_request_cap_is_refused(media_site):
    # the 3 s clip is 3 segments: playlist + 3 segments (+ yt-dlp's live check) > 3
    archiver = MediaArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(media_site.allow))),
        MemoryStore(),
        MediaSettings(max_requests=3),
        agent={},
    )
    with pytest.raises(LimitExceeded) as refused:
        asyncio.run(archiver.capture(_request(media_site, "/media/hls/stream.m3u8")))
    assert refused.value.reason == "media_too_many_requests"
    assert media_site.count("/media/hls/seg002.ts") == 0


@pytest.mark.parametrize("path", ["direct", "stream"])
def test_a_gzip_bomb_stops_at_the_media_limit_before_it_reaches_the_disk(path):
    # 512 MiB of zeros served as ~510 KB of gzip to a 1 MiB media limit. Before:
    # the direct path wrote until the child's 64 MiB file cap (EFBIG; 512 MiB
    # without it) at 234 MiB peak RSS, yt-dlp's path the same (262 MiB).
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.bombs", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcome"] == "refused media_too_large"
    assert report["largest_file"] <= 1024 * 1024 + 256 * 1024  # the limit and one step
    assert report["peak_rss_mib"] < 160
