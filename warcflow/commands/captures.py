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
        help="list every capture of a URL, newest first",
        description="List the captures of URL (any form of it: http/https, www or not, "
        "query order are the same page) from the manifests in the bucket. "
        "With --json: an array of capture objects (docs/formats.md).",
    )
    p.add_argument("url", metavar="URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N captures")
    p.set_defaults(handler=captures)

    p = sub.add_parser(
        "get",
        parents=[common],
        help="download the WARC of a capture, or a media file",
        description="Download the WARC file of CAPTURE_ID (a page or media capture id), or "
        "with sha256:DIGEST the stored media file of that digest, checking its "
        "SHA-256 while writing. Exit 4 if there is no such capture or file.",
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
    return exitcodes.OK
