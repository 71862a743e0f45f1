"""``warcflow case create|edit|list|show|note``: the cases investigators work in.

A case record lives on the compacted cases topic (``streams.messages.cases``);
its captures are those submitted with its id (``submit --case ID``, a sheet's
``case`` column); notes on a capture are ``annotation`` entries of the custody
ledger (``archivers.custody.notes``), never a change to the capture.
"""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from textwrap import fill

from archivers.clock import utc_now
from archivers.custody.audit import find_manifests
from archivers.custody.fixity import object_digest
from archivers.custody.notes import note_event
from archivers.errors import CaptureError
from archivers.store import layout
from streams.clients.cases import case_captures, read_cases
from streams.clients.producer import SubmitError
from streams.clients.reader import TopicUnavailable
from streams.messages.cases import Case, InvalidCase, check_case_id, new_case
from streams.messages.custody import custody_json
from warcflow import exitcodes, wiring
from warcflow.cases import case_items
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings

EPILOG = """\
A capture belongs to the case named when it was submitted:
  warcflow submit --case ID URL...        or a `case` column in submit --csv FILE
Follow the case with:
  warcflow captures --case ID [--csv]     its captures, filtered, as a table or a sheet
  warcflow report --case ID -o case.pdf   the court pack
  warcflow export --case ID -o case.wacz  one signed WACZ of it
"""


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "case",
        help="cases: create, edit, list, show; notes on a capture",
        description=fill(
            "A case groups the captures submitted under its id, with a title, a "
            "description and its members. Case records are kept on the cases topic; "
            "notes on captures in the custody ledger, signed and time-stamped with it.",
            78,
        ),
        epilog=EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    q = actions.add_parser(
        "create",
        parents=[common],
        help="create a case",
        description="Create case ID (1 to 64 letters, digits, '.', '_', '-'). Exit 2 if the "
        "id, title or a member cannot be used or the case exists, 3 if Kafka cannot be "
        "reached.",
    )
    q.add_argument("id", metavar="ID", help="the case id, e.g. kazan-2026")
    q.add_argument("--title", required=True, metavar="TEXT", help="what the case is about")
    q.add_argument("--description", default="", metavar="TEXT", help="longer description")
    q.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="NAME",
        help="a person working the case (repeatable), named as WARCFLOW_OPERATOR names them",
    )
    q.add_argument("--json", action="store_true", help="print the case record as JSON")
    q.set_defaults(handler=create)

    q = actions.add_parser(
        "edit",
        parents=[common],
        help="change a case's title, description or members",
        description="Write the next revision of case ID. Exit 4 if there is no such case, "
        "2 if a value cannot be used, 3 if Kafka cannot be reached.",
    )
    q.add_argument("id", metavar="ID")
    q.add_argument("--title", metavar="TEXT")
    q.add_argument("--description", metavar="TEXT")
    q.add_argument("--add-member", action="append", default=[], metavar="NAME")
    q.add_argument("--remove-member", action="append", default=[], metavar="NAME")
    q.add_argument("--json", action="store_true", help="print the new revision as JSON")
    q.set_defaults(handler=edit)

    q = actions.add_parser(
        "list",
        parents=[common],
        help="list the cases",
        description="Every case, with how many captures each has (stored, failed, pending). "
        "Exit 3 if Kafka cannot be reached.",
    )
    q.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array of case records, each with a `captures` count object",
    )
    q.set_defaults(handler=list_cases)

    q = actions.add_parser(
        "show",
        parents=[common],
        help="a case, its captures and their notes",
        description="Case ID and every capture submitted under it: status, outcome, whether "
        "the original is still there, and the notes. A case id that captures carry "
        "but that was never created is shown with its captures. Exit 4 if neither "
        "a record nor a capture has the id, 3 if Kafka or S3 cannot be reached.",
    )
    q.add_argument("id", metavar="ID")
    q.add_argument(
        "--json",
        action="store_true",
        help='print {"case": record or null, "captures": [capture objects with '
        '"liveness", "gone_since", "notes"]}',
    )
    q.set_defaults(handler=show)

    q = actions.add_parser(
        "note",
        parents=[common],
        help="add a note to a capture (into the custody ledger)",
        description=fill(
            "Append a note on CAPTURE_ID to the custody ledger: who (--author, else "
            "WARCFLOW_OPERATOR), when, the text, the capture's case, and the SHA-256 of "
            "the capture's manifest it is about. The capture is not changed; the note "
            "cannot be edited or removed, only followed by another. It is in the next "
            "signed head. Exit 4 if there is no such capture, 2 if the text or author "
            "cannot be used, 3 if Kafka or S3 cannot be reached.",
            78,
        ),
    )
    q.add_argument("capture_id", metavar="CAPTURE_ID")
    q.add_argument("text", metavar="TEXT", help="the note; `-` reads it from standard input")
    q.add_argument("--author", metavar="NAME", help="who writes it (default WARCFLOW_OPERATOR)")
    q.add_argument(
        "--json",
        action="store_true",
        help='print {"note_id", "capture_id", "case_id", "author", "at", "text"}',
    )
    q.set_defaults(handler=note)


