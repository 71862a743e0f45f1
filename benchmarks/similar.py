"""Finding a clip again: what perceptual hashing costs, and how fast the index answers.

Two measurements, each against a peer doing the same work, in the same run:

- **hashing**: ``archivers.media.perceptual.derive_video`` (vPDQ, the
  centre-crop PDQ pass, Chromaprint: what the media agent adds per video) on
  a generated clip (default 60 s, 1280x720, 30 fps, H.264/AAC) vs ``ffmpeg -i
  CLIP -f null -``, decoding the same file alone: the floor any frame hasher
  pays. Alternating runs; medians and the median of per-pair ratios; seconds
  of hashing per minute of video.
- **similarity query**: ``viewer.hashindex.HashIndex.search`` (FAISS
  ``IndexBinaryFlat`` range search, then vPDQ scoring of the candidates) over
  10^4, 10^5 and 10^6 indexed frame hashes (random 256-bit codes in items of
  60 frames, one planted near duplicate of the query at ~10 bits per frame),
  vs a numpy scan of the same codes (``archivers.media.pdq.distances`` in
  blocks; ``PEER_QUERIES`` runs): p50 and p95 of a 60-frame query (``QUERIES``
  runs), and their ratio. The planted item
  must be found by both (else the run fails).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (10_000, 100_000, 1_000_000)
FRAMES = 60
QUERIES = 30
PEER_QUERIES = 5
"""The numpy scan takes seconds at 10^6: fewer of its runs."""


def make_clip(path: Path, seconds: int, height: int = 720) -> Path:
    width = height * 16 // 9
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"mandelbrot=size={width // 2}x{height // 2}:rate=30:maxiter=256,"
         f"scale={width}:{height},trim=duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-crf", "23",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def bench_hashing(runs: int, seconds: int, log) -> dict:
    from archivers.media import ffmpeg, perceptual

    with tempfile.TemporaryDirectory(prefix="bench-similar-") as tmp:
        root = Path(tmp)
        log(f"hashing: making a {seconds} s 720p clip")
        clip = make_clip(root / "clip.mp4", seconds)
        facts = ffmpeg.probe(clip)
        ours, peer, ratios, timings = [], [], [], []
        for n in range(runs):
            work = root / f"w{n}"
            work.mkdir()
            t0 = time.perf_counter()
            derived = perceptual.derive_video(clip, facts, work)
            a = time.perf_counter() - t0
            if derived.problems or "vpdq" not in derived.perceptual:
                raise RuntimeError(f"hashing failed: {derived.problems}")
            shutil.rmtree(work)
            t0 = time.perf_counter()
            subprocess.run(
                [
                    "ffmpeg",
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-i",
                    str(clip),
                    "-f",
                    "null",
                    "-",
                ],
                check=True,
            )
            b = time.perf_counter() - t0
            ours.append(a)
            peer.append(b)
            ratios.append(a / b)
            timings.append(derived.timings)
            log(f"  run {n + 1}: hashing {a:.2f} s, ffmpeg decode {b:.2f} s")
    median = statistics.median(ours)
    return {
        "clip": {"seconds": seconds, "width": facts.width, "height": facts.height, "fps": 30},
        "warcflow_seconds_median": round(median, 3),
        "ffmpeg_decode_seconds_median": round(statistics.median(peer), 3),
        "ratio_hashing_over_decoding": round(statistics.median(ratios), 2),
        "hashing_seconds_per_video_minute": round(median * 60 / seconds, 2),
        "steps_median": {k: round(statistics.median(t[k] for t in timings), 3) for k in timings[0]},
    }


def _catalog(size: int, query: np.ndarray, rng) -> tuple[sqlite3.Connection, str, np.ndarray]:
    """A catalog's hash tables with ``size`` random frame hashes and one near
    duplicate of ``query``: (the database, the planted item's sha256, the codes)."""
    from viewer.phashes import SCHEMA

    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.executescript(SCHEMA)
    items = size // FRAMES
    codes = rng.integers(0, 256, size=(items * FRAMES, 32), dtype=np.uint8)
    planted = rng.integers(0, items)
    near = query.copy()
    flips = rng.integers(0, 256, size=(FRAMES, 10))  # ~10 bits off per frame
    for f in range(FRAMES):
        for bit in flips[f]:
            near[f, bit // 8] ^= 1 << (bit % 8)
    codes[planted * FRAMES : (planted + 1) * FRAMES] = near
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO phash_items (item, sha256, kind, frames) VALUES (?,?,?,?)",
        ((i + 1, f"{i:064x}", "video", FRAMES) for i in range(items)),
    )
    db.executemany(
        "INSERT INTO phashes (item, frame, t, quality, variant, hash) VALUES (?,?,?,?,?,?)",
        (
            (i // FRAMES + 1, i % FRAMES, float(i % FRAMES), 100, 0, codes[i].tobytes())
            for i in range(len(codes))
        ),
    )
    db.execute("COMMIT")
    return db, f"{planted:064x}", codes


def _numpy_scan(codes: np.ndarray, query: np.ndarray, distance: int) -> set[int]:
    from archivers.media.pdq import distances

    found: set[int] = set()
    for start in range(0, len(codes), 20_000):
        d = distances(query, codes[start : start + 20_000])
        found.update(int(start + j) // FRAMES for j in np.nonzero((d <= distance).any(axis=0))[0])
    return found


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_queries(sizes, log) -> dict:
    from viewer.hashindex import HashIndex
    from viewer.phashes import Hashes

    rng = np.random.default_rng(18)
    out = {}
    for size in sizes:
        query_codes = rng.integers(0, 256, size=(FRAMES, 32), dtype=np.uint8)
        log(f"query: indexing {size:,} hashes")
        db, planted, codes = _catalog(size, query_codes, rng)
        index = HashIndex(lambda sql, params=(), db=db: list(db.execute(sql, params)))
        t0 = time.perf_counter()
        index.refresh()
        load = time.perf_counter() - t0
        q = Hashes(
            "video",
            query_codes,
            np.zeros_like(query_codes),
            np.zeros(FRAMES, dtype=bool),
            np.full(FRAMES, 100, dtype=np.int32),
            np.arange(FRAMES, dtype=np.float64),
        )
        ours, peer = [], []
        for n in range(QUERIES):
            t0 = time.perf_counter()
            found = index.search(q)
            ours.append(time.perf_counter() - t0)
            if n < PEER_QUERIES:
                t0 = time.perf_counter()
                scanned = _numpy_scan(codes, query_codes, 31)
                peer.append(time.perf_counter() - t0)
        if planted not in {m.sha256 for m in found} or int(planted, 16) not in scanned:
            raise RuntimeError(f"the planted near duplicate was not found at {size}")
        row = {
            "hashes": size,
            "index_load_seconds": round(load, 2),
            "warcflow_p50_ms": round(_pct(ours, 0.5) * 1000, 2),
            "warcflow_p95_ms": round(_pct(ours, 0.95) * 1000, 2),
            "numpy_scan_p50_ms": round(_pct(peer, 0.5) * 1000, 2),
            "numpy_scan_p95_ms": round(_pct(peer, 0.95) * 1000, 2),
        }
        row["ratio_p50"] = round(row["warcflow_p50_ms"] / row["numpy_scan_p50_ms"], 3)
        out[str(size)] = row
        log(f"  {size:,}: p50 {row['warcflow_p50_ms']} ms, p95 {row['warcflow_p95_ms']} ms "
            f"| numpy scan p50 {row['numpy_scan_p50_ms']} ms")  # fmt: skip
        db.close()
    return out


def bench(runs: int, log, *, seconds: int = 60, sizes=SIZES) -> dict:
    before = os.getloadavg()[0]
    result: dict[str, Any] = {
        "hashing": bench_hashing(runs, seconds, log),
        "queries": bench_queries(sizes, log),
    }
    # absolute seconds mean little on a shared machine; the ratios are paired runs
    result["runs"] = runs
    result["load_average_1min"] = {"start": round(before, 1), "end": round(os.getloadavg()[0], 1)}
    return result
