"""Submission sheets, case records and notes, each module on its own.

The sheet is read as people's spreadsheets write it (Google Sheets and
LibreOffice UTF-8, Excel's "CSV UTF-8" with a BOM, its "Unicode Text" in
UTF-16 with tabs, a semicolon locale), and every row that cannot be submitted
is named by the row number the spreadsheet shows. The end-to-end runs (CSV in,
captures, CSV out; the sheet watch across a restart) are in
tests/e2e/test_cases.py.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, datetime

import pytest

from archivers.custody.ledger import Ledger, ObjectDigest
from archivers.custody.notes import note_event, notes_of
from archivers.store.memory import MemoryStore
from streams.messages.cases import InvalidCase, decode_case, new_case
from streams.messages.sheet import NotASheet, read_sheet, requests_of
from streams.watchers.items import Item
from streams.watchers.sheet import parse_sheet, sheet_csv_url

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROWS = [
    ("url", "tags", "note", "case", "mode", "source column"),
    ("https://example.org/post/1", "kazan, protest", "first video", "kazan-2026", "", "tip A"),
    ("https://example.org/post/2", "kazan;mobilisation", "", "", "browser", "tip B"),
    ("", "", "", "", "", ""),
    ("https://example.org/post/3", "", "", "", "", ""),
]


def csv_text(rows, delimiter=",") -> str:
    """As a spreadsheet writes it: cells with the delimiter or a quote are quoted."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def submitted(data: bytes):
    requests, problems = requests_of(
        read_sheet(data),
        submitted_at=NOW,
        source="csv",
        tags=("cli-tag",),
        case_id="default-case",
        mode="static",
    )
    assert problems == []
    return requests


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(csv_text(ROWS).encode("utf-8"), id="utf-8 (Google Sheets, LibreOffice)"),
        pytest.param(codecs.BOM_UTF8 + csv_text(ROWS).encode(), id="Excel CSV UTF-8 (BOM)"),
        pytest.param(
            codecs.BOM_UTF16_LE + csv_text(ROWS, "\t").encode("utf-16-le"),
            id="Excel Unicode Text (UTF-16 LE, BOM, tabs)",
        ),
        pytest.param(
            codecs.BOM_UTF16_BE + csv_text(ROWS, ";").encode("utf-16-be"),
            id="UTF-16 BE with semicolons",
        ),
        pytest.param(csv_text(ROWS, ";").encode("utf-8"), id="semicolon locale"),
    ],
)
def test_each_spreadsheet_encoding_gives_the_same_requests(encoded):
    requests = submitted(encoded)
    assert [r.url for r in requests] == [
        "https://example.org/post/1",
        "https://example.org/post/2",
        "https://example.org/post/3",
    ]
    first, second, third = requests
    assert first.tags == ("cli-tag", "kazan", "protest")
    assert (first.note, first.case_id, first.mode, first.source) == (
        "first video",
        "kazan-2026",  # the row's case wins over --case
        "static",  # an empty mode cell takes the command's
        "csv",
    )
    assert (second.tags, second.case_id, second.mode) == (
        ("cli-tag", "kazan", "mobilisation"),
        "default-case",
        "browser",
    )
    assert (third.note, third.case_id) == (None, "default-case")


def test_rows_keep_every_column_and_their_spreadsheet_numbers():
    sheet = read_sheet(csv_text(ROWS).encode())
    assert sheet.columns == ROWS[0]
    assert [r.number for r in sheet.rows] == [2, 3, 5]  # the empty row 4 is skipped
    assert dict(sheet.rows[0].cells)["source column"] == "tip A"


def test_a_header_in_any_order_and_letter_case():
    sheet = read_sheet(b"Note,URL\nhello,https://example.org/a\n")
    [row] = sheet.rows
    assert (row.url, row.note) == ("https://example.org/a", "hello")


def test_bad_rows_are_named_by_row_number_and_nothing_is_submitted():
    data = csv_text(
        [
            ("url", "mode", "tags"),
            ("https://example.org/ok", "", ""),
            ("ftp://example.org/file", "", ""),
            ("https://example.org/x", "sideways", ""),
            ("https://example.org/y", "", ";".join(f"t{i}" for i in range(40))),
            ("# a comment row", "", ""),
        ]
    ).encode()
    requests, problems = requests_of(
        read_sheet(data), where="posts.csv row", submitted_at=NOW, source="csv"
    )
    assert len(requests) == 1
    assert [p.split(":", 1)[0] for p in problems] == [
        "posts.csv row 3",
        "posts.csv row 4",
        "posts.csv row 5",
    ]
    assert "ftp://example.org/file" in problems[0]
    assert "sideways" in problems[1] and "static, browser, auto" in problems[1]
    assert "at most 32 tags" in problems[2]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"link,note\nhttps://example.org/a,x\n", "no 'url' column"),
        ("url\nhttps://example.org/é\n".encode("latin-1"), "CSV UTF-8"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "UTF-16"),
    ],
)
def test_what_is_no_sheet_says_what_to_fix(data, says):
    with pytest.raises(NotASheet, match=says):
        read_sheet(data)


