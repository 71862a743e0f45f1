"""``warcflow similar``: the captures that carried a clip or a near duplicate of it.

The index of perceptual hashes lives in the viewer (``viewer.finding``: FAISS
over the catalog's hashes), so this asks the running viewer
(``WARCFLOW_VIEWER_*``): ``GET /api/similar`` for a stored item (``sha256:``)
or a capture (``--capture``), ``POST /api/similar`` with the hashes of a
local file (``--file``), computed here as the media agent computes them
(``archivers.media.perceptual``). The answer is the lineage object of
docs/api.md; rows are captures, earliest first.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from archivers.errors import CaptureError
from archivers.media import ffmpeg, perceptual
from archivers.store import layout
from warcflow import exitcodes
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings

TIMEOUT = 60.0
"""Seconds the viewer may take to answer."""


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "similar",
        parents=[common],
        help="captures that carried a clip or a near duplicate of it (re-encoded, cropped, …)",
        description="List every capture that carried a media item or a near duplicate of it "
        "(re-encoded, scaled, cropped at its edges, watermarked, trimmed: byte digests "
        "differ, perceptual hashes stay close), earliest capture first, with the match "
        "quality (vPDQ: the share of each side's frames that match; the PDQ Hamming "
        "distance of the closest frames), the post's claimed author and upload time, and "
        "the post's liveness now. Give a stored item (sha256:DIGEST, as `captures` "
        "prints), every item of a capture (--capture ID), or a local file (--file CLIP, "
        "hashed here). Asks the running viewer (WARCFLOW_VIEWER_*). Exit 4 if the item or "
        "capture is unknown, 3 if the viewer cannot be reached.",
    )
    p.add_argument("sha256", nargs="?", metavar="sha256:DIGEST")
    p.add_argument("--file", metavar="CLIP", help="a local video to look for")
    p.add_argument("--capture", metavar="ID", help="every media item of this capture")
    p.add_argument("--json", action="store_true", help="the lineage object (docs/api.md)")
    p.add_argument(
        "--distance",
        type=int,
        default=31,
        metavar="BITS",
        help="frames at most BITS apart (of 256) are the same picture (default 31)",
    )
    p.add_argument(
        "--percent",
        type=float,
        default=80.0,
        metavar="P",
        help="a video matches when P %% of one side's frames match (default 80)",
    )
    p.set_defaults(handler=similar)


def _digest(text: str) -> str | None:
    digest = text.lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest


def _hashes_of(path: Path) -> dict[str, Any]:
    """The ``perceptual`` object of a local file, as the media agent makes it."""
    facts = ffmpeg.probe(path)
    if not facts.has_video:
        raise CaptureError(f"{path} has no video stream: nothing to compare")
    with tempfile.TemporaryDirectory(prefix="warcflow-similar-") as tmp:
        derived = perceptual.derive_video(path, facts, Path(tmp))
    if "vpdq" not in derived.perceptual:
        raise CaptureError(f"{path} could not be hashed: {'; '.join(derived.problems)}")
    return derived.perceptual


def _ask(base: str, path: str, params: dict[str, Any], body: dict | None = None):
    """(HTTP status, JSON answer) of the viewer."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the configured viewer, http(s) only
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            answer = {}
        return exc.code, answer


def similar(args, settings: Settings) -> int:
    given = [x for x in (args.sha256, args.file, args.capture) if x]
    if len(given) != 1:
        error("give one of sha256:DIGEST, --file CLIP or --capture ID")
        return exitcodes.USAGE
    base = settings.viewer.viewer_base
    if not base.startswith(("http://", "https://")):
        error(f"the viewer's address {base!r} is not http(s)")
        return exitcodes.USAGE
    params: dict[str, Any] = {"distance": args.distance, "percent": args.percent}
    body = None
    if args.sha256:
        digest = _digest(args.sha256)
        if digest is None:
            error(f"{args.sha256!r} is not sha256: followed by 64 hex digits")
            return exitcodes.USAGE
        params["sha256"] = digest
    elif args.capture:
        if not layout.is_capture_id(args.capture):
            error(f"{args.capture!r} is not a capture id (26 characters, as `captures` prints)")
            return exitcodes.USAGE
        params["capture"] = args.capture.upper()
    else:
        path = Path(args.file)
        if not path.is_file():
            error(f"{path}: no such file")
            return exitcodes.USAGE
        progress(f"hashing {path} (vPDQ) …")
        try:
            body = {"perceptual": _hashes_of(path), "file": path.name}
        except CaptureError as exc:
            error(str(exc))
            return exitcodes.USAGE
    try:
        status, answer = _ask(base, "/api/similar", params, body)
    except (OSError, ValueError) as exc:
        error(f"the viewer at {base} did not answer: {exc} (is `warcflow viewer` running?)")
        return exitcodes.UNAVAILABLE
    if status == 404:
        error(answer.get("detail") or "not found")
        return exitcodes.NOT_FOUND
    if status != 200:
        problems = answer.get("errors") or [answer.get("detail") or f"HTTP {status}"]
        error(f"the viewer refused: {'; '.join(map(str, problems))}")
        return exitcodes.USAGE if 400 <= status < 500 else exitcodes.UNAVAILABLE
    if args.json:
        print_json(answer)
        return exitcodes.OK
    rows = answer.get("captures") or []
    if not rows:
        progress("no capture carried it or a near duplicate")
        return exitcodes.OK
    progress(f"seen in {answer['seen_in']} capture(s), {answer['contents']} distinct file(s)")
    print(table(("", "CAPTURED (UTC)", "CAPTURE ID", "POST", "CLAIMED AUTHOR", "MATCH", "NOW"),
                [_row(r) for r in rows]))  # fmt: skip
    return exitcodes.OK


def _row(row: dict[str, Any]) -> tuple:
    match = row.get("match") or {}
    if match.get("algorithm") == "vpdq":
        how = f"vpdq {match['query_percent']:g}%/{match['match_percent']:g}% d={match['distance']}"
    else:
        how = str(match.get("algorithm") or "")
    live = row.get("liveness") or {}
    now = live.get("state") or ""
    if now == "gone" and live.get("gone_since"):
        now += f" since {live['gone_since'][:10]}"
    when = (row.get("captured_at") or "").replace("T", " ").replace("Z", "")[:19]
    post = row.get("post") or {}
    return ("earliest" if row.get("earliest") else "", when, row["capture_id"],
            row.get("post_url"), post.get("author"), how, now)  # fmt: skip
