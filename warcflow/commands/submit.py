"""``warcflow submit``: put URLs on the ingest topic."""

from __future__ import annotations

import sys

from archivers.capture.modes import AUTO, MODES
from archivers.clock import iso, utc_now
from archivers.urls import surt
from streams.clients.producer import SubmitError, Submitter
from streams.messages.capture import submit_requests
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "submit",
        parents=[common],
        help="submit URLs for capture",
        description="Validate each URL and produce a SubmitRequest per URL to the ingest topic "
        "(key: the URL's SURT). All URLs are checked first: if any is refused "
        "(not http/https, no host, longer than 2048 characters, spaces, credentials) "
        "nothing is submitted and the exit code is 2. With --csv, the URLs are the rows "
        "of a sheet, each with its own tags, note, case and mode (docs/formats.md, "
        "'Submission sheet'); every row is checked first, and a refused row names its "
        "row number as the spreadsheet shows it.",
    )
    p.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="URLs to capture; `-` reads one URL per line from standard input "
        "(blank lines and lines starting with # are skipped)",
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="submit the rows of a CSV sheet (`-`: standard input): a header row with a url "
        "column and optionally tags, note, case, mode; UTF-8, or UTF-16 with a BOM (Excel's "
        "Unicode Text); comma, semicolon or tab separated. --tag adds to each row's tags; "
        "--case, --note and the mode flags are the default of rows that leave theirs empty",
    )
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="label the captures (repeatable), e.g. --tag kazan --tag case-17",
    )
    p.add_argument("--note", metavar="TEXT", help="free text kept with the capture")
    p.add_argument(
        "--operator",
        metavar="NAME",
        help="who submits, kept with the capture (default WARCFLOW_OPERATOR, else "
        "the login user name)",
    )
    p.add_argument(
        "--case",
        dest="case_id",
        metavar="ID",
        help="the case or investigation the captures belong to",
    )
    p.add_argument("--purpose", metavar="TEXT", help="why these URLs are captured")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--browser",
        dest="mode",
        action="store_const",
        const="browser",
        help="capture in headless Chromium (scripts run, lazy content scrolled "
        "into view, full-page screenshot), whatever the site rules say",
    )
    mode.add_argument(
        "--static",
        dest="mode",
        action="store_const",
        const="static",
        help="capture with the fetcher alone, whatever the site rules say",
    )
    mode.add_argument(
        "--mode",
        choices=MODES,
        dest="mode",
        help="static, browser or auto (default: auto, the site rules "
        "WARCFLOW_BROWSER_SITES decide)",
    )
    p.set_defaults(mode=AUTO)
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array of {request_id, url, surt, mode, case_id, topic, partition, "
        "offset, submitted_at}",
    )
    p.set_defaults(handler=submit, role="submitter")


def _read_urls(items: list[str]) -> list[tuple[str, str]]:
    """(where, url) pairs; `where` names the argument or stdin line for error messages."""
    out = []
    for position, item in enumerate(items, 1):
        if item == "-":
            for number, line in enumerate(sys.stdin, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append((f"stdin line {number}", line))
        else:
            out.append((f"argument {position}", item))
    return out


def default_operator(settings: Settings) -> str | None:
    """WARCFLOW_OPERATOR, else None. Never the login name: it would be written
    into every capture, shown by the viewer and carried into exports (review F12)."""
    return settings.operator or None


def _sheet_requests(args, settings: Settings) -> tuple[list, list[str]]:
    """The requests of the --csv sheet, and its problems (a file that is no sheet is one)."""
    from dataclasses import replace

    from streams.messages.sheet import NotASheet, read_sheet, requests_of

    name = "standard input" if args.csv == "-" else args.csv
    try:
        data = sys.stdin.buffer.read() if args.csv == "-" else open(args.csv, "rb").read()
        sheet = read_sheet(data)
    except OSError as exc:
        return [], [f"cannot read {name}: {exc.strerror or exc}"]
    except NotASheet as exc:
        return [], [f"{name}: {exc}"]
    if args.note:
        sheet = replace(
            sheet, rows=[r if r.note else replace(r, note=args.note) for r in sheet.rows]
        )
    return requests_of(
        sheet,
        where=f"{name} row",
        submitted_at=utc_now(),
        source="csv",
        tags=tuple(args.tag),
        case_id=args.case_id,
        mode=args.mode,
        operator=args.operator or default_operator(settings),
        purpose=args.purpose,
    )


def submit(args, settings: Settings) -> int:
    if args.csv and args.urls:
        error("give URLs or --csv FILE, not both")
        return exitcodes.USAGE
    if args.csv:
        requests, problems = _sheet_requests(args, settings)
    else:
        requests, problems = submit_requests(
            _read_urls(args.urls),
            submitted_at=utc_now(),
            source="cli",
            tags=tuple(args.tag),
            note=args.note,
            operator=args.operator or default_operator(settings),
            case_id=args.case_id,
            purpose=args.purpose,
            mode=args.mode,
        )
    if problems:
        for problem in problems:
            error(problem)
        error(f"refused {len(problems)} of {len(problems) + len(requests)}; nothing was submitted")
        return exitcodes.USAGE
    if not requests:
        error("no URLs to submit")
        return exitcodes.USAGE
    names = wiring.topic_names(settings)
    try:
        submitter = Submitter(settings.streams.kafka, names)
        try:
            done = submitter.submit(requests)
        finally:
            submitter.close()
    except SubmitError as exc:
        error(f"{exc} (is `warcflow up` running? Kafka {settings.streams.kafka.who()})")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(
            [
                {
                    "request_id": d.request.request_id,
                    "url": d.request.url,
                    "surt": surt(d.request.url),
                    "mode": d.request.mode,
                    "case_id": d.request.case_id,
                    "topic": names.ingest,
                    "partition": d.partition,
                    "offset": d.offset,
                    "submitted_at": iso(d.request.submitted_at),
                }
                for d in done
            ]
        )
    else:
        for d in done:
            print(f"{d.request.request_id}  {d.request.url}")
        cases = sorted({d.request.case_id for d in done if d.request.case_id})
        progress(
            f"submitted {len(done)} URL{'s' if len(done) != 1 else ''} to {names.ingest}; "
            + (
                f"follow with: warcflow captures --case {cases[0]}"
                if len(cases) == 1
                else "follow with: warcflow captures URL"
            )
        )
    return exitcodes.OK
