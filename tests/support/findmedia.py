"""Media for the find-it-again tests (issue 18), made with ffmpeg: nothing binary committed.

``lineage_clips(dir)`` writes a clip and the five variants reposts make of it,
plus an unrelated clip, in a few seconds:

  original.mp4   4 s, 640x360, 25 fps, H.264 + AAC: a zooming fractal (smooth
                 structure, like footage; ffmpeg's testsrc patterns are not)
  bitrate.mp4    re-encoded at 250 kbit/s
  480p.mp4       scaled to 854x480 (up, here: what a repost tool does to any size)
  crop.mp4       the centre 90 % of each side (10 % cropped off)
  watermark.mp4  a tracker's handle in a box over the lower right corner
  trim.mp4       the first 2 s cut off
  unrelated.mp4  4 s of moving colour gradients: nothing in common

The watermark is drawn with ffmpeg's drawtext and DejaVu Sans
(infra/system-deps.sh installs fonts-dejavu-core).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
VARIANTS = ("bitrate", "480p", "crop", "watermark", "trim")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _font() -> str:
    if not FONT.exists():
        raise AssertionError(f"{FONT} is missing: infra/system-deps.sh installs fonts-dejavu-core")
    return str(FONT)


def _x264(*extra: str) -> list[str]:
    return ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", *extra]


def lineage_clips(root: Path, seconds: int = 4) -> dict[str, Path]:
    """The original, its five variants and an unrelated clip (see the module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    out = {name: root / f"{name}.mp4" for name in ("original", *VARIANTS, "unrelated")}
    original = str(out["original"])
    _ffmpeg(
        "-f", "lavfi",
        "-i", f"mandelbrot=size=320x180:rate=25:maxiter=256,scale=640:360,trim=duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
        *_x264("-crf", "20"), "-c:a", "aac", "-shortest", original,
    )  # fmt: skip
    _ffmpeg("-i", original, *_x264("-b:v", "250k"), "-c:a", "copy", str(out["bitrate"]))
    _ffmpeg("-i", original, "-vf", "scale=-2:480", *_x264("-crf", "23"), "-c:a", "copy",
            str(out["480p"]))  # fmt: skip
    _ffmpeg("-i", original, "-vf", "crop=iw*0.9:ih*0.9", *_x264("-crf", "23"), "-c:a", "copy",
            str(out["crop"]))  # fmt: skip
    mark = (
        "drawbox=x=iw-180:y=ih-60:w=160:h=44:color=white@0.7:t=fill,"
        f"drawtext=fontfile={_font()}:text='@wartracker':x=w-172:y=h-50:fontsize=22"
        ":fontcolor=black"
    )
    _ffmpeg("-i", original, "-vf", mark, *_x264("-crf", "23"), "-c:a", "copy",
            str(out["watermark"]))  # fmt: skip
    _ffmpeg("-ss", "2", "-i", original, *_x264("-crf", "23"), "-c:a", "aac", str(out["trim"]))
    _ffmpeg(
        "-f", "lavfi",
        "-i", f"gradients=s=640x360:rate=25:speed=0.05,trim=duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=700:duration={seconds}",
        *_x264("-crf", "23"), "-c:a", "aac", "-shortest", str(out["unrelated"]),
    )  # fmt: skip
    return out
