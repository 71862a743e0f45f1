"""Derivations of a stored media item: perceptual hashes and OCR, documented.

After the digest (``archivers.media.archiver``) the media agent computes, from
the file it downloaded (or the screenshot it read back from the store):

- **video**: vPDQ features (``archivers.media.videohash``: the PDQ of one frame
  a second — more apart past ``MAX_FEATURES`` seconds — with its quality), and
  for each of those frames the PDQ of its centre 90 % (``pdq.CROP``, decoded
  by our ffmpeg at 512 px), so a cropped repost still matches; the keyframes
  (``keyframes``: the first frame of each run of frames within
  ``SCENE_DISTANCE`` of one another, at most ``MediaSettings.keyframes``),
  each read by OCR;
- **audio**: the Chromaprint fingerprint of the first ``CHROMAPRINT_SECONDS``
  (FFmpeg's chromaprint muxer, as ``fpcalc -raw``);
- **a screenshot**: its PDQ and centre PDQ (decoded by ffmpeg, fitted in
  1024 px) and OCR of the whole image.

None of this is evidence: it is derived data about the evidence. It goes into
the media manifest (``perceptual``, ``ocr``) and, in the item's media WARC,
into a ``conversion`` record per OCR text (``WARC-Refers-To``: the record
whose content was read) and one ``metadata`` record (``DERIVATION_SCHEMA``,
target ``urn:warcflow:derivation:<source URI>``, ``WARC-Refers-To`` the same
record) that names every tool and version, the parameters and the
conversions. A step that fails (an undecodable stream, Tesseract missing) is
a ``problem`` in the record and the manifest, never a failed capture.
"""

from __future__ import annotations

import base64
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archivers.clock import iso
from archivers.errors import Permanent
from archivers.media import ffmpeg, ocr, pdq, videohash
from archivers.warc.writer import WarcWriter

log = logging.getLogger("warcflow.media")

DERIVATION_SCHEMA = "warcflow.derivation"
DERIVATION_URN = "urn:warcflow:derivation:"
"""Prefix of the target URI of a derivation ``metadata`` record; the source's URI follows."""

SECONDS_PER_HASH = 1.0
MAX_FEATURES = 1200
"""Most vPDQ features of one video: past 20 minutes the frames are spaced further."""
HASH_SIDE = 512
"""Frames are fitted in this many pixels for the centre-crop PDQ (PDQ works on 64 × 64)."""
IMAGE_SIDE = 1024
OCR_SIDE = 1920
"""Keyframes are read at up to this many pixels a side."""
SCREENSHOT_OCR_SIDE = 16384
"""Screenshots are read whole (their height is capped at capture)."""
SCENE_DISTANCE = 31
"""Frames within this PDQ distance of the last keyframe belong to its scene."""
MIN_QUALITY = 50
"""PDQ quality below which a frame says too little to be a keyframe (or a match)."""
CHROMAPRINT_SECONDS = 120.0
OCR_TEXT_IN_MANIFEST = 20000
"""Most characters of one OCR text copied into the manifest (the record has all)."""


@dataclass(frozen=True)
class Image:
    """One image read by OCR: a keyframe (``t`` seconds into the video) or a screenshot."""

    source: str
    t: float | None
    path: Path


@dataclass
class Derived:
    """What ``derive_*`` made: the ``perceptual`` document (without record ids),
    the OCR readings, what failed, and the seconds each step took."""

    perceptual: dict[str, Any]
    readings: list[tuple[Image, ocr.Reading]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        """Run one step; a failure becomes a problem (logged), not an exception."""
        t0 = time.perf_counter()
        try:
            return work()
        except Permanent as exc:
            self.problems.append(f"{name}: {exc.reason}: {exc}")
        except Exception as exc:  # a derivation never fails the capture
            log.warning("%s failed: %s", name, exc, exc_info=True)
            self.problems.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3) + self.timings.get(name, 0)
        return None


