"""A published sheet (CSV) → one item per row, with the row's tags, note, case and mode.

The source is a spreadsheet published as CSV: Google Sheets' "Publish to the
web" CSV link (``…/pub?output=csv``) or a LibreOffice/Nextcloud CSV export
link; the columns are the submission sheet's (``streams.messages.sheet``:
url, tags, note, case, mode). An item is known by its URL: editing a row's
other cells, moving rows or inserting rows above it does not submit it again,
and a URL already submitted by the watch is not submitted again from another
row. A row that cannot be submitted (a bad URL, mode or tag) is left out and
named in ``problems`` (the worker logs them); it is submitted once it is
fixed, since it was never marked seen.

``sheet_csv_url`` turns the link a person copies from the browser's address
bar (a Google Sheets ``/edit`` or ``/pubhtml`` page) into its CSV form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from archivers.clock import utc_now
from archivers.errors import InvalidURL
from streams.messages.sheet import NotASheet, read_sheet, request_of
from streams.watchers.items import MAX_ITEMS_PER_BODY, Item, MalformedSource, dedupe

_GOOGLE_EDIT = re.compile(r"^/spreadsheets/d/([A-Za-z0-9_-]+)/(edit|view|htmlview)?$")
_GOOGLE_PUBHTML = re.compile(r"^/spreadsheets/d/e/([A-Za-z0-9_-]+)/pubhtml$")


@dataclass(frozen=True)
class SheetRows:
    """What a sheet gave: its items, and a line per row left out."""

    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_sheet(body: bytes, sheet_url: str) -> SheetRows:
    """The rows of a published sheet as items; MalformedSource ``not_a_sheet``."""
    try:
        sheet = read_sheet(body)
    except NotASheet as exc:
        raise MalformedSource("not_a_sheet", f"{sheet_url}: {exc}") from None
    items, problems = [], []
    checked_at = utc_now()
    for row in sheet.rows:
        try:
            request_of(row, submitted_at=checked_at, source="watch")  # the same checks
        except (InvalidURL, ValueError) as exc:
            problems.append(f"row {row.number}: {row.url!r}: {exc}")
            continue
        items.append(Item(row.url, (), row.tags, row.note, row.case_id, row.mode))
    return SheetRows(dedupe(items)[:MAX_ITEMS_PER_BODY], problems[:100])


def sheet_csv_url(url: str) -> str:
    """The CSV form of a Google Sheets link; any other URL as it is."""
    parts = urlsplit(url)
    if parts.hostname != "docs.google.com":
        return url
    gid = (parse_qs(parts.query).get("gid") or parse_qs(parts.fragment).get("gid") or [""])[0]
    tab = f"&gid={gid}" if gid.isdigit() else ""
    if match := _GOOGLE_EDIT.match(parts.path):
        return f"https://docs.google.com/spreadsheets/d/{match.group(1)}/export?format=csv{tab}"
    if match := _GOOGLE_PUBHTML.match(parts.path):
        return f"https://docs.google.com/spreadsheets/d/e/{match.group(1)}/pub?output=csv{tab}"
    return url