def _who(settings: Settings) -> str:
    return settings.operator or "cli"


def _cases(settings: Settings) -> dict[str, Case]:
    return read_cases(settings.streams.kafka, wiring.topic_names(settings))


def _write(settings: Settings, case: Case) -> None:
    names = wiring.topic_names(settings)
    producer = wiring.custody_producer(settings)
    try:
        producer.resend(names.cases, case.id.encode(), case.to_json(), [])
    finally:
        producer.close()


def _unavailable(exc: Exception, settings: Settings) -> int:
    error(
        f"{exc} (is `warcflow up` running? an older deployment needs `warcflow provision` "
        f"for the cases topic; Kafka {settings.streams.kafka.who()})"
    )
    return exitcodes.UNAVAILABLE


def _print_case(case: Case) -> None:
    print(f"{case.id}  {case.title}  (revision {case.revision})")
    if case.description:
        print(f"  {case.description}")
    print(f"  members: {', '.join(case.members) or '-'}")
    print(
        f"  created {case.created_at} by {case.created_by}; updated {case.updated_at} by "
        f"{case.updated_by}"
    )


def create(args, settings: Settings) -> int:
    try:
        case = new_case(
            args.id,
            args.title,
            description=args.description,
            members=tuple(args.member),
            at=utc_now(),
            by=_who(settings),
        )
    except InvalidCase as exc:
        error(str(exc))
        return exitcodes.USAGE
    try:
        if case.id in _cases(settings):
            error(f"case {case.id} exists; change it with: warcflow case edit {case.id}")
            return exitcodes.USAGE
        _write(settings, case)
    except (TopicUnavailable, SubmitError) as exc:
        return _unavailable(exc, settings)
    if args.json:
        print_json(case.to_dict())
    else:
        _print_case(case)
        progress(f"created; submit to it with: warcflow submit --case {case.id} URL")
    return exitcodes.OK


def edit(args, settings: Settings) -> int:
    try:
        check_case_id(args.id)
        found = _cases(settings).get(args.id)
        if found is None:
            error(f"there is no case {args.id} (warcflow case list)")
            return exitcodes.NOT_FOUND
        case = found.revised(
            at=utc_now(),
            by=_who(settings),
            title=args.title,
            description=args.description,
            add=tuple(args.add_member),
            remove=tuple(args.remove_member),
        )
        _write(settings, case)
    except InvalidCase as exc:
        error(str(exc))
        return exitcodes.USAGE
    except (TopicUnavailable, SubmitError) as exc:
        return _unavailable(exc, settings)
    if args.json:
        print_json(case.to_dict())
    else:
        _print_case(case)
    return exitcodes.OK


def list_cases(args, settings: Settings) -> int:
    try:
        cases = _cases(settings)
        found = case_captures(settings.streams.kafka, wiring.topic_names(settings), None)
    except TopicUnavailable as exc:
        return _unavailable(exc, settings)
    counts: dict[str, dict[str, int]] = {}
    for event in found.events.values():
        one = counts.setdefault(event["case_id"], {"stored": 0, "failed": 0, "pending": 0})
        one["stored" if event.get("status") == "stored" else "failed"] += 1
    for doc in found.pending:
        counts.setdefault(doc["case_id"], {"stored": 0, "failed": 0, "pending": 0})["pending"] += 1
    empty = {"stored": 0, "failed": 0, "pending": 0}
    if args.json:
        print_json([{**c.to_dict(), "captures": counts.get(i, empty)} for i, c in cases.items()])
        return exitcodes.OK
    if not cases:
        progress("no cases yet; make one with: warcflow case create ID --title TEXT")
        return exitcodes.OK
    rows = []
    for case_id, case in sorted(cases.items()):
        n = counts.get(case_id, empty)
        rows.append(
            (
                case_id,
                case.title,
                f"{n['stored']}/{n['failed']}/{n['pending']}",
                ", ".join(case.members) or None,
                case.updated_at[:19].replace("T", " "),
            )
        )
    print(table(("CASE", "TITLE", "STORED/FAILED/PENDING", "MEMBERS", "UPDATED (UTC)"), rows))
    uncreated = sorted(set(counts) - set(cases))
    if uncreated:
        progress(
            f"captures also carry {len(uncreated)} case id(s) never created: "
            + ", ".join(uncreated[:10])
        )
    return exitcodes.OK


