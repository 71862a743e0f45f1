"""Lineage: every capture that carried a clip (or an image), its near duplicates too.

``lineage(...)`` answers `warcflow similar`, ``GET /api/similar``, the
lineage page of a media item and the lineage in an export. From the query's
perceptual hashes (``viewer.hashindex``) it finds every indexed content near
it, then every media item in the catalog with one of those contents, and for
each the capture that carried it:

- the post: its URL, and its author and upload time *as the page or the
  extractor claims them* (``claimed: true``: these are the post's claims, not
  facts warcflow established; the page's own claims first, yt-dlp's after);
- our capture time (the page's ``fetched_at``: the first request);
- the original's liveness now, from its liveness record (``alive``,
  ``changed``, ``gone`` since ``first_seen_gone``, or ``unknown`` before the
  first recheck);
- the match quality: vPDQ's per-frame match percentages for videos, the PDQ
  Hamming distance for images, or ``identical`` for the same bytes.

Rows are sorted by capture time, earliest first; the first is ``earliest``.
``seen_in`` counts the distinct captures. ``rows_csv`` is the same as CSV.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from archivers.custody.liveness import LivenessState, state_key
from viewer.hashindex import HashIndex
from viewer.phashes import DISTANCE, PERCENT, Hashes, Match
from viewer.views import replay_url

CSV_COLUMNS = (
    "earliest",
    "captured_at",
    "capture_id",
    "media_id",
    "kind",
    "post_url",
    "claimed_author",
    "claimed_published_at",
    "liveness",
    "gone_since",
    "last_seen_alive",
    "match",
    "query_percent",
    "match_percent",
    "distance",
    "sha256",
    "replay_url",
)


def media_with_digest(query, sha256: str) -> list[dict[str, Any]]:
    """Every media manifest in the catalog whose content is ``sha256``."""
    rows = query("SELECT manifest FROM media WHERE sha256 = ? ORDER BY media_id", (sha256,))
    return [json.loads(row[0]) for row in rows]


def _liveness(store, url: str, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if url not in cache:
        try:
            state = LivenessState.from_json(store.get_bytes(state_key(url))).summary()
            cache[url] = {
                "state": state["state"],
                "gone_since": state["first_seen_gone"],
                "last_seen_alive": state["last_seen_alive"],
                "last_checked": state["last_checked"],
            }
        except KeyError:
            cache[url] = {"state": "unknown", "gone_since": None, "last_seen_alive": None,
                          "last_checked": None}  # fmt: skip
        except ValueError as exc:
            cache[url] = {"state": "unknown", "problem": str(exc), "gone_since": None,
                          "last_seen_alive": None, "last_checked": None}  # fmt: skip
    return cache[url]


def _claims(page: dict[str, Any] | None, media: dict[str, Any]) -> dict[str, Any]:
    """Who posted it and when, as the post claims (the page first, then the extractor)."""
    found: dict[str, Any] = {"claimed": True, "author": None, "published_at": None,
                             "published_at_raw": None, "id": None, "said_by": []}  # fmt: skip
    for post in ((page or {}).get("post"), media.get("post")):
        if not post:
            continue
        found["said_by"].append(post.get("source"))
        for key in ("author", "published_at", "published_at_raw", "id"):
            if found[key] is None and post.get(key):
                found[key] = post[key]
    return found


def _quality(digest: str, sha256: str | None, match: Match | None) -> dict[str, Any]:
    if digest == sha256:  # the same bytes: whatever the hashes say
        return {"algorithm": "identical", "query_percent": 100.0, "match_percent": 100.0,
                "distance": 0}  # fmt: skip
    return match.to_dict() if match else {}


def lineage(
    catalog,
    index: HashIndex,
    store,
    query: Hashes | None,
    *,
    replay_base: str,
    collection: str,
    sha256: str | None = None,
    distance: int = DISTANCE,
    percent: float = PERCENT,
    about: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The lineage object (docs/api.md) of ``query`` (and of the content ``sha256``,
    whose identical copies are listed even if it has no hashes)."""
    matches: dict[str, Match | None] = {}
    if query is not None:
        for found in index.search(query, distance=distance, percent=percent):
            matches[found.sha256] = found
    if sha256 and sha256 not in matches:
        matches[sha256] = None  # the same bytes: identical, whatever the hashes say
    rows: list[dict[str, Any]] = []
    alive: dict[str, dict[str, Any]] = {}
    for digest, match in matches.items():
        for media in media_with_digest(catalog.query, digest):
            if media.get("status") != "stored":
                continue
            page = catalog.capture(media["parent_capture_id"])
            url = (page or {}).get("url") or media.get("page_url")
            when = (page or {}).get("fetched_at") or media.get("fetched_at")
            how = (
                {
                    "algorithm": "identical",
                    "query_percent": 100.0,
                    "match_percent": 100.0,
                    "distance": 0,
                }
                if digest == sha256
                else match.to_dict()
                if match
                else {}
            )
            rows.append(
                {
                    "capture_id": media["parent_capture_id"],
                    "media_id": media["media_id"],
                    "kind": media.get("kind"),
                    "post_url": url,
                    "source_url": media.get("source_url"),
                    "post": _claims(page, media),
                    "captured_at": when,
                    "liveness": _liveness(store, url, alive) if url else None,
                    "sha256": digest,
                    "match": how,
                    "replay_url": replay_url(
                        replay_base, collection, page.get("final_url") or page["url"], when
                    )
                    if page and page.get("warc_key")
                    else None,
                    "capture_url": f"/capture/{media['parent_capture_id']}",
                    "earliest": False,
                }
            )
    rows.sort(key=lambda r: (r["captured_at"] or "9999", r["capture_id"], r["media_id"]))
    if rows:
        rows[0]["earliest"] = True
    return {
        "query": about or ({"sha256": sha256} if sha256 else {}),
        "thresholds": {"distance": distance, "percent": percent},
        "seen_in": len({r["capture_id"] for r in rows}),
        "contents": len({r["sha256"] for r in rows}),
        "captures": rows,
    }


