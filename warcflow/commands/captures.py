"""``warcflow captures URL`` and ``warcflow get CAPTURE_ID``: read results from S3."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

from archivers import keys
from archivers.catalog import list_captures
from archivers.errors import CaptureError, InvalidURL
from archivers.urls import validate_url
from warcflow import exitcodes, wiring
from warcflow.output import error, human_size, print_json, progress, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "captures", parents=[common], help="list every capture of a URL, newest first",
        description="List the captures of URL (any form of it: http/https, www or not, "
                    "query order are the same page) from the manifests in the bucket. "
                    "With --json: an array of capture objects (docs/formats.md).")
    p.add_argument("url", metavar="URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N captures")
    p.set_defaults(handler=captures)

    p = sub.add_parser(
        "get", parents=[common], help="download the WARC of a capture",
        description="Download the WARC file of CAPTURE_ID, checking its SHA-256 against the "
                    "stored value while writing. Exit 4 if there is no such capture.")
    p.add_argument("capture_id", metavar="CAPTURE_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="where to write the WARC (`-` for standard output)")
    p.set_defaults(handler=get)


def captures(args, settings: Settings) -> int:
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
    summaries = [m.summary() for m in found]
    if args.json:
        print_json(summaries)
        return exitcodes.OK
    if not summaries:
        progress(f"no captures of {args.url} yet")
        return exitcodes.OK
    print(table(
        ("CAPTURE ID", "STATUS", "HTTP", "FETCHED (UTC)", "STORED (UTC)", "SIZE", "SHA-256 / REASON"),
        [(s["capture_id"], s["status"], s["http_status"], _short_time(s["fetched_at"]),
          _short_time(s["stored_at"]), human_size(s["size"]),
          (s["sha256"][:16] + "…") if s["status"] == "stored" else s["reason"])
         for s in summaries]))
    return exitcodes.OK


def _short_time(value: str | None) -> str | None:
    return value.replace("T", " ").replace("Z", "")[:23] if value else None


def get(args, settings: Settings) -> int:
    if not keys.is_capture_id(args.capture_id):
        error(f"{args.capture_id!r} is not a capture id (26 characters, as `captures` prints)")
        return exitcodes.USAGE
    store = wiring.store(settings)
    key = keys.warc_key(args.capture_id)
    try:
        head = store.head(key)
        if head is None:
            error(f"no WARC for capture {args.capture_id} (looked for s3://{store.bucket}/{key})")
            return exitcodes.NOT_FOUND
        stream = store.open(key)
    except CaptureError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    digest = hashlib.sha256()
    to_stdout = args.output == "-"
    target = sys.stdout.buffer if to_stdout else tempfile.NamedTemporaryFile(
        dir=os.path.dirname(os.path.abspath(args.output)), delete=False)
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
    return exitcodes.OK
