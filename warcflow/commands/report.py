"""``warcflow report``: the court pack, a PDF of captures with their proofs."""

from __future__ import annotations

import uuid
from pathlib import Path

from archivers.clock import iso, utc_now
from archivers.custody.audit import find_manifests
from archivers.errors import CaptureError
from streams.clients.producer import SubmitError
from warcflow import __version__, exitcodes, wiring
from warcflow.output import error, print_json, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "report",
        parents=[common],
        help="write a PDF report of captures for a court or an editor",
        description="Write the court pack of CAPTURE_ID, of the captures of URL (newest "
        "first; --all: every one, else the newest), or of every capture of --case ID, to "
        "FILE.pdf: per capture the URL and final URL, the submitted, fetched, stored and "
        "time-stamp times with whose clock each is, every digest, the screenshot, frames "
        "of each clip, the post's own claims marked as claims, the session (none), the "
        "liveness history, the custody chain with each entry's inclusion in a signed head, "
        "the audit's checks, the method statement (tools, settings digest, Berkeley "
        "Protocol para 155 and 167) and the commands to verify it; the manifest as an "
        "appendix. Made from the bucket alone (nothing is fetched); the PDF's SHA-256 is "
        "recorded in the ledger as an export event of each capture. Exit 4 if there is no "
        "such capture or case, 3 if S3 or Kafka cannot be reached.",
    )
    p.add_argument("target", metavar="CAPTURE_ID|URL", nargs="?")
    p.add_argument("--case", dest="case_id", metavar="ID", help="every capture of case ID")
    p.add_argument("--all", action="store_true", help="URL: every capture, not just the newest")
    p.add_argument(
        "-o", "--output", metavar="FILE", required=True, type=Path, help="the .pdf to write"
    )
    p.add_argument(
        "--frames",
        type=int,
        default=4,
        metavar="N",
        help="frames shown of each clip (default 4; 0: none)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"file", "sha256", "size", "pages", "captures", "recorded"}',
    )
    p.set_defaults(handler=report)


def report(args, settings: Settings) -> int:
    if bool(args.target) == bool(args.case_id):
        error("give CAPTURE_ID or URL, or --case ID")
        return exitcodes.USAGE
    if args.frames < 0 or args.frames > 24:
        error("--frames: 0 to 24")
        return exitcodes.USAGE
    # imported once the request is known to be good: WeasyPrint and pango take a while
    from archivers.export.courtpack import write_report
    from archivers.export.pdf import ReportRefused
    from streams.clients.cases import case_captures, read_cases
    from streams.clients.reader import TopicUnavailable
    from warcflow.cases import case_items

    store = wiring.store(settings)
    case, pending = None, []
    try:
        if args.case_id:
            names = wiring.topic_names(settings)
            record = read_cases(settings.streams.kafka, names).get(args.case_id)
            found = case_captures(settings.streams.kafka, names, args.case_id)
            items = case_items(store, found.events, found.pending, args.case_id, notes=False)
            manifests = [i.manifest for i in items if i.manifest is not None]
            pending = [i.request for i in items if i.manifest is None]
            case = record.to_dict() if record else {"id": args.case_id, "title": None}
            title = f"Case {args.case_id}: {record.title}" if record else f"Case {args.case_id}"
        else:
            manifests = find_manifests(store, args.target)
            if not args.all:
                manifests = manifests[:1]
            title = (
                f"Capture report: {manifests[0].url}"
                + (f" ({len(manifests)} captures)" if len(manifests) > 1 else "")
                if manifests
                else ""
            )
        if not manifests:
            error(
                f"no capture of case {args.case_id}"
                if args.case_id
                else f"no capture of {args.target}"
            )
            return exitcodes.NOT_FOUND
        written = write_report(
            store,
            manifests,
            args.output,
            title=title,
            created=utc_now(),
            software=f"warcflow {__version__}",
            by=wiring.who(settings),
            case=case,
            pending=pending,
            trust=wiring.configured_trust(settings),
            frames=args.frames,
            progress=None if args.json else progress,
        )
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    except CaptureError as exc:
        error(f"{exc} (is the S3 server at {settings.store.endpoint} running?)")
        return exitcodes.UNAVAILABLE
    except ReportRefused as exc:
        error(f"the report was not written: {exc}")
        return exitcodes.FAILED
    try:
        recorded = wiring.record_export(
            settings,
            manifests,
            name=written.path.name,
            sha256=written.sha256,
            size=written.size,
            batch=uuid.uuid4().hex,
            detail={"kind": "report", "media_type": "application/pdf", "pages": written.pages},
        )
    except SubmitError as exc:
        error(f"{written.path} is written, but it could not be recorded in the ledger: {exc}")
        return exitcodes.UNAVAILABLE
    summary = {
        "file": str(written.path),
        "sha256": written.sha256,
        "size": written.size,
        "pages": written.pages,
        "captures": list(written.captures),
        "recorded": recorded,
        "made_at": iso(utc_now()),
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{written.path}: {written.pages} pages, {written.size} bytes, "
            f"sha256 {written.sha256}\n  captures: {', '.join(written.captures)}\n"
            f"  recorded in the ledger as an export of each (event ids {recorded[0]}…)"
        )
    return exitcodes.OK