def of_capture(
    catalog, index: HashIndex, store, capture_id: str, **options: Any
) -> dict[str, Any] | None:
    """The lineage of every stored media item of a capture (its clips), one list:
    each row says which item of the capture it matched (``query_sha256``). None
    if the catalog has no such capture."""
    page = catalog.capture(capture_id)
    if page is None:
        return None
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    items = []
    for media in catalog.media_of(capture_id):
        digest = media.get("sha256")
        if media.get("status") != "stored" or not digest:
            continue
        items.append({"media_id": media["media_id"], "kind": media.get("kind"), "sha256": digest})
        found = lineage(catalog, index, store, index.hashes_of(digest), sha256=digest, **options)
        for row in found["captures"]:
            key = (row["capture_id"], row["media_id"])
            row = {**row, "query_sha256": digest, "earliest": False}
            if key not in rows or (row["match"].get("distance") or 0) < (
                rows[key]["match"].get("distance") or 0
            ):
                rows[key] = row
    ordered = sorted(
        rows.values(), key=lambda r: (r["captured_at"] or "9999", r["capture_id"], r["media_id"])
    )
    if ordered:
        ordered[0]["earliest"] = True
    return {
        "query": {"capture_id": page["capture_id"], "url": page["url"], "items": items},
        "thresholds": {
            "distance": options.get("distance", DISTANCE),
            "percent": options.get("percent", PERCENT),
        },
        "seen_in": len({r["capture_id"] for r in ordered}),
        "contents": len({r["sha256"] for r in ordered}),
        "captures": ordered,
    }


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text a page chose (an author) that
    starts like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_csv(found: dict[str, Any]) -> str:
    """The lineage's rows as CSV (``CSV_COLUMNS``), earliest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in found["captures"]:
        live = row.get("liveness") or {}
        match = row.get("match") or {}
        writer.writerow(
            _cell(v)
            for v in [
                "yes" if row["earliest"] else "",
                row["captured_at"],
                row["capture_id"],
                row["media_id"],
                row["kind"],
                row["post_url"],
                row["post"]["author"],
                row["post"]["published_at"] or row["post"]["published_at_raw"],
                live.get("state"),
                live.get("gone_since"),
                live.get("last_seen_alive"),
                match.get("algorithm"),
                match.get("query_percent"),
                match.get("match_percent"),
                match.get("distance"),
                row["sha256"],
                row["replay_url"],
            ]
        )
    return out.getvalue()
