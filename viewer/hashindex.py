"""The in-memory index of every perceptual hash in the catalog: near duplicates, fast.

Every hash of ``phashes`` (``viewer.phashes``) is in a FAISS
``IndexBinaryFlat``: exact Hamming search over 256-bit codes, a full scan at
memory speed (about 5 ms per query hash at a million, on one core;
benchmarks/similar.py measures it against a numpy scan). It is loaded from
the catalog on the first query and topped up from the rows written since,
before each query, so it never disagrees with the catalog; deleting the
catalog rebuilds both. Why Flat and not an approximate index:
docs/decisions/0018-find-it-again.md.

``search(q)``:

1. candidates: a range search (distance ≤ ``distance``) with at most
   ``QUERY_FRAMES`` of the query's distinct frames (consecutive frames within
   ``PRUNE`` bits are one), both hashes of each;
2. every candidate is scored against the whole query (``viewer.phashes.score``);
   the matches are returned closest first.
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

from archivers.media.pdq import distances
from viewer.phashes import DISTANCE, PERCENT, Hashes, Match, score

QUERY_FRAMES = 16
"""Most distinct query frames whose hashes look for candidates (all frames are scored)."""
PRUNE = 8
"""Consecutive query frames within this distance are one frame for the candidate search."""


def _query_rows(q: Hashes) -> np.ndarray:
    """The query hashes that look for candidates: at most ``QUERY_FRAMES`` distinct
    frames (consecutive ones within ``PRUNE`` are one), each with its centre hash."""
    keep: list[int] = []
    for n in range(q.frames):
        if (
            not keep
            or int(distances(q.whole[n : n + 1], q.whole[keep[-1] : keep[-1] + 1])[0, 0]) > PRUNE
        ):
            keep.append(n)
    if len(keep) > QUERY_FRAMES:
        step = (len(keep) - 1) / (QUERY_FRAMES - 1)
        keep = [keep[round(k * step)] for k in range(QUERY_FRAMES)]
    rows = [q.whole[keep]]
    centred = [n for n in keep if q.has_centre[n]]
    if centred:
        rows.append(q.centre[centred])
    return np.ascontiguousarray(np.vstack(rows))


class HashIndex:
    """The in-memory FAISS index over the catalog's ``phashes`` (thread-safe).

    Beside FAISS's copy of the codes it keeps, in arrays in ``phashes`` id
    order, each hash's item, frame, variant, quality and time: the rows of one
    item are contiguous (written in one transaction by the catalog's one
    writer), so an item's frames are a slice found by binary search. About 90
    bytes per hash in all (benchmarks/similar.py prints the RSS)."""

    LOAD = 200_000
    """Rows read from the catalog per query while loading."""

    def __init__(self, query) -> None:
        """``query(sql, params)`` runs a read on the catalog (``Catalog.query``)."""
        self._query = query
        self._lock = threading.Lock()
        self._index = faiss.IndexBinaryFlat(256)
        self._codes = np.zeros((0, 32), dtype=np.uint8)
        self._item = np.zeros(0, dtype=np.int64)
        self._frame = np.zeros(0, dtype=np.int32)
        self._variant = np.zeros(0, dtype=np.uint8)
        self._quality = np.zeros(0, dtype=np.int16)
        self._t = np.zeros(0, dtype=np.float64)
        self._last_id = 0

    @property
    def size(self) -> int:
        """Hashes in the in-memory index."""
        return int(self._index.ntotal)

    def refresh(self) -> None:
        """Add the rows written since the last refresh to the in-memory index."""
        with self._lock:
            while True:
                rows = self._query(
                    "SELECT id, item, frame, t, quality, variant, hash FROM phashes "
                    "WHERE id > ? ORDER BY id LIMIT ?",
                    (self._last_id, self.LOAD),
                )
                if not rows:
                    return
                self._add(rows)
                if len(rows) < self.LOAD:
                    return

    def _add(self, rows: list[tuple]) -> None:
        codes = np.frombuffer(b"".join(r[6] for r in rows), dtype=np.uint8).reshape(-1, 32)
        item = np.array([r[1] for r in rows], dtype=np.int64)
        ordered = bool(
            (np.diff(item) >= 0).all() and (not len(self._item) or item[0] >= self._item[-1])
        )
        self._codes = np.concatenate([self._codes, codes])
        self._item = np.concatenate([self._item, item])
        self._frame = np.concatenate([self._frame, np.array([r[2] for r in rows], np.int32)])
        self._t = np.concatenate(
            [self._t, np.array([np.nan if r[3] is None else r[3] for r in rows], np.float64)]
        )
        self._quality = np.concatenate([self._quality, np.array([r[4] for r in rows], np.int16)])
        self._variant = np.concatenate([self._variant, np.array([r[5] for r in rows], np.uint8)])
        self._last_id = rows[-1][0]
        if ordered:
            self._index.add(codes)
            return
        # not in item order (never, with the catalog's one writer): sort and rebuild
        order = np.argsort(self._item, kind="stable")
        for name in ("_codes", "_item", "_frame", "_t", "_quality", "_variant"):
            setattr(self, name, getattr(self, name)[order])
        self._index = faiss.IndexBinaryFlat(256)
        self._index.add(np.ascontiguousarray(self._codes))

    def _hashes(self, item: int, kind: str) -> Hashes:
        lo = int(np.searchsorted(self._item, item, "left"))
        hi = int(np.searchsorted(self._item, item, "right"))
        frames = self._frame[lo:hi]
        whole = self._variant[lo:hi] == 0
        order = np.argsort(frames[whole], kind="stable")
        w = np.nonzero(whole)[0][order]
        n = len(w)
        centre = np.zeros((n, 32), dtype=np.uint8)
        has_centre = np.zeros(n, dtype=bool)
        at = {int(f): k for k, f in enumerate(frames[w])}
        for position in np.nonzero(~whole)[0]:
            k = at.get(int(frames[position]))
            if k is not None:
                centre[k] = self._codes[lo + position]
                has_centre[k] = True
        return Hashes(
            kind,
            self._codes[lo + w],
            centre,
            has_centre,
            self._quality[lo + w].astype(np.int32),
            self._t[lo + w],
        )

    def hashes_of(self, sha256: str) -> Hashes | None:
        """The indexed hashes of the content ``sha256`` (None if it has none)."""
        self.refresh()
        found = self._query("SELECT item, kind FROM phash_items WHERE sha256 = ?", (sha256,))
        if not found:
            return None
        with self._lock:
            return self._hashes(int(found[0][0]), found[0][1])

    def search(
        self,
        q: Hashes,
        *,
        distance: int = DISTANCE,
        percent: float = PERCENT,
    ) -> list[Match]:
        """Indexed contents near ``q`` (see the module docstring), closest first."""
        self.refresh()
        if not q.frames:
            return []
        probes = _query_rows(q)
        with self._lock:
            if self._index.ntotal == 0:
                return []
            _lims, _dist, ids = self._index.range_search(probes, distance + 1)
            items = sorted({int(i) for i in self._item[ids]})
        if not items:
            return []
        marks = ",".join("?" * len(items))
        kinds = {
            int(item): (sha256, kind)
            for item, sha256, kind in self._query(
                f"SELECT item, sha256, kind FROM phash_items WHERE item IN ({marks})",  # noqa: S608
                tuple(items),
            )
        }
        with self._lock:
            targets = [(kinds[i][0], self._hashes(i, kinds[i][1])) for i in items if i in kinds]
        found = [
            m
            for sha256, hashes in targets
            if (m := score(q, hashes, sha256, distance=distance, percent=percent)) is not None
        ]
        return sorted(found, key=lambda m: (m.distance, -(m.match_percent or 0)))
