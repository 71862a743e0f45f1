"""The commit rule for concurrent agents (streams/offsets.py)."""

from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from faust.transport.consumer import Consumer
from intervaltree import IntervalTree

from streams import offsets


@pytest.mark.parametrize(
    "acked, in_flight, expected",
    [
        ([0, 1, 2], None, 3),  # all done
        ([1, 2], 0, None),  # the first message is still running: nothing to commit
        ([32, 33], 31, None),  # the case faust gets wrong after a commit
        ([30, 32, 33], 31, 31),  # up to the one in flight, not past it
        ([5, 7], None, 8),  # 6 never delivered (compacted away): no reason to wait
    ],
)
def test_commit_point(acked, in_flight, expected):
    assert offsets.commit_point(acked, in_flight)[0] == expected


@dataclass(eq=False)
class Message:
    tp: str
    offset: int
    acked: bool = False


def consumer(acked: list[int], in_flight: list[int], tp="t-0"):
    messages = [Message(tp, o) for o in in_flight]
    return SimpleNamespace(
        _acked=defaultdict(list, {tp: list(acked)}),
        _acked_index=defaultdict(set, {tp: set(acked)}),
        _unacked_messages=set(messages),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {tp: 31}),
    )


def test_the_installed_rule_keeps_a_message_in_flight_uncommitted():
    state = consumer(acked=[32, 33], in_flight=[31])
    assert offsets._new_offset(state, "t-0") is None
    assert state._acked["t-0"] == [32, 33]  # kept for the next commit
    state._unacked_messages.clear()  # 31 finishes
    state._acked["t-0"].append(31)
    assert offsets._new_offset(state, "t-0") == 34
    assert state._acked["t-0"] == [] and state._acked_index["t-0"] == set()


def test_faust_own_rule_skips_the_message_in_flight():
    # Why the rule is replaced. If this starts failing, faust has fixed it and
    # streams/offsets.py can go.
    state = consumer(acked=[32, 33], in_flight=[31])
    assert offsets.FAUST_NEW_OFFSET(state, "t-0") == 34


def test_install_replaces_the_rule():
    offsets.install()
    assert Consumer._new_offset is offsets._new_offset
