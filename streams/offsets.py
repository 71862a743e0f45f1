"""Which offset a worker may commit: faust's rule, corrected for concurrent agents.

With agent concurrency above 1, captures of one partition finish out of order.
Kafka's committed offset says "everything before this is done", so it may only
move up to the first message still in flight. faust decides it in
``Consumer._new_offset`` from the acked offsets and the last committed one, and
gets two cases wrong (faust-streaming 0.15.3):

- before the partition's first commit (committed offset None, or 0) there is no
  check at all: with offset 0 in flight and 1, 2 acked it commits 3;
- afterwards the check is off by one: committed 31 means "31 is next", yet with
  31 in flight and 32 acked it commits 33.

Either way a crash at the wrong moment loses the message in flight: it is
never delivered again. ``install()`` replaces the method with the rule below,
which looks at the messages faust has handed to agents and not yet seen acked.

Invariant: the offset committed for a partition is never above the offset of a
message of that partition that was delivered and not acked.
"""

from __future__ import annotations

from collections.abc import Iterable

from faust.transport.consumer import Consumer

FAUST_NEW_OFFSET = Consumer.__dict__["_new_offset"]
"""faust's own rule, kept so a test can show why it is replaced."""


def commit_point(acked: Iterable[int], first_in_flight: int | None) -> tuple[int | None, set[int]]:
    """(offset to commit, acked offsets it settles); (None, ∅) if none may be.

    ``acked``: offsets acked since the last commit; ``first_in_flight``: the
    lowest offset delivered and not acked, or None if there is none. Offsets
    missing between acked ones that are not in flight were never delivered
    (compaction, transaction markers) and do not hold the commit back.
    """
    done = {offset for offset in acked if first_in_flight is None or offset < first_in_flight}
    if not done:
        return None, set()
    return max(done) + 1, done


def _new_offset(self, tp):  # replaces faust.transport.consumer.Consumer._new_offset
    acked = self._acked[tp]
    if not acked:
        return None
    pending = [m.offset for m in list(self._unacked_messages) if m.tp == tp and not m.acked]
    offset, settled = commit_point(acked, min(pending) if pending else None)
    if offset is None:
        return None
    acked[:] = [o for o in acked if o not in settled]
    self._acked_index[tp].difference_update(settled)
    gaps = self._gap.get(tp)
    if gaps:
        gaps.chop(0, offset)
    return offset


def install() -> None:
    """Use the corrected rule in every faust consumer of this process. Idempotent."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
