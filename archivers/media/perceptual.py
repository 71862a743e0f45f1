"""Perceptual hashes of a stored media item: derived data, documented.

After the digest (``archivers.media.archiver``) the media agent computes, from
the file it downloaded:

- **video**: vPDQ features (``archivers.media.videohash``: Meta's PDQ of one
  frame a second — further apart past ``MAX_FEATURES`` seconds — with its
  quality), and for each of those frames the PDQ of its centre 90 %
  (``pdq.CROP``, the frame decoded by our ffmpeg fitted in ``HASH_SIDE``
  pixels), so a repost cropped at its edges still matches
  (``viewer.phashes``);
- **audio**: the Chromaprint fingerprint of the first ``CHROMAPRINT_SECONDS``
  (FFmpeg's chromaprint muxer, libchromaprint: what ``fpcalc -raw`` prints).
  Recorded, not yet searched.

None of this is evidence: it is derived data about the evidence. It goes into
the media manifest (``perceptual``) and, in the item's media WARC, into one
``metadata`` record (``DERIVATION_SCHEMA``, target
``urn:warcflow:derivation:<media URL>``, ``WARC-Refers-To`` the record that
holds the payload) that names every tool and version and the parameters. A
step that fails (an undecodable stream, a decoder out of time) is a
``problem`` in the record and the manifest, never a failed item.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archivers.clock import iso
from archivers.errors import Permanent
from archivers.media import ffmpeg, pdq, videohash
from archivers.warc.writer import WarcWriter

log = logging.getLogger("warcflow.media")

DERIVATION_SCHEMA = "warcflow.derivation"
DERIVATION_URN = "urn:warcflow:derivation:"
"""Prefix of the target URI of a derivation ``metadata`` record; the media URL follows."""

SECONDS_PER_HASH = 1.0
MAX_FEATURES = 1200
"""Most vPDQ features of one video: past 20 minutes the frames are spaced further."""
HASH_SIDE = 512
"""Frames are fitted in this many pixels for the centre-crop PDQ (PDQ works on 64 × 64)."""
CHROMAPRINT_SECONDS = 120.0


@dataclass
class Derived:
    """What ``derive_video`` made: the ``perceptual`` document (without its record
    id), what failed, and the seconds each step took."""

    perceptual: dict[str, Any]
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


def derive_video(path: Path, facts: ffmpeg.MediaFacts, workdir: Path) -> Derived:
    """Perceptual hashes of a downloaded audio/video file (blocking)."""
    doc: dict[str, Any] = {}
    out = Derived(doc)
    if facts.has_video and facts.width and facts.height:
        copy = workdir / "for-hashing.mkv"
        if out.step("video_copy", lambda: ffmpeg.video_copy(path, copy)) is not None:
            _video(out, copy, facts)
    if facts.audio_codec:
        raw = out.step("chromaprint", lambda: ffmpeg.chromaprint(path, CHROMAPRINT_SECONDS))
        if raw:
            doc["chromaprint"] = {
                "tool": f"ffmpeg {ffmpeg.version()} chromaprint muxer (libchromaprint)",
                "seconds": CHROMAPRINT_SECONDS,
                "format": "raw: 32-bit sub-fingerprints, little-endian, base64",
                "raw": base64.b64encode(raw).decode("ascii"),
            }
    doc["tools"] = {
        "vpdq": videohash.version(),
        "pdqhash": pdq.version(),
        "ffmpeg": ffmpeg.version(),
    }
    return out


def _video(out: Derived, copy: Path, facts: ffmpeg.MediaFacts) -> None:
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


def write_records(
    writer: WarcWriter,
    derived: Derived,
    *,
    source_uri: str,
    source_record_id: str,
    source_sha256: str,
    date: datetime,
) -> dict[str, Any] | None:
    """Write the derivation ``metadata`` record of ``derived`` (about the record
    ``source_record_id``, the content ``source_sha256``); return the manifest's
    ``perceptual`` field with the record's id (None when nothing was derived and
    nothing failed: nothing is written then)."""
    made = set(derived.perceptual) - {"tools"}
    if not made and not derived.problems:
        return None
    perceptual = {**derived.perceptual, "problems": list(derived.problems)}
    record = {
        "schema": DERIVATION_SCHEMA,
        "of": {"uri": source_uri, "record_id": source_record_id, "sha256": source_sha256},
        "derived_at": iso(date),
        "purpose": "finding this item again: near-duplicate search; "
        "derived data, not a conversion of the evidence itself",
        **perceptual,
        "timings": derived.timings,
    }
    perceptual["record_id"] = writer.write_metadata(
        source_uri, record, date, refers_to=source_record_id, urn=DERIVATION_URN
    )
    return perceptual
