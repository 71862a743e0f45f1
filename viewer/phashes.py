"""Perceptual hashes in the catalog, and how two items' hashes are compared.

Every media item with perceptual hashes (``archivers.media.perceptual``) is
written once per content (its SHA-256: reposts of the same bytes share it)
into two tables of the catalog's SQLite file, in the catalog's transaction
with the event that brought the item (``HashRows``, a ``CatalogPart``):

    phash_items  item, sha256, kind ("video" | "image"), frames
    phashes      id, item, frame, t, quality, variant (0 whole frame, 1 centre 90 %), hash

``Hashes`` is one item's frames (a video's vPDQ features or one image's PDQ),
each with its whole and centre hash; ``score`` compares two by vPDQ's
comparison (Meta's "bag of hashes": the share of each side's frames, of
quality ≥ ``MIN_QUALITY``, that have a frame within ``distance`` on the other
side), where two frames' distance is the least of whole–whole, centre–whole
and whole–centre, so a repost cropped to its centre matches (warcflow's
extension; plain vPDQ compares whole frames only). Two videos match when
either share reaches ``percent`` (a clip inside a longer video, or the whole
of a shorter one); an image matches when its best distance is within
``distance``. The search over all of them is ``viewer.hashindex``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from archivers.media.pdq import distances

SCHEMA = """
CREATE TABLE IF NOT EXISTS phash_items (item INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL, frames INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS phashes (id INTEGER PRIMARY KEY, item INTEGER NOT NULL,
    frame INTEGER NOT NULL, t REAL, quality INTEGER NOT NULL, variant INTEGER NOT NULL,
    hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS phashes_by_item ON phashes (item);
"""

DISTANCE = 31
"""Frames (images) at most this many bits apart are the same picture: PDQ's usual
threshold (unrelated pictures are about 128 apart)."""
PERCENT = 80.0
"""A video matches when this share of one side's frames matches the other side."""
MIN_QUALITY = 50


@dataclass(frozen=True)
class Hashes:
    """The frames of one item: ``whole`` and ``centre`` (n × 32 bytes; a row of
    zeros where no centre hash was made: ``has_centre``), ``quality``, ``t``."""

    kind: str
    whole: np.ndarray
    centre: np.ndarray
    has_centre: np.ndarray
    quality: np.ndarray
    t: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.whole)

    @classmethod
    def from_rows(cls, kind: str, rows: list[tuple[float | None, int, str, str | None]]) -> Hashes:
        """From (t, quality, whole hex, centre hex or None) rows."""
        whole = np.array([list(bytes.fromhex(r[2])) for r in rows], dtype=np.uint8).reshape(-1, 32)
        centre = np.array(
            [list(bytes.fromhex(r[3])) if r[3] else [0] * 32 for r in rows], dtype=np.uint8
        ).reshape(-1, 32)
        return cls(
            kind,
            whole,
            centre,
            np.array([bool(r[3]) for r in rows], dtype=bool),
            np.array([r[1] for r in rows], dtype=np.int32),
            np.array([r[0] if r[0] is not None else np.nan for r in rows], dtype=np.float64),
        )

    @classmethod
    def from_perceptual(cls, perceptual: dict[str, Any] | None) -> Hashes | None:
        """The hashes of a media manifest's ``perceptual`` field (None without any)."""
        if not perceptual:
            return None
        vpdq = perceptual.get("vpdq") or {}
        rows = [
            (f[1], int(f[2]), f[3], f[4] if len(f) > 4 else None)
            for f in vpdq.get("features") or []
            if isinstance(f, list) and len(f) >= 4 and isinstance(f[3], str)
        ]
        if rows:
            return cls.from_rows("video", rows)
        pdq = perceptual.get("pdq") or {}
        if isinstance(pdq.get("hash"), str):
            return cls.from_rows(
                "image", [(None, int(pdq.get("quality") or 0), pdq["hash"], pdq.get("centre_pdq"))]
            )
        return None


@dataclass(frozen=True)
class Match:
    """How one item matched a query."""

    sha256: str
    kind: str
    query_percent: float | None
    """vPDQ: share of the query's frames that have a match in the item."""
    match_percent: float | None
    """vPDQ: share of the item's frames that have a match in the query."""
    distance: int
    """PDQ Hamming distance of the closest pair of frames (images: of the two images)."""
    query_t: float | None
    match_t: float | None
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "algorithm": "vpdq" if self.query_percent is not None else "pdq",
            "query_percent": self.query_percent,
            "match_percent": self.match_percent,
            "distance": self.distance,
            "query_t": self.query_t,
            "match_t": self.match_t,
            "frames": self.frames,
        }


