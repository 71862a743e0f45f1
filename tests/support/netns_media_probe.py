"""Media capture (the fenced yt-dlp, ffmpeg) live, in a network namespace of its own.

    unshare --net --mount --propagation private python -m tests.support.netns_media_probe HOSTS

The namespace of ``tests.support.netns_probe`` (its ``setup`` and names), with
canaries on three inside addresses: loopback (``evil.test``), a private one
(``internal.test``, 10.0.0.5) and the cloud metadata address
(``metadata.test``), all on the namespace's own ``lo``. A "public" site
serves HLS streams shaped as in the security review (F1): AES-128 with its key
and segments inside, SAMPLE-AES, a live playlist, a "segment" that is itself a
playlist naming inside URLs, a "video" file that is a playlist — and one
honest AES-128 stream whose key and segments are public. No allow-list. Prints
one JSON object: each variant's outcome (``stored`` or ``refused <reason>``),
the URIs the stored one's WARC recorded, the programs started with a URL on
their command line, and every canary hit (which must be none).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.netns_probe import PORT, PUBLIC, setup

INSIDE = {"evil.test": "127.0.0.1", "internal.test": "10.0.0.5", "metadata.test": "169.254.169.254"}


def playlist(lines: list[str], *, end: bool = True) -> bytes:
    head = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:0"]
    return "\n".join(head + lines + (["#EXT-X-ENDLIST"] if end else []) + [""]).encode()


def segments(*urls: str) -> list[str]:
    return [line for url in urls for line in ("#EXTINF:4.0,", url)]


def honest_aes(root: Path) -> None:
    """An AES-128 HLS stream made by ffmpeg (key served beside it, relative URI)."""
    (root / "key.bin").write_bytes(bytes(range(16)))
    (root / "keyinfo").write_text(f"key.bin\n{root / 'key.bin'}\n")
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            "-hls_key_info_file",
            "keyinfo",
            "-hls_segment_filename",
            "seg%03d.ts",
            "stream.m3u8",
        ],
        cwd=root,
        check=True,
    )


def variants() -> dict[str, tuple[str, bytes]]:
    """name -> (kind, body served at /<name>)."""
    evil, internal = f"http://evil.test:{PORT}", f"http://internal.test:{PORT}"
    metadata = f"http://metadata.test:{PORT}"
    return {
        "aes-inside.m3u8": (
            "stream",
            playlist(
                [
                    f'#EXT-X-KEY:METHOD=AES-128,URI="{metadata}/latest/meta-data/iam/"',
                    *segments(f"{internal}/admin/anything?x=.ts", f"{evil}/segment.ts"),
                ]
            ),
        ),
        "sample-aes.m3u8": (
            "stream",
            playlist(
                [
                    f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{evil}/key"',
                    *segments(f"{evil}/segment.ts", f"{internal}/admin?x=.ts"),
                ]
            ),
        ),
        "live.m3u8": (
            "stream",
            playlist(segments(f"{evil}/live0.ts", f"{internal}/live1.ts"), end=False),
        ),
        "segment-is-playlist.m3u8": (
            "stream",
            playlist(segments(f"http://public.test:{PORT}/inner.ts")),
        ),
        "playlist-as-video.mp4": (
            "direct",
            playlist(segments(f"{evil}/from-ffprobe.ts", f"{internal}/from-ffprobe.ts")),
        ),
    }


def main() -> None:
    setup(sys.argv[1])
    for ip in ("10.0.0.5", "169.254.169.254"):
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    import yt_dlp.utils

    from archivers.clock import utc_now
    from archivers.errors import CaptureError
    from archivers.media.archiver import MediaArchiver, MediaRequest, MediaSettings
    from archivers.net.fetcher import Fetcher, FetchSettings
    from archivers.store import layout
    from archivers.store.memory import MemoryStore
    from tests.support.site import Route, TestSite

    started: list[list[str]] = []  # every program yt-dlp starts, with a URL in its argv
    original = yt_dlp.utils.Popen.__init__

    def spy(self, args, *rest, **options):
        argv = [str(a) for a in (args if isinstance(args, (list, tuple)) else [args])]
        if any("://" in a and not a.startswith("file:") for a in argv):
            started.append(argv)
        original(self, args, *rest, **options)

    yt_dlp.utils.Popen.__init__ = spy  # type: ignore[method-assign]

    media = Path(tempfile.mkdtemp())
    honest_aes(media)
    canaries = {name: TestSite(ip, port=PORT) for name, ip in INSIDE.items()}
    inner = playlist(segments(f"http://evil.test:{PORT}/from-postprocessor.ts"))
    with TestSite(PUBLIC, port=PORT) as site:
        for canary in canaries.values():
            canary.__enter__()
        try:
            site.serve_dir("/aes/", media)
            site.routes["/inner.ts"] = Route(inner, content_type="video/mp2t")
            for name, (_kind, body) in variants().items():
                site.routes[f"/{name}"] = Route(body, content_type="application/vnd.apple.mpegurl")
            store = MemoryStore()
            archiver = MediaArchiver(
                Fetcher(FetchSettings(connect_timeout=2, total_timeout=10)),
                store,
                MediaSettings(timeout=60),
                agent={"name": "probe"},
                workdir=Path(tempfile.mkdtemp()),
            )
            outcomes, recorded = {}, []
            todo = {"aes-public": ("stream", "/aes/stream.m3u8")}
            todo.update({name: (kind, f"/{name}") for name, (kind, _b) in variants().items()})
            for name, (kind, path) in todo.items():
                now = utc_now()
                parent = layout.capture_id("probe", 0, len(outcomes), int(now.timestamp() * 1000))
                url = f"http://public.test:{PORT}{path}"
                request = MediaRequest(
                    layout.media_id(parent, url),
                    parent,
                    f"http://public.test:{PORT}/post",
                    url,
                    kind,
                    "probe",
                    now,
                )
                try:
                    manifest = asyncio.run(asyncio.wait_for(archiver.capture(request), 120))
                    outcomes[name] = manifest.manifest.status
                    if name == "aes-public":
                        from warcio.archiveiterator import ArchiveIterator

                        data = store.get_bytes(manifest.manifest.warc_key)
                        for record in ArchiveIterator(io.BytesIO(data)):
                            if record.rec_type == "response":
                                recorded.append(record.rec_headers.get_header("WARC-Target-URI"))
                except CaptureError as exc:
                    outcomes[name] = f"refused {exc.reason}"
                except Exception as exc:  # noqa: BLE001 - the probe reports, the test judges
                    outcomes[name] = f"crashed {type(exc).__name__}: {exc}"[:300]
            print(
                json.dumps(
                    {
                        "outcomes": outcomes,
                        "recorded": recorded,
                        "site_hits": dict(site.hits),
                        "programs_with_urls": started,
                        "canary_hits": {
                            name: dict(canary.hits) for name, canary in canaries.items()
                        },
                    }
                )
            )
        finally:
            for canary in canaries.values():
                canary.__exit__(None, None, None)


if __name__ == "__main__":
    main()
