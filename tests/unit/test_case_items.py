"""What ``captures --case`` filters and writes, on case items made here (warcflow.cases).

The filters and the CSV merge are pure: they are checked here over every
option, and tests/e2e/test_cases.py runs one filter on the real services
(``--liveness gone``, after a real recheck) and the CSV out with stored rows.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

from warcflow.cases import RESULT_COLUMNS, CaseItem, Filters, merged_csv, on_platform, sheet_csv


def item(url="https://www.example.org/p/1", *, at="2026-03-01T12:00:00+00:00", status=None,
         outcome=None, tags=(), operator=None, liveness=None) -> CaseItem:  # fmt: skip
    request = {"tags": list(tags), "operator": operator, "case_id": "c", "note": "n"}
    found = CaseItem(request, url, at, liveness=liveness)
    if status is not None:  # only what the filters read of a manifest
        found.manifest = SimpleNamespace(status=status, outcome=outcome)  # type: ignore[assignment]
    return found


def test_each_filter_keeps_only_what_it_names():
    stored = item(status="stored", outcome="ok", tags=("kazan", "protest"), operator="alice")
    dead = item("https://m.youtube.com/watch?v=x", status="failed", outcome="deleted",
                at="2026-03-02T09:00:00+00:00", tags=("kazan",))  # fmt: skip
    gone = item(status="stored", outcome="ok", liveness={"state": "gone",
                "first_seen_gone": "2026-03-03T00:00:00+00:00"})  # fmt: skip
    waiting = item("https://t.me/s/x/1", at="2026-03-04T00:00:00+00:00")
    items = [stored, dead, gone, waiting]

    def kept(**given):
        return [items.index(i) for i in items if Filters(**given)(i)]

    assert kept() == [0, 1, 2, 3]
    assert kept(tags=("kazan",)) == [0, 1] and kept(tags=("kazan", "protest")) == [0]
    assert kept(operator="alice") == [0] and kept(operator="bob") == []
    assert kept(outcome="failed") == [1] and kept(outcome="deleted") == [1]
    assert kept(outcome="pending") == [3]
    assert kept(liveness="gone") == [2] and kept(liveness="unchecked") == [0, 1, 3]
    assert gone.gone_since == "2026-03-03T00:00:00+00:00" and stored.gone_since is None
    since = datetime(2026, 3, 2, tzinfo=UTC)
    assert kept(since=since) == [1, 3]
    assert kept(until=since) == [0, 2]  # until is exclusive
    assert kept(until=datetime(2000, 1, 1, tzinfo=UTC)) == []
    assert kept(platform="youtube.com") == [1]  # a domain above the host
    assert kept(platform="www.example.org") == [0, 2]  # www. is no part of a platform
    assert not on_platform("https://notexample.org/", "example.org")


def test_a_sheet_of_pending_items_has_every_column_and_empty_results():
    waiting = item(tags=("a", "b"))
    rows = list(csv.reader(io.StringIO(sheet_csv([waiting], "http://v", "warcflow", bom=False))))
    assert rows[0] == ["url", "tags", "note", "case", "mode", *RESULT_COLUMNS]
    assert rows[1][:5] == ["https://www.example.org/p/1", "a, b", "n", "c", "auto"]
    assert dict(zip(RESULT_COLUMNS, rows[1][5:], strict=True))["status"] == "pending"
    assert sheet_csv([], "http://v", "warcflow", bom=True).startswith("\ufeffurl,")


def test_the_users_sheet_comes_back_row_for_row_with_results_after_it():
    columns = ("URL", "status", "who")  # a column named like a result column of ours
    rows = [
        (("URL", "HTTPS://www.Example.org/p/1"), ("status", "to do"), ("who", "ann")),
        (("URL", "https://example.org/never"), ("status", ""), ("who", "bo")),
        (("URL", "not a url"), ("status", ""), ("who", "cy")),
    ]
    out = list(csv.reader(io.StringIO(merged_csv(columns, rows, [item()], "http://v", "w"))))
    assert out[0] == ["URL", "status", "who", *(
        f"warcflow_{c}" if c == "status" else c for c in RESULT_COLUMNS)]  # fmt: skip
    assert [r[:3] for r in out[1:]] == [
        ["HTTPS://www.Example.org/p/1", "to do", "ann"],
        ["https://example.org/never", "", "bo"],
        ["not a url", "", "cy"],
    ]
    assert [r[3] for r in out[1:]] == ["pending", "not submitted", "not submitted"]
