"""``warcflow search WORDS``: captured posts whose text, URL, author, tags or case match.

The full-text index lives in the viewer's catalog (``viewer.textindex``: SQLite
FTS5), so this asks the running viewer (``WARCFLOW_VIEWER_*``):
``GET /api/search/text``. The answer is the object of docs/api.md.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from warcflow import exitcodes
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings

TIMEOUT = 60.0


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "search",
        parents=[common],
        help="find captured posts by their text, page text, URL, author, tags or case",
        description="Full-text search of the captured posts: the post's own text (as the "
        "page's JSON-LD or description states it), the page's readable text as captured "
        "(its first 8,000 characters), its URL, its claimed author, the submission's "
        'tags, case and note. Words are ANDed; "a phrase"; word* is a prefix; author:, '
        "url:, tag:, case:, note:, text:, page: look in one field. Case and Latin "
        "diacritics do not matter; Cyrillic works (ё = е). Best matches first. Asks the "
        "running viewer (WARCFLOW_VIEWER_*). Exit 3 if it cannot be reached. OCR of "
        "images is not searched yet.",
    )
    p.add_argument("words", nargs="+", metavar="WORDS")
    p.add_argument("--json", action="store_true", help="the search object (docs/api.md)")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    p.set_defaults(handler=search)


def search(args, settings: Settings) -> int:
    base = settings.viewer.viewer_base
    if not base.startswith(("http://", "https://")):
        error(f"the viewer's address {base!r} is not http(s)")
        return exitcodes.USAGE
    if not 1 <= args.limit <= 500:
        error("--limit is between 1 and 500")
        return exitcodes.USAGE
    q = " ".join(args.words)
    url = f"{base}/api/search/text?{urllib.parse.urlencode({'q': q, 'limit': args.limit})}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - the viewer
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error(f"the viewer refused the search: HTTP {exc.code}")
        return exitcodes.USAGE if 400 <= exc.code < 500 else exitcodes.UNAVAILABLE
    except (OSError, ValueError) as exc:
        error(f"the viewer at {base} did not answer: {exc} (is `warcflow viewer` running?)")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(answer)
        return exitcodes.OK
    if not answer["results"]:
        progress(f"nothing captured matches {q!r}")
        return exitcodes.OK
    rows = [
        (
            (r.get("captured_at") or "").replace("T", " ").replace("Z", "")[:19],
            r["capture_id"],
            r.get("url"),
            r.get("author"),
            _marked(r["snippet"], r["marks"]),
        )
        for r in answer["results"]
    ]
    print(table(("CAPTURED (UTC)", "CAPTURE ID", "POST", "CLAIMED AUTHOR", "TEXT"), rows))
    return exitcodes.OK


def _marked(snippet: str, marks: list[list[int]]) -> str:
    """The snippet with its matched terms in [brackets]."""
    out, at = [], 0
    for start, end in marks:
        out += [snippet[at:start], "[", snippet[start:end], "]"]
        at = end
    out.append(snippet[at:])
    return " ".join("".join(out).split())
