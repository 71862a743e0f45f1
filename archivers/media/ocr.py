"""OCR with Tesseract (Debian's ``tesseract-ocr``): the script decides the languages.

Tesseract reads only images our ffmpeg wrote (``ffmpeg.still``: a grey PNG
fitted in a bounded size), never a downloaded file, and runs as a child
process with a deadline. For each image:

1. ``--psm 0`` (orientation and script detection, the ``osd`` data) names the
   dominant script and a confidence;
2. the script picks the languages, primary first (Tesseract's first language
   is its main model): ``Cyrillic`` → ``rus+ukr`` (OSD cannot tell Ukrainian
   from Russian, and ``rus`` first reads Russian best: ``ukr`` first turns ы ъ
   into ь and ьі); a Cyrillic text read so that has Ukrainian letters (і ї є ґ)
   and none of Russian's (ы э ъ ё) is read again with ``ukr`` first (else
   "Казані" comes out "Казан!"),
   ``Latin`` → ``eng``; then every other configured language as a secondary,
   because posts mix scripts (a Russian caption on an English screenshot:
   read with ``eng`` alone, "Казарма" comes out "Ka3apmMa"). No script found
   (too little text for OSD): every configured language, in the order given;
3. ``--psm 3`` (automatic page segmentation) reads the text.

Only languages both configured (``WARCFLOW_MEDIA_OCR``) and installed are used.
What was run — Tesseract's version, the script, the languages, the command —
goes with the text (``Reading``) into the derivation record.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from archivers.errors import Permanent

TIMEOUT = 300.0
"""Seconds one Tesseract run may take."""

SCRIPT_LANGUAGES = {
    "Cyrillic": ("rus", "ukr"),
    "Latin": ("eng",),
}
"""The languages a detected script is read with first (Tesseract's names)."""


@dataclass(frozen=True)
class Reading:
    text: str
    script: str | None
    script_confidence: float | None
    languages: tuple[str, ...]
    command: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def version() -> str:
    """Tesseract's version ("5.3.0"), or "?" when it is not installed."""
    try:
        out = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    first = (out.stdout or out.stderr).splitlines()[:1]
    return first[0].split(" ", 1)[1].strip() if first and " " in first[0] else "?"


@functools.lru_cache(maxsize=1)
def installed() -> tuple[str, ...]:
    """The language data Tesseract has (``tesseract --list-langs``)."""
    try:
        out = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines()[1:] if line.strip())


def usable(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The configured languages Tesseract can read (order kept)."""
    have = set(installed())
    return tuple(lang for lang in configured if lang in have)


def _run(args: list[str], timeout: float) -> tuple[str, str]:
    """(stdout, stderr) of a Tesseract run; ``Permanent`` if it fails or outlasts ``timeout``."""
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Permanent(f"Tesseract took longer than {timeout:g} s", reason="ocr_timeout") from None
    except OSError as exc:
        raise Permanent(f"Tesseract could not run: {exc}", reason="ocr_failed") from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise Permanent(f"Tesseract failed: {' / '.join(tail)}", reason="ocr_failed")
    return done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


_SCRIPT = re.compile(r"^Script: (\S+)\s*$", re.MULTILINE)
_CONFIDENCE = re.compile(r"^Script confidence: ([0-9.]+)\s*$", re.MULTILINE)


def script_of(image: Path, timeout: float = TIMEOUT) -> tuple[str | None, float | None]:
    """(the dominant script, OSD's confidence), or (None, None) when OSD finds
    too little text to say."""
    try:
        out = "\n".join(_run(["tesseract", str(image), "-", "--psm", "0", "-l", "osd"], timeout))
    except Permanent as exc:
        if exc.reason == "ocr_timeout":
            raise
        return None, None  # "Too few characters": not an error, just no script
    script, confidence = _SCRIPT.search(out), _CONFIDENCE.search(out)
    if script is None:
        return None, None
    return script.group(1), float(confidence.group(1)) if confidence else None


def languages_for(script: str | None, configured: tuple[str, ...]) -> tuple[str, ...]:
    """The languages to read a text of ``script`` with: the script's own first, then
    the other configured ones (see the module docstring)."""
    first = tuple(lang for lang in SCRIPT_LANGUAGES.get(script or "", ()) if lang in configured)
    return first + tuple(lang for lang in configured if lang not in first)


def read(image: Path, configured: tuple[str, ...], timeout: float = TIMEOUT) -> Reading:
    """OCR ``image`` (a PNG our ffmpeg wrote) with the languages its script picks."""
    script, confidence = script_of(image, timeout)
    langs = languages_for(script, usable(configured))
    if not langs:
        raise Permanent(
            f"none of the OCR languages {', '.join(configured)} is installed "
            f"(Tesseract has {', '.join(installed()) or 'none'})",
            reason="ocr_unavailable",
        )
    args = ["tesseract", str(image), "-", "--psm", "3", "-l", "+".join(langs)]
    text = _clean(_run(args, timeout)[0])
    if langs[:2] == ("rus", "ukr") and _ukrainian(text):
        langs = ("ukr", "rus", *langs[2:])
        args = [*args[:-1], "+".join(langs)]
        text = _clean(_run(args, timeout)[0])
    return Reading(text, script, confidence, langs, ["tesseract", image.name, *args[2:]])


def _ukrainian(text: str) -> bool:
    """Letters only Ukrainian has, and none only Russian has."""
    lower = text.lower()
    return sum(lower.count(c) for c in "іїєґ") >= 2 and not any(c in lower for c in "ыэъё")


def _clean(text: str) -> str:
    """Tesseract's text with its form feed and trailing blank lines dropped."""
    lines = [line.rstrip() for line in text.replace("\f", "").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines).strip("\n")