def keyframes(features: list[videohash.Feature], limit: int) -> list[videohash.Feature]:
    """The first frame of each scene (a run of frames within ``SCENE_DISTANCE`` of its
    first), frames of quality below ``MIN_QUALITY`` left out (the best one if all
    are), at most ``limit`` spread evenly over the video."""
    if limit <= 0 or not features:
        return []
    picked: list[videohash.Feature] = []
    for feature in features:
        if feature.quality < MIN_QUALITY:
            continue
        if not picked or pdq.distance(feature.hash, picked[-1].hash) > SCENE_DISTANCE:
            picked.append(feature)
    if not picked:
        picked = [max(features, key=lambda f: f.quality)]
    if len(picked) > limit:
        if limit == 1:
            return picked[:1]
        step = (len(picked) - 1) / (limit - 1)
        picked = [picked[round(i * step)] for i in range(limit)]
    return picked


def _tools(readings: bool) -> dict[str, str]:
    tools = {"pdqhash": pdq.version(), "ffmpeg": ffmpeg.version()}
    if readings:
        tools["tesseract"] = ocr.version()
    return tools


def derive_video(
    path: Path,
    facts: ffmpeg.MediaFacts,
    workdir: Path,
    *,
    languages: tuple[str, ...],
    keyframe_limit: int,
) -> Derived:
    """Perceptual hashes and OCR of a downloaded audio/video file (blocking)."""
    doc: dict[str, Any] = {}
    out = Derived(doc)
    if facts.has_video and facts.width and facts.height:
        copy = workdir / "for-hashing.mkv"
        if out.step("video_copy", lambda: ffmpeg.video_copy(path, copy)) is not None:
            _video(out, copy, facts, workdir, languages, keyframe_limit)
    if facts.audio_codec:
        raw = out.step("chromaprint", lambda: ffmpeg.chromaprint(path, CHROMAPRINT_SECONDS))
        if raw:
            doc["chromaprint"] = {
                "tool": f"ffmpeg {ffmpeg.version()} chromaprint muxer (libchromaprint)",
                "seconds": CHROMAPRINT_SECONDS,
                "format": "raw: 32-bit sub-fingerprints, little-endian, base64",
                "raw": base64.b64encode(raw).decode("ascii"),
            }
    doc["tools"] = _tools(bool(out.readings))
    return out


def _video(
    out: Derived,
    copy: Path,
    facts: ffmpeg.MediaFacts,
    workdir: Path,
    languages: tuple[str, ...],
    keyframe_limit: int,
) -> None:
    duration = facts.duration or 0.0
    every_s = max(SECONDS_PER_HASH, duration / MAX_FEATURES)
    found = out.step(
        "vpdq",
        lambda: videohash.features(
            copy, every_s, cpu_seconds=max(120.0, 20 * duration), timeout=ffmpeg.FFMPEG_TIMEOUT
        ),
    )
    if not found:
        return
    assert facts.width and facts.height
    width, height = ffmpeg.fit(facts.width, facts.height, HASH_SIDE)
    every = found[1].frame - found[0].frame if len(found) > 1 else 1

    def crops() -> list[str]:
        return [
            pdq.hash_image(pdq.centre(pdq.rgb(frame, width, height)))[0]
            for frame in ffmpeg.raw_frames(copy, width, height, every=every)
        ]

    centre = out.step("centre_pdq", crops) or []
    if centre and len(centre) != len(found):
        out.problems.append(
            f"centre_pdq: {len(centre)} frames decoded for {len(found)} vPDQ features"
        )
    rows = [[*f.row(), centre[i] if i < len(centre) else None] for i, f in enumerate(found)]
    out.perceptual["vpdq"] = {
        "tool": f"vpdq {videohash.version()}",
        "seconds_per_hash": round(every_s, 3),
        "frame_step": every,
        "columns": ["frame", "t", "quality", "pdq", "centre_pdq"],
        "centre": pdq.CROP,
        "features": rows,
    }
    picked = keyframes(found, keyframe_limit)
    out.perceptual["keyframes"] = [
        {"frame": f.frame, "t": round(f.t, 3), "pdq": f.hash, "quality": f.quality} for f in picked
    ]
    if not languages or not picked:
        return
    shots = out.step(
        "keyframes", lambda: ffmpeg.stills(copy, [f.frame for f in picked], workdir, OCR_SIDE)
    )
    for feature, png in zip(picked, shots or [], strict=False):
        reading = out.step("ocr", functools.partial(ocr.read, png, languages))
        if reading is not None:
            out.readings.append((Image("keyframe", round(feature.t, 3), png), reading))


