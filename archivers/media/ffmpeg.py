"""Facts about a local media file, its poster frame and a browser-playable copy.

ffprobe and ffmpeg (through ffmpeg-python) only ever open local files here:
every call passes ``-protocol_whitelist file,pipe`` (``LOCAL_PROTOCOLS``) so a
crafted playlist or container cannot make them fetch anything. Calls run with
a time limit. The ffmpeg and ffprobe that yt-dlp runs (merges, fixups, probes)
are ``fenced_programs``: wrappers that put the same whitelist before every
input, whatever yt-dlp passes.

``derive_playable`` never touches the original: it writes a new file and
returns the exact ffmpeg command line, so each conversion is documented in the
manifest (evidence practice: keep the original, record every conversion).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from archivers.errors import Permanent

FFMPEG_TIMEOUT = 1800
"""Seconds any one ffmpeg/ffprobe run may take."""

LOCAL_PROTOCOLS = "file,pipe"
"""The only protocols ffmpeg and ffprobe may open, at every call site: a local
file (or a pipe), never a URL, however the input names one."""

_WRAPPER = """#!{python} -I
# ffmpeg/ffprobe for yt-dlp, written by warcflow (archivers/media/ffmpeg.py):
# every input is opened with -protocol_whitelist {protocols}; a whitelist or
# blacklist the caller passes is dropped, so yt-dlp cannot widen it.
import os, sys
real, probe = {real!r}, {probe!r}
args, rest = [], iter(sys.argv[1:])
for arg in rest:
    if arg in ("-protocol_whitelist", "-protocol_blacklist"):
        next(rest, None)
        continue
    if arg == "-i" and not probe:
        args += ["-protocol_whitelist", {protocols!r}]
    args.append(arg)
if probe:
    args = ["-protocol_whitelist", {protocols!r}] + args
os.execv(real, [real] + args)
"""


def fenced_programs(directory: Path) -> Path:
    """Write ``ffmpeg`` and ``ffprobe`` wrappers into ``directory`` (made 0700) and
    return it, for yt-dlp's ``ffmpeg_location``: each runs the real program with
    ``-protocol_whitelist`` ``LOCAL_PROTOCOLS`` before every input."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("ffmpeg", "ffprobe"):
        real = shutil.which(name) or f"/usr/bin/{name}"
        script = directory / name
        script.write_text(
            _WRAPPER.format(
                python=sys.executable, real=real, probe=name == "ffprobe", protocols=LOCAL_PROTOCOLS
            )
        )
        os.chmod(script, 0o700)
    return directory


MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
BROWSER_VIDEO_IN_MP4 = {"h264", "av1", "vp9"}
BROWSER_AUDIO_IN_MP4 = {"aac", "mp3", "opus", "flac"}
BROWSER_VIDEO_IN_WEBM = {"vp8", "vp9", "av1"}
BROWSER_AUDIO_IN_WEBM = {"opus", "vorbis"}


