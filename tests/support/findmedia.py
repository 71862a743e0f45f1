"""Media for the find-it-again tests (issue 18), made with ffmpeg: nothing binary committed.

``lineage_clips(dir)`` writes a clip and the five variants reposts make of it,
plus an unrelated clip, in about ten seconds:

  original.mp4   5 s, 960x540, 25 fps, H.264 + AAC: a zooming fractal (smooth
                 structure, like footage; ffmpeg's testsrc patterns are not)
  bitrate.mp4    re-encoded at 250 kbit/s
  480p.mp4       scaled to 854x480
  crop.mp4       the centre 90 % of each side (10 % cropped off)
  watermark.mp4  a tracker's handle in a box over the lower right corner
  trim.mp4       the first 2 s cut off
  unrelated.mp4  5 s of a cellular automaton: nothing in common

``text_image`` and ``text_clip`` draw text (Russian and English) into a PNG or a
clip with ffmpeg's drawtext and DejaVu Sans (infra/system-deps.sh installs
fonts-dejavu-core): the OCR tests read it back.
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


def lineage_clips(root: Path, seconds: int = 5) -> dict[str, Path]:
    """The original, its five variants and an unrelated clip (see the module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    out = {name: root / f"{name}.mp4" for name in ("original", *VARIANTS, "unrelated")}
    original = str(out["original"])
    _ffmpeg(
        "-f", "lavfi",
        "-i", f"mandelbrot=size=480x270:rate=25,scale=960:540,trim=duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
        *_x264("-crf", "20"), "-c:a", "aac", "-shortest", original,
    )  # fmt: skip
    _ffmpeg("-i", original, *_x264("-b:v", "250k"), "-c:a", "copy", str(out["bitrate"]))
    _ffmpeg("-i", original, "-vf", "scale=-2:480", *_x264("-crf", "23"), "-c:a", "copy",
            str(out["480p"]))  # fmt: skip
    _ffmpeg("-i", original, "-vf", "crop=iw*0.9:ih*0.9", *_x264("-crf", "23"), "-c:a", "copy",
            str(out["crop"]))  # fmt: skip
    mark = (
        "drawbox=x=iw-260:y=ih-90:w=240:h=64:color=white@0.7:t=fill,"
        f"drawtext=fontfile={_font()}:text='@wartracker':x=w-250:y=h-75:fontsize=32"
        ":fontcolor=black"
    )
    _ffmpeg("-i", original, "-vf", mark, *_x264("-crf", "23"), "-c:a", "copy",
            str(out["watermark"]))  # fmt: skip
    _ffmpeg("-ss", "2", "-i", original, *_x264("-crf", "23"), "-c:a", "aac", str(out["trim"]))
    _ffmpeg(
        "-f", "lavfi",
        "-i", f"cellauto=s=480x270:rate=25:rule=110,scale=960:540,trim=duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=700:duration={seconds}",
        *_x264("-crf", "23"), "-c:a", "aac", "-shortest", str(out["unrelated"]),
    )  # fmt: skip
    return out


def _drawtext(lines: list[str], size: int, textfile: Path, x: int = 40, y: int = 40) -> str:
    textfile.write_text("\n".join(lines), encoding="utf-8")
    return (
        f"drawtext=fontfile={_font()}:textfile={textfile}:fontsize={size}:fontcolor=black"
        f":x={x}:y={y}:line_spacing={size // 2}"
    )


def text_image(path: Path, lines: list[str], width: int = 960, height: int = 240) -> Path:
    """A white PNG with ``lines`` drawn on it in black."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=white:s={width}x{height}",
        "-vf", _drawtext(lines, 40, path.with_suffix(".txt")), "-frames:v", "1", str(path),
    )  # fmt: skip
    return path


def text_clip(path: Path, lines: list[str], seconds: int = 3) -> Path:
    """A clip of a slowly moving background with ``lines`` drawn over its middle, H.264 + AAC."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0xd0d8e0:s=960x540:d={seconds},format=yuv420p",
        "-f", "lavfi", "-i", f"sine=frequency=500:duration={seconds}",
        "-vf", "drawbox=x=40:y=150:w=880:h=240:color=white:t=fill,"
        + _drawtext(lines, 44, path.with_suffix(".txt"), 80, 190),
        *_x264("-crf", "20", "-r", "25"), "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path
