"""Media capture on the in-package fake store, against a real local site and real ffmpeg.

The integration tests run the same through Kafka and versitygw; here each
behaviour of ``archivers.media`` is pinned down one at a time.
"""

import asyncio
import hashlib
import io
import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from archivers.clock import utc_now
from archivers.errors import CaptureError
from archivers.media import ffmpeg
from archivers.media.archiver import MediaArchiver, MediaRequest, MediaSettings
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from tests.support import media as testmedia


@pytest.fixture
def media_site(site, media_set, canary):
    testmedia.install(site, media_set, canary.origin)
    return site


def archiver(site, store=None, **settings):
    # perceptual hashes are tests/unit/test_similar.py's: off here
    settings = {"hashes": False, **settings}
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    return MediaArchiver(
        fetcher,
        store or MemoryStore(),
        MediaSettings(**settings),
        agent={"name": "warcflow", "version": "test"},
    )


def request(site, path, kind="direct", page="/post/1", parent=None):
    parent = parent or layout.capture_id(
        "t", 0, hash(page) % 10_000, int(utc_now().timestamp() * 1000)
    )
    url = site.url(path)
    return MediaRequest(
        layout.media_id(parent, url),
        parent,
        site.url(page),
        url,
        kind,
        "test",
        utc_now(),
        parent_record_id="<urn:uuid:page>",
    )


def capture(arch, req):
    return asyncio.run(arch.capture(req)).manifest


def warc_records(store, key):
    out = []
    for record in ArchiveIterator(io.BytesIO(store.get_bytes(key)), check_digests="raise"):
        out.append((record.rec_type, record.rec_headers, record.content_stream().read()))
    return out


def test_direct_mp4_is_stored_content_addressed_with_facts_and_poster(media_site, media_set):
    arch = archiver(media_site)
    m = capture(arch, request(media_site, "/media/clip.mp4"))
    original = media_set.path("clip.mp4").read_bytes()
    assert m.status == "stored" and m.kind == "direct"
    assert m.sha256 == hashlib.sha256(original).hexdigest() and m.size == len(original)
    assert m.key == layout.media_key(m.sha256, "mp4")
    assert arch.store.get_bytes(m.key) == original  # the bytes as served, not re-encoded
    assert (m.width, m.height) == (320, 240) and m.duration == pytest.approx(3.0, abs=0.1)
    assert m.video_codec == "h264" and m.audio_codec == "aac" and m.frame_rate == 25
    assert m.derived is None  # plays in browsers as it is
    assert m.post is None  # a bare file states nothing about its post
    assert arch.store.get_bytes(m.poster_key)[:3] == b"\xff\xd8\xff"  # a JPEG
    records = warc_records(arch.store, m.warc_key)
    response = next(body for t, h, body in records if t == "response")
    assert response == original  # the page's <video src> replays from this record
    meta = json.loads(next(body for t, h, body in records if t == "metadata"))
    assert meta["width"] == 320 and meta["sha256"] == m.sha256
    assert (
        next(h for t, h, _ in records if t == "metadata").get_header("WARC-Refers-To")
        == "<urn:uuid:page>"
    )


def test_same_clip_in_two_posts_is_stored_once(media_site):
    arch = archiver(media_site)
    first = capture(arch, request(media_site, "/cdn1/clip.mp4", page="/post/repost-a"))
    second = capture(arch, request(media_site, "/cdn2/same-clip.mp4", page="/post/repost-b"))
    assert first.sha256 == second.sha256 and first.key == second.key
    assert not first.deduplicated and second.deduplicated
    originals = [
        k
        for k in arch.store.objects
        if k.startswith("media/") and k.endswith((".mp4", ".webm", ".mkv")) and ".derived." not in k
    ]
    assert originals == [first.key]
    records = warc_records(arch.store, second.warc_key)
    revisit = next(h for t, h, _ in records if t == "revisit")
    assert revisit.get_header("WARC-Refers-To-Target-URI") == media_site.url("/cdn1/clip.mp4")
    assert revisit.get_header("WARC-Profile").endswith("identical-payload-digest")
    assert arch.store.head(second.warc_key).size < 10_000  # no second copy of the bytes


def test_hls_is_merged_without_reencoding_and_every_segment_recorded(media_site):
    arch = archiver(media_site)
    m = capture(arch, request(media_site, "/media/hls/stream.m3u8", kind="stream"))
    assert m.status == "stored" and m.container.startswith("mov,mp4")
    assert m.video_codec == "h264" and m.duration == pytest.approx(3.0, abs=0.2)
    records = warc_records(arch.store, m.warc_key)
    uris = [h.get_header("WARC-Target-URI") for t, h, _ in records if t == "response"]
    assert media_site.url("/media/hls/stream.m3u8") in uris
    assert {media_site.url(f"/media/hls/seg00{n}.ts") for n in range(3)} <= set(uris)
    resource = next((h, body) for t, h, body in records if t == "resource")
    assert resource[0].get_header("WARC-Target-URI") == f"urn:sha256:{m.sha256}"
    assert hashlib.sha256(resource[1]).hexdigest() == m.sha256
    # the post's identity as yt-dlp reported it, in the manifest and the WARC metadata
    assert m.post["source"] == "yt-dlp" and m.post["id"] == m.info["id"] == "stream"
    meta = json.loads(next(body for t, h, body in records if t == "metadata"))
    assert meta["post"] == m.post