def version() -> str:
    """The ffmpeg version on PATH (recorded with every capture), or "?"."""
    try:
        first = subprocess.run(
            ["ffmpeg", "-version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout.splitlines()[0]
        return first.split(" version ", 1)[1].split(" ", 1)[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


class NotMedia(Permanent):
    reason = "not_media"


@dataclass(frozen=True)
class MediaFacts:
    """What ffprobe says. ``duration`` in seconds, ``bitrate`` in bit/s."""

    container: str
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    bitrate: int | None
    frame_rate: float | None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    def ext(self) -> str:
        """The file extension this container is stored under."""
        if self.container == MP4_FAMILY:
            return "mp4" if self.has_video else "m4a"
        if self.container == "matroska,webm":
            webm = self.video_codec in BROWSER_VIDEO_IN_WEBM | {
                None
            } and self.audio_codec in BROWSER_AUDIO_IN_WEBM | {None}
            return "webm" if webm else "mkv"
        return {
            "mpegts": "ts",
            "mp3": "mp3",
            "ogg": "ogg",
            "flv": "flv",
            "avi": "avi",
            "wav": "wav",
            "aac": "aac",
        }.get(self.container, "bin")

    def browser_playable(self) -> bool:
        if self.container == MP4_FAMILY:
            return self.video_codec in BROWSER_VIDEO_IN_MP4 | {
                None
            } and self.audio_codec in BROWSER_AUDIO_IN_MP4 | {None}
        if self.container == "matroska,webm":
            return self.ext() == "webm"
        return self.container in ("mp3", "ogg") and not self.has_video

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run(args: list[str], what: str = "ffmpeg", tail_lines: int = 3) -> bytes:
    """Run an ffmpeg command line within ``FFMPEG_TIMEOUT``; its standard output.
    A timeout or a failure is ``Permanent``, naming ``what`` failed with the last
    ``tail_lines`` of ffmpeg's standard error."""
    try:
        done = subprocess.run(args, capture_output=True, timeout=FFMPEG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Permanent(
            f"ffmpeg took longer than {FFMPEG_TIMEOUT} s", reason="ffmpeg_timeout"
        ) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-tail_lines:]
        raise Permanent(f"{what} failed: {' / '.join(tail)}", reason="ffmpeg_failed")
    return done.stdout


def probe(path: Path) -> MediaFacts:
    """ffprobe ``path``; ``NotMedia`` if it has no audio or video stream."""
    try:
        doc = ffmpeg.probe(str(path), protocol_whitelist=LOCAL_PROTOCOLS)
    except ffmpeg.Error as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
        raise NotMedia(f"not a media file ffprobe can read: {' '.join(detail)}") from None
    streams = doc.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise NotMedia("the file has no audio or video stream")
    fmt = doc.get("format", {})
    duration = _number(fmt.get("duration")) or _number((video or audio or {}).get("duration"))
    rate = None
    if video and video.get("avg_frame_rate") not in (None, "0/0"):
        try:
            rate = round(float(Fraction(video["avg_frame_rate"])), 3)
        except (ValueError, ZeroDivisionError):
            rate = None
    return MediaFacts(
        container=fmt.get("format_name", "unknown"),
        duration=round(duration, 3) if duration is not None else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        bitrate=int(fmt["bit_rate"]) if str(fmt.get("bit_rate", "")).isdigit() else None,
        frame_rate=rate,
    )


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def poster(path: Path, facts: MediaFacts, out: Path) -> list[str]:
    """Write a JPEG poster frame of ``path`` to ``out``; return the command used."""
    at = min(1.0, (facts.duration or 0) / 3)
    args = (
        ffmpeg.input(str(path), ss=at, protocol_whitelist=LOCAL_PROTOCOLS)
        .output(str(out), vframes=1, vf="scale='min(1280,iw)':-2", **{"q:v": 3})
        .overwrite_output()
        .compile()
    )
    _run(args)
    return args


def derive_playable(path: Path, facts: MediaFacts, out: Path) -> tuple[str, list[str]]:
    """Write an MP4 browsers play to ``out``; return (method, command).

    ``remux`` when the codecs are fine and only the container is not (no
    re-encoding), ``transcode`` to H.264/AAC otherwise.
    """
    stream = ffmpeg.input(str(path), protocol_whitelist=LOCAL_PROTOCOLS)
    if facts.video_codec in ("h264", None) and facts.audio_codec in ("aac", "mp3", None):
        method = "remux"
        node = stream.output(str(out), c="copy", movflags="+faststart", f="mp4")
    else:
        method = "transcode"
        node = stream.output(
            str(out),
            vcodec="libx264",
            preset="veryfast",
            crf=23,
            pix_fmt="yuv420p",
            acodec="aac",
            **{"b:a": "128k"},
            movflags="+faststart",
            f="mp4",
        )
    args = node.overwrite_output().compile()
    _run(args)
    return method, args


# -- inputs of the perceptual hashes (archivers.media.perceptual) ------------------


def fit(width: int, height: int, side: int) -> tuple[int, int]:
    """``width`` × ``height`` scaled to fit in ``side`` × ``side`` (never up), even sizes."""
    scale = min(1.0, side / max(width, height, 1))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def video_copy(path: Path, out: Path) -> list[str]:
    """Copy the first video stream of ``path`` into a new Matroska file ``out``,
    without re-encoding; return the command. vPDQ opens its input itself, with
    no protocol whitelist (``archivers.media.videohash``): it is handed this
    copy, a plain container our ffmpeg wrote, never the downloaded file (which
    could be a playlist or carry references to other files)."""
    args = (
        ffmpeg.input(str(path), protocol_whitelist=LOCAL_PROTOCOLS)
        .output(str(out), map="0:v:0", c="copy", an=None, sn=None, dn=None, f="matroska")
        .overwrite_output()
        .compile()
    )
    _run(args)
    return args


def raw_frames(
    path: Path, width: int, height: int, *, every: int = 0, timeout: float = FFMPEG_TIMEOUT
):
    """RGB24 frames of ``path`` (video or image) scaled to ``width`` × ``height``, one
    ``bytes`` of ``width * height * 3`` at a time, read from ffmpeg's pipe as it
    decodes (one frame in memory). ``every``: only frames number 0, every,
    2·every … (the frames vPDQ hashes); 0: every frame (an image has one).
    Raises ``Permanent`` if ffmpeg fails or outlasts ``timeout``."""
    vf = f"scale={width}:{height}"
    if every > 1:
        vf = f"select='not(mod(n\\,{every}))',{vf}"
    args = (
        ffmpeg.input(str(path), protocol_whitelist=LOCAL_PROTOCOLS)
        .output("pipe:", vf=vf, format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
        .compile()
    )
    size = width * height * 3
    done = False
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            while frame := proc.stdout.read(size):
                if len(frame) < size:
                    break
                yield frame
            done = True
        finally:
            timer.cancel()
            if not done:
                proc.kill()
            stderr = proc.stderr.read() if proc.stderr else b""
            code = proc.wait()
    if done and code != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise Permanent(
            f"ffmpeg could not decode frames: {' / '.join(tail)}", reason="ffmpeg_failed"
        )


def chromaprint(path: Path, seconds: float) -> bytes:
    """The raw Chromaprint fingerprint of the first audio stream of ``path`` (its
    first ``seconds``, as ``fpcalc`` takes 120 by default): FFmpeg's chromaprint
    muxer (libchromaprint), 32-bit sub-fingerprints, little-endian, as
    ``fpcalc -raw`` lists them. Empty if the audio is too short to have one."""
    args = (
        ffmpeg.input(str(path), protocol_whitelist=LOCAL_PROTOCOLS, t=f"{seconds:g}")
        .output("pipe:", map="0:a:0", f="chromaprint", fp_format="raw")
        .compile()
    )
    return _run(args, what="chromaprint", tail_lines=2)


FRAME_TIMEOUT = 120
"""Seconds one frame for a report may take (one seek and decode, not a whole file)."""


def frames(
    path: Path, facts: MediaFacts, out_dir: Path, count: int = 4
) -> list[tuple[float, Path]]:
    """JPEG frames of a local video at ``count`` evenly spaced times (the middle
    of each of ``count`` equal parts; one at 0 s when the duration is unknown),
    at most 640 px wide, for a report: [(time in seconds, file)]. Nothing for
    a file without video."""
    if not facts.has_video or count < 1:
        return []
    duration = facts.duration or 0.0
    times = [round(duration * (i + 0.5) / count, 3) for i in range(count)] if duration else [0.0]
    out = []
    for n, at in enumerate(times):
        target = out_dir / f"frame-{n:02d}.jpg"
        args = (
            ffmpeg.input(str(path), ss=at, protocol_whitelist=LOCAL_PROTOCOLS)
            .output(str(target), vframes=1, vf="scale='min(640,iw)':-2", **{"q:v": 4})
            .overwrite_output()
            .compile()
        )
        try:
            done = subprocess.run(args, capture_output=True, timeout=FRAME_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Permanent(
                f"ffmpeg took longer than {FRAME_TIMEOUT} s for one frame",
                reason="ffmpeg_timeout",
            ) from None
        if done.returncode == 0 and target.exists() and target.stat().st_size:
            out.append((at, target))
    return out