def derive_image(
    path: Path, width: int, height: int, workdir: Path, *, languages: tuple[str, ...]
) -> Derived:
    """PDQ and OCR of an image warcflow stored (a screenshot), blocking."""
    doc: dict[str, Any] = {}
    out = Derived(doc)
    w, h = ffmpeg.fit(width, height, IMAGE_SIDE)

    def hashes() -> tuple[tuple[str, int], str]:
        frame = next(iter(ffmpeg.raw_frames(path, w, h)), None)
        if frame is None:
            raise Permanent("ffmpeg decoded no image", reason="ffmpeg_failed")
        image = pdq.rgb(frame, w, h)
        return pdq.hash_image(image), pdq.hash_image(pdq.centre(image))[0]

    found = out.step("pdq", hashes)
    if found:
        (value, quality), centre = found
        doc["pdq"] = {
            "tool": f"pdqhash {pdq.version()}",
            "hash": value,
            "quality": quality,
            "centre_pdq": centre,
            "centre": pdq.CROP,
            "decoded_at": [w, h],
        }
    if languages:
        png = workdir / "screenshot-for-ocr.png"
        if out.step("still", lambda: ffmpeg.still(path, None, png, SCREENSHOT_OCR_SIDE)):
            reading = out.step("ocr", lambda: ocr.read(png, languages))
            if reading is not None:
                out.readings.append((Image("screenshot", None, png), reading))
    doc["tools"] = _tools(bool(out.readings))
    return out


def write_records(
    writer: WarcWriter,
    derived: Derived,
    *,
    source_uri: str,
    source_record_id: str,
    source_sha256: str,
    date: datetime,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Write the OCR ``conversion`` records and the derivation ``metadata`` record of
    ``derived`` (about the record ``source_record_id``, the content
    ``source_sha256``); return the manifest's ``perceptual`` and ``ocr`` fields
    (None and [] when nothing was derived: nothing is written then)."""
    texts: list[dict[str, Any]] = []
    for image, reading in derived.readings:
        if not reading.text.strip():
            continue
        record_id = writer.write_conversion(source_uri, reading.text, date, source_record_id)
        texts.append(
            {
                "record_id": record_id,
                "source": image.source,
                "t": image.t,
                "script": reading.script,
                "script_confidence": reading.script_confidence,
                "languages": list(reading.languages),
                "tool": f"tesseract {ocr.version()}",
                "command": reading.command,
                "chars": len(reading.text),
                "text": reading.text[:OCR_TEXT_IN_MANIFEST],
                "truncated": len(reading.text) > OCR_TEXT_IN_MANIFEST,
            }
        )
    made = set(derived.perceptual) - {"tools"}
    if not made and not texts and not derived.problems:
        return None, []
    perceptual = {**derived.perceptual, "problems": list(derived.problems)}
    record = {
        "schema": DERIVATION_SCHEMA,
        "of": {"uri": source_uri, "record_id": source_record_id, "sha256": source_sha256},
        "derived_at": iso(date),
        "purpose": "finding this item again: near-duplicate search and full-text search; "
        "derived data, not a conversion of the evidence itself",
        **perceptual,
        "ocr": [{k: v for k, v in t.items() if k != "text"} for t in texts],
        "timings": derived.timings,
    }
    perceptual["record_id"] = writer.write_metadata(
        source_uri, record, date, refers_to=source_record_id, urn=DERIVATION_URN
    )
    return perceptual, texts