def test_dash_audio_and_video_are_merged(media_site):
    m = capture(archiver(media_site), request(media_site, "/media/dash/manifest.mpd", "stream"))
    assert m.status == "stored" and m.video_codec == "h264" and m.audio_codec == "aac"
    assert (m.width, m.height) == (320, 240)


def test_webm_plays_as_is_and_mkv_gets_a_documented_derived_copy(media_site):
    arch = archiver(media_site)
    webm = capture(arch, request(media_site, "/media/clip.webm"))
    assert webm.ext == "webm" and webm.video_codec == "vp9" and webm.derived is None
    mkv = capture(arch, request(media_site, "/media/clip-mpeg4.mkv"))
    assert mkv.ext == "mkv" and mkv.video_codec == "mpeg4"
    derived = mkv.derived
    assert derived["method"] == "transcode" and derived["derived_from"] == mkv.sha256
    assert derived["command"][0] == "ffmpeg" and "libx264" in derived["command"]
    assert derived["video_codec"] == "h264" and derived["audio_codec"] == "aac"
    data = arch.store.get_bytes(derived["key"])
    assert hashlib.sha256(data).hexdigest() == derived["sha256"]
    assert arch.store.get_bytes(mkv.key) == (
        media_site.routes["/media/clip-mpeg4.mkv"].file.read_bytes()
    )  # original kept untouched


def test_media_on_a_private_address_is_refused_without_a_connection(media_site, canary):
    arch = archiver(media_site)
    from archivers.errors import PolicyRefused

    direct = request(media_site, "/x")
    direct = MediaRequest(
        direct.media_id,
        direct.parent_capture_id,
        direct.page_url,
        canary.url("/secret.mp4"),
        "direct",
        "test",
        utc_now(),
    )
    with pytest.raises(PolicyRefused):
        capture(arch, direct)
    via_ytdlp = MediaRequest(
        direct.media_id,
        direct.parent_capture_id,
        direct.page_url,
        canary.url("/secret.m3u8"),
        "stream",
        "test",
        utc_now(),
    )
    with pytest.raises(PolicyRefused):
        capture(arch, via_ytdlp)
    with pytest.raises(PolicyRefused):  # an allowed playlist whose segments point inside
        capture(arch, request(media_site, "/evil/stream.m3u8", kind="stream"))
    assert sum(canary.hits.values()) == 0


def test_size_and_duration_caps_refuse_the_media(media_site):
    from archivers.errors import LimitExceeded

    fetch = FetchSettings(allow=parse_allow_list(media_site.allow), max_response_bytes=10_000)
    small = MediaArchiver(Fetcher(fetch), MemoryStore(), MediaSettings(max_bytes=10_000), agent={})
    with pytest.raises(LimitExceeded) as too_large:
        capture(small, request(media_site, "/media/clip.mp4"))
    assert too_large.value.reason == "media_too_large"
    with pytest.raises(LimitExceeded) as too_large_stream:  # many small responses add up
        capture(
            archiver(media_site, max_bytes=30_000),
            request(media_site, "/media/hls/stream.m3u8", kind="stream"),
        )
    assert too_large_stream.value.reason == "media_too_large"
    with pytest.raises(LimitExceeded) as too_long:
        capture(archiver(media_site, max_duration=1.0), request(media_site, "/media/clip.mp4"))
    assert too_long.value.reason == "media_too_long"
    with pytest.raises(LimitExceeded) as too_long_stream:
        capture(
            archiver(media_site, max_duration=1.0),
            request(media_site, "/media/hls/stream.m3u8", kind="stream"),
        )
    assert too_long_stream.value.reason == "media_too_long"


def test_a_page_is_not_media(media_site):
    from archivers.media.ffmpeg import NotMedia

    with pytest.raises(NotMedia):
        capture(archiver(media_site), request(media_site, "/post/1"))


def test_redelivered_request_finds_its_manifest(media_site):
    arch = archiver(media_site)
    req = request(media_site, "/media/clip.webm")
    first = asyncio.run(arch.capture(req))
    hits = media_site.count("/media/clip.webm")
    again = asyncio.run(arch.capture(req))
    assert first.created and not again.created and again.manifest == first.manifest
    assert media_site.count("/media/clip.webm") == hits


def test_probe_reads_the_generated_clips(media_set):
    facts = ffmpeg.probe(media_set.path("clip.webm"))
    assert facts.ext() == "webm" and facts.browser_playable()
    mkv = ffmpeg.probe(media_set.path("clip-mpeg4.mkv"))
    assert mkv.ext() == "mkv" and not mkv.browser_playable()


def test_the_canary_rehearses_a_capture_and_stores_nothing(media_site):
    arch = archiver(media_site)
    facts = asyncio.run(arch.rehearse(media_site.url("/media/hls/stream.m3u8")))
    assert facts["kind"] == "stream" and facts["video_codec"] == "h264"
    assert facts["duration"] == pytest.approx(3.0, abs=0.2) and facts["size"] > 0
    assert arch.store.objects == {}
    media_site.delete("/media/hls/stream.m3u8")
    with pytest.raises(CaptureError):
        asyncio.run(arch.rehearse(media_site.url("/media/hls/stream.m3u8")))
