"""Test media made with ffmpeg's testsrc/sine sources: nothing binary is committed.

``make_media(dir)`` writes, in about two seconds:
  clip.mp4        3 s, 320x240, 25 fps, H.264 + AAC (1 s GOP so HLS can segment it)
  clip.webm       2 s, 320x240, VP9 + Opus
  clip-mpeg4.mkv  2 s, 320x240, MPEG-4 Part 2 + MP3 in Matroska (no browser plays it)
  hls/stream.m3u8 + hls/seg00N.ts    the mp4, segmented for HLS (1 s segments)
  dash/manifest.mpd + init/chunk .m4s  the mp4 as DASH (separate audio and video)
and the ``posts`` the test site serves around them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIP = {"duration": 3.0, "width": 320, "height": 240, "fps": 25}


def _ffmpeg(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], cwd=cwd, check=True
    )


def _sources(duration: float) -> list[str]:
    return [
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=320x240:rate=25:duration={duration}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={duration}",
    ]


@dataclass(frozen=True)
class MediaSet:
    root: Path

    def path(self, name: str) -> Path:
        return self.root / name


def make_media(root: Path) -> MediaSet:
    root.mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        *_sources(3),
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-keyint_min",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        "clip.mp4",
        cwd=root,
    )
    _ffmpeg(
        *_sources(2),
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "200k",
        "-deadline",
        "realtime",
        "-c:a",
        "libopus",
        "-shortest",
        "clip.webm",
        cwd=root,
    )
    _ffmpeg(
        *_sources(2), "-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest", "clip-mpeg4.mkv", cwd=root
    )
    (root / "hls").mkdir(exist_ok=True)
    _ffmpeg(
        "-i",
        "../clip.mp4",
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "seg%03d.ts",
        "stream.m3u8",
        cwd=root / "hls",
    )
    (root / "dash").mkdir(exist_ok=True)
    _ffmpeg("-i", "../clip.mp4", "-c", "copy", "-f", "dash", "manifest.mpd", cwd=root / "dash")
    return MediaSet(root)


def post(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><article><p>{title}</p>{body}</article></body></html>"
    ).encode()


def media_posts(canary_origin: str) -> dict[str, bytes]:
    """Post pages by path; ``canary_origin`` is a server the fetcher must never reach."""
    return {
        "/post/og-video": post(
            "A clip via og:video", '<meta property="og:video" content="/media/clip.mp4">'
        ),
        "/post/webm": post(
            "A clip in a video element",
            '<video controls><source src="/media/clip.webm" type="video/webm"></video>',
        ),
        "/post/hls": post("An HLS stream", '<video src="/media/hls/stream.m3u8"></video>'),
        "/post/dash": post(
            "A DASH stream",
            '<video><source src="/media/dash/manifest.mpd" type="application/dash+xml"></video>',
        ),
        "/post/mkv": post("A file no browser plays", '<a href="/media/clip-mpeg4.mkv">clip</a>'),
        "/post/repost-a": post(
            "Reposted by tracker A", '<meta property="og:video" content="/cdn1/clip.mp4">'
        ),
        "/post/repost-b": post(
            "Reposted by tracker B", '<meta property="og:video" content="/cdn2/same-clip.mp4">'
        ),
        "/post/private-media": post(
            "Media on a private address", f'<video src="{canary_origin}/secret.mp4"></video>'
        ),
        "/post/hls-evil": post(
            "A playlist pointing inside", '<video src="/evil/stream.m3u8"></video>'
        ),
    }


def evil_playlist(canary_origin: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:1.0,\n{canary_origin}/seg000.ts\n#EXT-X-ENDLIST\n"
    ).encode()


def install(site, media: MediaSet, canary_origin: str) -> None:
    """Serve the media set and the posts around it on ``site``."""
    from tests.support.site import Route

    site.serve_dir("/media/", media.root)
    clip = media.path("clip.mp4")
    site.routes["/cdn1/clip.mp4"] = Route(file=clip, content_type="video/mp4")
    site.routes["/cdn2/same-clip.mp4"] = Route(file=clip, content_type="video/mp4")
    site.routes["/evil/stream.m3u8"] = Route(
        evil_playlist(canary_origin), content_type="application/vnd.apple.mpegurl"
    )
    for path, html in media_posts(canary_origin).items():
        site.routes[path] = Route(html)