def show(args, settings: Settings) -> int:
    try:
        case = _cases(settings).get(args.id)
        found = case_captures(settings.streams.kafka, wiring.topic_names(settings), args.id)
        items = case_items(wiring.store(settings), found.events, found.pending, args.id)
    except TopicUnavailable as exc:
        return _unavailable(exc, settings)
    except CaptureError as exc:
        error(f"{exc} (is the S3 server at {settings.store.endpoint} running?)")
        return exitcodes.UNAVAILABLE
    if case is None and not items:
        error(f"there is no case {args.id}, and no capture carries that id")
        return exitcodes.NOT_FOUND
    viewer = settings.viewer
    if args.json:
        print_json(
            {
                "case": case.to_dict() if case else None,
                "captures": [i.to_dict(viewer.replay_base, viewer.collection) for i in items],
            }
        )
        return exitcodes.OK
    if case:
        _print_case(case)
    else:
        print(f"{args.id}  (no case record: `warcflow case create {args.id} --title …`)")
    print()
    rows = []
    for item in items:
        rows.append(
            (
                item.manifest.capture_id if item.manifest else "-",
                item.status,
                item.outcome,
                item.liveness_state + (f" since {item.gone_since[:10]}" if item.gone_since else ""),
                len(item.notes) or None,
                item.url,
            )
        )
    print(table(("CAPTURE ID", "STATUS", "OUTCOME", "ORIGINAL", "NOTES", "URL"), rows))
    for item in items:
        for n in item.notes:
            print(f"\n{n.capture_id}  {n.at[:19].replace('T', ' ')}  {n.author}:\n  {n.text}")
    return exitcodes.OK


def note(args, settings: Settings) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if not layout.is_capture_id(args.capture_id):
        error(f"{args.capture_id!r} is not a capture id (26 characters, as `captures` prints)")
        return exitcodes.USAGE
    store = wiring.store(settings)
    try:
        found = find_manifests(store, args.capture_id.upper())
        if not found:
            error(f"there is no capture {args.capture_id}")
            return exitcodes.NOT_FOUND
        manifest = found[0]
        key = layout.manifest_key(manifest.url, manifest.capture_id)
        digest = object_digest(store, key)
    except CaptureError as exc:
        error(f"{exc} (is the S3 server at {settings.store.endpoint} running?)")
        return exitcodes.UNAVAILABLE
    if digest is None:
        error(f"the manifest of {manifest.capture_id} is gone ({key}): `warcflow audit` it")
        return exitcodes.NOT_FOUND
    try:
        event = note_event(
            capture_id=manifest.capture_id,
            url=manifest.url,
            manifest=digest,
            author=args.author or settings.operator,
            text=text,
            at=utc_now(),
            case_id=manifest.request.get("case_id"),
        )
    except ValueError as exc:
        error(str(exc))
        return exitcodes.USAGE
    names = wiring.topic_names(settings)
    try:
        producer = wiring.custody_producer(settings)
        try:
            producer.resend(names.custody, manifest.capture_id.encode(), custody_json(event), [])
        finally:
            producer.close()
    except SubmitError as exc:
        return _unavailable(exc, settings)
    summary = {
        "note_id": event.detail["note_id"],
        "capture_id": manifest.capture_id,
        "case_id": event.detail["case_id"],
        "author": event.detail["author"],
        "at": event.at,
        "text": event.detail["text"],
    }
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['note_id']}  on {manifest.capture_id} by {summary['author']}")
        progress("the ledger appends it shortly; it is in the next signed head")
    return exitcodes.OK
