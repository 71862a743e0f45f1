"""``warcflow captures URL`` and ``warcflow get CAPTURE_ID``: read results from S3."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

from archivers.errors import CaptureError, InvalidURL
from archivers.manifests.listing import list_captures, list_media, media_object_key
from archivers.store import layout
from archivers.urls import validate_url
from viewer.views import capture_object
from warcflow import exitcodes, wiring
from warcflow.output import error, human_size, print_json, progress, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "captures",
        parents=[common],
        help="list every capture of a URL, newest first, or of a case",
        description="List the captures of URL (any form of it: http/https, www or not, "
        "query order are the same page) from the manifests in the bucket. "
        "With --case ID instead: every capture submitted under the case, oldest first, "
        "and its requests not captured yet (status pending), filtered by the options "
        "below; with --csv as a sheet: url, tags, note, case, mode, then status, outcome, "
        "reason, capture_id, fetched_at, replay_url, sha256, gone_since (--input: your "
        "own sheet with those columns added). With --json: an array of capture objects "
        "(docs/formats.md). Exit 2 for a bad URL or filter, 3 if S3 or Kafka cannot be "
        "reached.",
    )
    p.add_argument("url", metavar="URL", nargs="?")
    p.add_argument("--case", dest="case_id", metavar="ID", help="the captures of case ID")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument(
        "--csv",
        action="store_true",
        help="--case: write the case as a CSV sheet with each capture's results (UTF-8)",
    )
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N captures")
    f = p.add_argument_group("filters (with --case)")
    f.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="has this tag (repeatable: all)"
    )
    f.add_argument("--operator", metavar="NAME", help="submitted by NAME")
    f.add_argument(
        "--outcome",
        metavar="OUTCOME",
        help="stored, failed, pending, or an outcome class: ok, partial, login_wall, "
        "deleted, geo_blocked, rate_limited, refused",
    )
    f.add_argument(
        "--liveness",
        choices=("alive", "changed", "gone", "unknown", "unchecked"),
        help="what the last recheck of the original saw (unchecked: not rechecked yet)",
    )
    f.add_argument(
        "--since", metavar="WHEN", help="submitted at or after WHEN (2026-03-01 or ISO 8601)"
    )
    f.add_argument("--until", metavar="WHEN", help="submitted before WHEN")
    f.add_argument(
        "--platform",
        metavar="HOST",
        help="the post's host or a domain above it (youtube.com matches m.youtube.com)",
    )
    f.add_argument(
        "--input",
        metavar="FILE",
        help="with --csv: the sheet you submitted; each of its rows comes back with all "
        "its columns, followed by the results of its URL",
    )
    p.set_defaults(handler=captures)

    p = sub.add_parser(
        "get",
        parents=[common],
        help="download the WARC of a capture, or a media file",
        description="Download the WARC file of CAPTURE_ID (a page or media capture id), or "
        "with sha256:DIGEST the stored media file of that digest, checking its "
        "SHA-256 while writing. A WARC with revisit records (requisites or a clip an "
        "earlier capture stored) is said so on standard error: replayed alone they have "
        "no body; `warcflow export` packs the originals. Exit 4 if there is no such "
        "capture or file.",
    )
    p.add_argument("capture_id", metavar="CAPTURE_ID|sha256:DIGEST")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the WARC (`-` for standard output)",
    )
    p.add_argument(
        "--screenshot",
        action="store_true",
        help="the full-page screenshot (PNG) of a browser capture instead of its WARC",
    )
    p.set_defaults(handler=get)


def _when(text: str | None, name: str):
    """A --since/--until value: a date (midnight UTC) or an ISO 8601 time."""
    from datetime import UTC, datetime

    from archivers.clock import parse_iso

    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"--{name} {text!r}: give a date (2026-03-01) or an ISO 8601 time with offset"
        ) from None


def case_captures_command(args, settings: Settings) -> int:
    from streams.clients.cases import case_captures
    from streams.clients.reader import TopicUnavailable
    from streams.messages.sheet import NotASheet, read_sheet
    from warcflow.cases import Filters, case_items, merged_csv, sheet_csv

    if args.input and not args.csv:
        error("--input goes with --csv")
        return exitcodes.USAGE
    try:
        filters = Filters(
            tags=tuple(args.tag),
            operator=args.operator,
            outcome=args.outcome,
            liveness=args.liveness,
            since=_when(args.since, "since"),
            until=_when(args.until, "until"),
            platform=args.platform,
        )
        sheet = None
        if args.input:
            sheet = read_sheet(open(args.input, "rb").read())
    except (ValueError, OSError) as exc:
        what = f"{args.input}: " if isinstance(exc, (NotASheet, OSError)) else ""
        error(what + str(getattr(exc, "strerror", None) or exc))
        return exitcodes.USAGE
    store = wiring.store(settings)
    try:
        found = case_captures(settings.streams.kafka, wiring.topic_names(settings), args.case_id)
        items = [
            i
            for i in case_items(
                store, found.events, found.pending, args.case_id, notes=not args.csv
            )
            if filters(i)
        ]
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    except CaptureError as exc:
        error(f"{exc} (is the S3 server at {settings.store.endpoint} running?)")
        return exitcodes.UNAVAILABLE
    if args.limit:
        items = items[: args.limit]
    viewer = settings.viewer
    if args.csv:
        if sheet is not None:
            text = merged_csv(
                sheet.columns,
                (r.cells for r in sheet.rows),
                items,
                viewer.replay_base,
                viewer.collection,
            )
        else:
            text = sheet_csv(items, viewer.replay_base, viewer.collection)
        sys.stdout.write(text)
        return exitcodes.OK
    if args.json:
        print_json([i.to_dict(viewer.replay_base, viewer.collection) for i in items])
        return exitcodes.OK
    if not items:
        progress(f"no captures of case {args.case_id} (with these filters)")
        return exitcodes.OK
    rows = [
        (
            i.manifest.capture_id if i.manifest else "-",
            i.status,
            i.outcome,
            _short_time(i.manifest.fetched_at if i.manifest else i.submitted_at),
            i.liveness_state + (f" since {i.gone_since[:10]}" if i.gone_since else ""),
            ((i.manifest.sha256 or "")[:16] + "…") if i.manifest and i.manifest.sha256 else None,
            i.url,
        )
        for i in items
    ]
    print(
        table(
            ("CAPTURE ID", "STATUS", "OUTCOME", "FETCHED (UTC)", "ORIGINAL", "SHA-256", "URL"),
            rows,
        )
    )
    return exitcodes.OK


def captures(args, settings: Settings) -> int:
    if args.case_id is not None:
        if args.url:
            error("give a URL or --case ID, not both")
            return exitcodes.USAGE
        return case_captures_command(args, settings)
    if not args.url:
        error("give a URL, or --case ID")
        return exitcodes.USAGE
    used = [
        flag
        for flag, value in (
            ("--csv", args.csv),
            ("--tag", args.tag),
            ("--operator", args.operator),
            ("--outcome", args.outcome),
            ("--liveness", args.liveness),
            ("--since", args.since),
            ("--until", args.until),
            ("--platform", args.platform),
            ("--input", args.input),
        )
        if value
    ]
    if used:
        error(f"{', '.join(used)} go with --case ID")
        return exitcodes.USAGE
    try:
        validate_url(args.url)
    except InvalidURL as exc:
        error(str(exc))
        return exitcodes.USAGE
    try:
        found = list_captures(wiring.store(settings), args.url, limit=args.limit or None)
    except CaptureError as exc:
        error(f"{exc} (is the S3 server at {settings.store.endpoint} running?)")
        return exitcodes.UNAVAILABLE
    store = wiring.store(settings)
    viewer = settings.viewer
    try:
        summaries = [
            capture_object(
                m, list_media(store, m.capture_id), viewer.replay_base, viewer.collection
            )
            for m in found
        ]
    except CaptureError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(summaries)
        return exitcodes.OK
    if not summaries:
        progress(f"no captures of {args.url} yet")
        return exitcodes.OK
    rows = []
    for s in summaries:
        rows.append(
            (
                s["capture_id"],
                s["status"],
                s["http_status"],
                _short_time(s["fetched_at"]),
                _short_time(s["stored_at"]),
                human_size(s["size"]),
                (s["sha256"][:16] + "…") if s["status"] == "stored" else s["reason"],
            )
        )
        if s.get("screenshot_key"):
            rows.append(("  screenshot", "browser", None, None, None, None, s["screenshot_key"]))
        for media in s["media"]:
            shape = (f"{media['width']}x{media['height']} " if media["width"] else "") + (
                f"{media['duration']:.1f} s" if media["duration"] else ""
            )
            rows.append(
                (
                    "  media " + media["media_id"][-8:],
                    media["status"],
                    media["kind"],
                    shape or None,
                    media["source_url"],
                    human_size(media["size"]),
                    (media["sha256"][:16] + "…") if media["sha256"] else media["reason"],
                )
            )
    print(
        table(
            (
                "CAPTURE ID",
                "STATUS",
                "HTTP",
                "FETCHED (UTC)",
                "STORED (UTC)",
                "SIZE",
                "SHA-256 / REASON",
            ),
            rows,
        )
    )
    return exitcodes.OK


def _short_time(value: str | None) -> str | None:
    return value.replace("T", " ").replace("Z", "")[:23] if value else None


def get(args, settings: Settings) -> int:
    wanted = args.capture_id
    digest_text = wanted.lower().removeprefix("sha256:")
    is_digest = wanted.lower().startswith("sha256:")
    if is_digest and (
        len(digest_text) != 64 or any(c not in "0123456789abcdef" for c in digest_text)
    ):
        error(f"{wanted!r} is not sha256: followed by 64 hex digits")
        return exitcodes.USAGE
    if not is_digest and not layout.is_capture_id(wanted):
        error(
            f"{wanted!r} is not a capture id (26 characters, as `captures` prints) or sha256:DIGEST"
        )
        return exitcodes.USAGE
    if is_digest and args.screenshot:
        error("--screenshot takes a capture id, not a digest")
        return exitcodes.USAGE
    store = wiring.store(settings)
    what = "screenshot" if args.screenshot else "WARC"
    try:
        key = (
            media_object_key(store, digest_text)
            if is_digest
            else layout.screenshot_key(wanted)
            if args.screenshot
            else layout.warc_key(wanted)
        )
        head = store.head(key) if key else None
        if head is None:
            error(
                f"no media file with {wanted}"
                if is_digest
                else f"no {what} for capture {wanted} (looked for s3://{store.bucket}/{key})"
            )
            return exitcodes.NOT_FOUND
        stream = store.open(key)
    except CaptureError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    digest = hashlib.sha256()
    to_stdout = args.output == "-"
    target = (
        sys.stdout.buffer
        if to_stdout
        else tempfile.NamedTemporaryFile(
            dir=os.path.dirname(os.path.abspath(args.output)), delete=False
        )
    )
    try:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            target.write(chunk)
        target.flush()
    finally:
        stream.close()
    if head.sha256 and digest.hexdigest() != head.sha256:
        if not to_stdout:
            os.unlink(target.name)
        error(f"the downloaded bytes do not match the stored SHA-256 of {key}")
        return exitcodes.FAILED
    if not to_stdout:
        target.close()
        os.replace(target.name, args.output)
        progress(f"wrote {args.output} ({head.size} bytes, sha256 {digest.hexdigest()})")
    if not is_digest and not args.screenshot:
        revisits = _revisit_lines(store, wanted)
        if revisits:
            progress(
                f"note: this WARC has {revisits} revisit record(s): payloads an earlier capture "
                "stored (docs/formats.md); replayed alone they have no body. "
                "`warcflow export` packs the WARCs holding the originals beside it."
            )
    return exitcodes.OK


def _revisit_lines(store, capture_id: str) -> int:
    """How many ``revisit`` records the capture's stored CDXJ index lists (0 if none
    or no index)."""
    try:
        index = store.get_bytes(layout.index_key(capture_id))
    except (KeyError, CaptureError):
        return 0
    return sum(1 for line in index.splitlines() if b'"mime": "warc/revisit"' in line)