def test_the_sheet_watch_gives_valid_rows_as_items_and_names_the_others():
    data = csv_text(
        [
            ("url", "tags", "note", "case", "mode"),
            ("https://example.org/1", "a", "n1", "kazan-2026", "static"),
            ("https://example.org/1", "b", "again", "", ""),  # the same URL: one item
            ("not a url", "", "", "", ""),
            ("https://example.org/2", "", "", "", "nope"),
            ("https://example.org/3", "", "", "", ""),
        ]
    ).encode()
    rows = parse_sheet(data, "https://sheets.example/pub?output=csv")
    assert rows.items == [
        Item("https://example.org/1", (), ("a",), "n1", "kazan-2026", "static"),
        Item("https://example.org/3"),
    ]
    assert [p.split(":", 1)[0] for p in rows.problems] == ["row 4", "row 5"]


def test_a_google_sheets_page_link_becomes_its_csv_link():
    base = "https://docs.google.com/spreadsheets/d/1AbC_dEf-2"
    assert sheet_csv_url(f"{base}/edit#gid=123") == f"{base}/export?format=csv&gid=123"
    assert sheet_csv_url(f"{base}/edit?usp=sharing") == f"{base}/export?format=csv"
    published = "https://docs.google.com/spreadsheets/d/e/2PACX-1vQ"
    assert sheet_csv_url(f"{published}/pubhtml") == f"{published}/pub?output=csv"
    assert sheet_csv_url(f"{published}/pub?output=csv") == f"{published}/pub?output=csv"
    assert sheet_csv_url("https://cloud.example/s/abc/download") == (
        "https://cloud.example/s/abc/download"
    )


def test_a_case_record_round_trips_and_refuses_what_it_cannot_hold():
    case = new_case(
        "kazan-2026",
        " Protests in Kazan ",
        description="Mobilisation protests, September",
        members=("alice", "bob", "alice"),
        at=NOW,
        by="alice",
    )
    assert (case.title, case.members, case.revision) == ("Protests in Kazan", ("alice", "bob"), 1)
    assert decode_case(case.to_json()) == case
    later = case.revised(at=NOW, by="bob", add=("carol",), remove=("alice",))
    assert (later.members, later.revision, later.updated_by) == (("bob", "carol"), 2, "bob")
    assert later.created_by == "alice"
    for bad_id in ("", "has space", "-dash-first", "x" * 65, "a/b"):
        with pytest.raises(InvalidCase):
            new_case(bad_id, "t", at=NOW, by="a")
    with pytest.raises(InvalidCase, match="title"):
        new_case("ok", "  ", at=NOW, by="a")
    with pytest.raises(InvalidCase):
        decode_case(b'{"schema": "warcflow.Watch", "version": 1}')


def test_a_note_is_a_ledger_entry_about_the_capture_and_changes_nothing_of_it():
    store = MemoryStore()
    ledger = Ledger(store)
    manifest = ObjectDigest("manifests/ab/20260301T120000Z-X.json", "a" * 64, 10)
    event = note_event(
        capture_id="01JNX0000000000000000000AA",
        url="https://example.org/post/1",
        manifest=manifest,
        author="alice",
        text="  The soldier at 0:12 is the one from post 2.  ",
        at=NOW,
        case_id="kazan-2026",
    )
    ledger.append(event)
    ledger.append(event)  # redelivered: appended once
    [note] = notes_of(store, "01JNX0000000000000000000AA")
    assert (note.author, note.text, note.case_id, note.via) == (
        "alice",
        "The soldier at 0:12 is the one from post 2.",
        "kazan-2026",
        "cli",
    )
    assert note.index == 0
    assert list(store.list_keys("manifests/")) == []  # nothing written but the ledger
    with pytest.raises(ValueError, match="author"):
        note_event(capture_id="X", url="u", manifest=manifest, author="", text="t", at=NOW)
    with pytest.raises(ValueError, match="empty"):
        note_event(capture_id="X", url="u", manifest=manifest, author="a", text=" ", at=NOW)