def _frame_distances(q: Hashes, c: Hashes) -> np.ndarray:
    """n × m frame distances: the least of whole–whole, centre–whole, whole–centre."""
    best = distances(q.whole, c.whole)
    big = np.int32(1 << 16)
    if q.has_centre.any():
        d = distances(q.centre, c.whole)
        best = np.minimum(best, np.where(q.has_centre[:, None], d, big))
    if c.has_centre.any():
        d = distances(q.whole, c.centre)
        best = np.minimum(best, np.where(c.has_centre[None, :], d, big))
    return best


def score(
    q: Hashes, c: Hashes, sha256: str, *, distance: int = DISTANCE, percent: float = PERCENT
) -> Match | None:
    """vPDQ's comparison of ``q`` with ``c`` (see the module docstring); None if no match."""
    if not q.frames or not c.frames:
        return None
    d = _frame_distances(q, c)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    best = int(d[i, j])
    qt = None if np.isnan(q.t[i]) else float(q.t[i])
    ct = None if np.isnan(c.t[j]) else float(c.t[j])
    if q.kind == "image" or c.kind == "image":
        if best > distance:
            return None
        return Match(sha256, c.kind, None, None, best, qt, ct, c.frames)
    qk, ck = q.quality >= MIN_QUALITY, c.quality >= MIN_QUALITY
    if not qk.any():
        qk = np.ones_like(qk)
    if not ck.any():
        ck = np.ones_like(ck)
    sub = d[np.ix_(qk, ck)] <= distance
    q_pct = round(100.0 * float(sub.any(axis=1).mean()), 1)
    c_pct = round(100.0 * float(sub.any(axis=0).mean()), 1)
    if max(q_pct, c_pct) < percent:
        return None
    return Match(sha256, c.kind, q_pct, c_pct, best, qt, ct, c.frames)


class HashRows:
    """The catalog part that writes ``phash_items`` and ``phashes``
    (``viewer.catalog.CatalogPart``)."""

    schema = SCHEMA

    def prepare(self, table: str, manifest: dict[str, Any], store) -> Any:
        return rows_for(manifest) if table == "media" else None

    def write(self, db, prepared: Any) -> None:
        write_rows(db, prepared)

    def upgrade(self, db) -> None:
        """Nothing: its tables are as every release made them."""


def rows_for(manifest: dict[str, Any]) -> tuple[str, str, list[tuple]] | None:
    """(sha256, kind, phashes rows without ids) of a media manifest, or None."""
    sha256 = manifest.get("sha256")
    hashes = Hashes.from_perceptual(manifest.get("perceptual"))
    if not isinstance(sha256, str) or hashes is None:
        return None
    rows = []
    for n in range(hashes.frames):
        t = None if np.isnan(hashes.t[n]) else float(hashes.t[n])
        quality = int(hashes.quality[n])
        rows.append((n, t, quality, 0, hashes.whole[n].tobytes()))
        if hashes.has_centre[n]:
            rows.append((n, t, quality, 1, hashes.centre[n].tobytes()))
    return sha256, hashes.kind, rows


def write_rows(db, found: tuple[str, str, list[tuple]] | None) -> None:
    """Insert ``rows_for``'s answer once per content (``db`` is in a transaction)."""
    if found is None:
        return
    sha256, kind, rows = found
    if db.execute("SELECT 1 FROM phash_items WHERE sha256 = ?", (sha256,)).fetchone():
        return
    frames = len({r[0] for r in rows})
    item = db.execute(
        "INSERT INTO phash_items (sha256, kind, frames) VALUES (?,?,?)", (sha256, kind, frames)
    ).lastrowid
    db.executemany(
        "INSERT INTO phashes (item, frame, t, quality, variant, hash) VALUES (?,?,?,?,?,?)",
        [(item, *row) for row in rows],
    )
