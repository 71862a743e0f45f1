"""The submission sheet: a CSV of URLs with their tags, note, case and mode.

The one reading of a sheet, shared by ``warcflow submit --csv FILE``, the
``sheet`` watch (a published Google Sheets or LibreOffice CSV link) and
``warcflow captures --case ID --csv --input FILE`` (docs/formats.md,
"Submission sheet"):

    url    required: the post to capture
    tags   labels, separated by commas or semicolons
    note   free text kept with the capture
    case   the case id the capture belongs to
    mode   static, browser or auto (empty: the command's default)

- a header row names the columns, in any order, in any letter case; other
  columns are allowed and kept (``Row.cells``) but not submitted;
- encodings: UTF-8 with or without a BOM (Google Sheets, LibreOffice, Excel's
  "CSV UTF-8"), UTF-16 with a BOM (Excel's "Unicode Text"); anything else is
  refused with what to do, never guessed at;
- the delimiter is the one the header row uses: comma, semicolon (Excel in
  locales with a decimal comma) or tab (Excel's "Unicode Text");
- rows are numbered as a spreadsheet shows them (the header is row 1); a row
  whose cells are all empty, or whose url starts with ``#``, is skipped.

Pure: bytes in, rows and per-row problems out; at most ``MAX_ROWS`` rows and
``MAX_BYTES`` of text (a cell may hold csv's own limit, 128 KiB).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from archivers.capture.modes import MODES
from archivers.errors import InvalidURL
from streams.messages.capture import SubmitRequest

COLUMNS = ("url", "tags", "note", "case", "mode")
MAX_ROWS = 50_000
MAX_BYTES = 32 * 1024 * 1024
DELIMITERS = (",", ";", "\t")
_TAG_SPLIT = re.compile(r"[,;]")


class NotASheet(ValueError):
    """Bytes that are not a submission sheet; the message says what to fix."""


@dataclass(frozen=True)
class Row:
    number: int
    """As a spreadsheet numbers it: the header is row 1."""
    url: str
    tags: tuple[str, ...] = ()
    note: str | None = None
    case_id: str | None = None
    mode: str | None = None
    cells: tuple[tuple[str, str], ...] = ()
    """Every column of the row as given (header, value), in the header's order."""


@dataclass(frozen=True)
class Sheet:
    columns: tuple[str, ...]
    """The header as given."""
    rows: list[Row] = field(default_factory=list)


def decode(data: bytes) -> str:
    """The text of a sheet: UTF-8 (BOM or not) or UTF-16 with a BOM; NotASheet otherwise."""
    if len(data) > MAX_BYTES:
        raise NotASheet(f"the sheet is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise NotASheet(f"the sheet says UTF-16 but is not: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotASheet(
            "the sheet is neither UTF-8 nor UTF-16 with a byte-order mark: save it as "
            "'CSV UTF-8' (Excel), or 'Text CSV' with character set Unicode (UTF-8) (LibreOffice)"
        ) from None


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def tags_of(cell: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in _TAG_SPLIT.split(cell) if t.strip()))


def read_sheet(data: bytes) -> Sheet:
    """The rows of a sheet; NotASheet if it has no header with a ``url`` column.

    A row is read as given; whether it can be submitted is ``requests_of``'s."""
    text = decode(data)
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), strict=False)
    try:
        header = next(reader, None)
        if not header:
            raise NotASheet("the sheet is empty: its first row must name the columns (url, …)")
        columns = tuple(h.strip() for h in header)
        lower = [c.lower() for c in columns]
        if "url" not in lower:
            raise NotASheet(
                f"the header row ({', '.join(columns) or 'empty'}) has no 'url' column; "
                f"the columns warcflow reads are {', '.join(COLUMNS)}"
            )
        at = {name: lower.index(name) for name in COLUMNS if name in lower}
        rows: list[Row] = []
        for number, cells in enumerate(reader, 2):
            if len(rows) >= MAX_ROWS:
                raise NotASheet(f"the sheet has more than {MAX_ROWS} rows")
            if not any(c.strip() for c in cells):
                continue

            def cell(name: str, cells: list[str] = cells) -> str:
                i = at.get(name)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            url = cell("url")
            if url.startswith("#"):
                continue
            rows.append(
                Row(
                    number,
                    url,
                    tags_of(cell("tags")),
                    cell("note") or None,
                    cell("case") or None,
                    cell("mode").lower() or None,
                    tuple(
                        (name, cells[i] if i < len(cells) else "") for i, name in enumerate(columns)
                    ),
                )
            )
    except csv.Error as exc:
        raise NotASheet(f"row {reader.line_num}: not CSV: {exc}") from None
    return Sheet(columns, rows)


def request_of(
    row: Row,
    *,
    submitted_at: datetime,
    source: str,
    tags: tuple[str, ...] = (),
    case_id: str | None = None,
    mode: str = "auto",
    operator: str | None = None,
    purpose: str | None = None,
) -> SubmitRequest:
    """The SubmitRequest of one row; the row's own case and mode win over the
    defaults, its tags join ``tags``. InvalidURL / ValueError saying what is wrong."""
    if not row.url:
        raise ValueError("the url cell is empty")
    if row.mode is not None and row.mode not in MODES:
        raise ValueError(f"mode {row.mode!r} is not one of {', '.join(MODES)}")
    return SubmitRequest.new(
        row.url,
        submitted_at=submitted_at,
        source=source,
        tags=tuple(dict.fromkeys((*tags, *row.tags))),
        note=row.note,
        operator=operator,
        case_id=row.case_id or case_id,
        purpose=purpose,
        mode=row.mode or mode,
    )


def requests_of(
    sheet: Sheet, *, where: str = "row", **defaults
) -> tuple[list[SubmitRequest], list[str]]:
    """Every row's request, and one problem line per row that cannot be submitted
    (``"<where> 4: 'ftp://x': …"``). Callers submit nothing when there is any
    problem, so a sheet is all or nothing, like a batch of URLs."""
    requests, problems = [], []
    for row in sheet.rows:
        try:
            requests.append(request_of(row, **defaults))
        except (InvalidURL, ValueError) as exc:
            problems.append(f"{where} {row.number}: {row.url!r}: {exc}")
    return requests, problems
