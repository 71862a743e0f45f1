"""A case's captures as the commands show them: the topics say which, S3 says what.

``case_items`` joins what ``streams.clients.cases`` finds on the topics with
the store: each capture's manifest (the source of truth: its ``case_id`` is
checked again), media manifests, the URL's liveness record and the notes in
the ledger; requests without an outcome yet are ``pending`` items. Used by
``warcflow case show``, ``captures --case``, ``report --case`` and
``export --case``; the filters are the ones ``captures --case`` offers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archivers.clock import parse_iso
from archivers.custody.audit import liveness_of
from archivers.custody.notes import Note, notes_of
from archivers.errors import InvalidURL
from archivers.manifests.listing import list_media
from archivers.manifests.manifest import Manifest, MediaManifest
from archivers.manifests.outcome import outcome_fields
from archivers.store.base import ObjectStore
from archivers.urls import url_hash
from viewer.views import capture_object

LIVENESS_STATES = ("alive", "changed", "gone", "unknown", "unchecked")
# Lines end in LF, not RFC 4180's CRLF: every spreadsheet reads both, and the
# terminal guard (warcflow.output) shows a carriage return as an escape.
RESULT_COLUMNS = (
    "status",
    "outcome",
    "reason",
    "capture_id",
    "fetched_at",
    "replay_url",
    "sha256",
    "gone_since",
)
"""What ``captures --case ID --csv`` writes after the sheet's own columns."""


@dataclass
class CaseItem:
    """One capture of a case, or one request of it still without an outcome."""

    request: dict[str, Any]
    """The submission: the manifest's ``request``, or the pending SubmitRequest."""
    url: str
    submitted_at: str
    manifest: Manifest | None = None
    manifest_key: str | None = None
    media: list[MediaManifest] = field(default_factory=list)
    liveness: dict[str, Any] | None = None
    notes: list[Note] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.manifest.status if self.manifest else "pending"

    @property
    def outcome(self) -> str:
        if self.manifest is None:
            return "pending"
        return self.manifest.outcome or outcome_fields(self.manifest.__dict__)["outcome"]

    @property
    def liveness_state(self) -> str:
        return (self.liveness or {}).get("state") or "unchecked"

    @property
    def gone_since(self) -> str | None:
        return (self.liveness or {}).get("first_seen_gone")

    def to_dict(self, replay_base: str, collection: str) -> dict[str, Any]:
        """The capture object of docs/formats.md with the case's own fields
        (``liveness``, ``gone_since``, ``notes``); a pending item has the same keys."""
        if self.manifest is not None:
            out = capture_object(self.manifest, self.media, replay_base, collection)
        else:
            out = {
                "capture_id": None,
                "url": self.url,
                "status": "pending",
                "outcome": "pending",
                "reason": None,
                "submitted_at": self.submitted_at,
                "tags": list(self.request.get("tags") or []),
                "operator": self.request.get("operator"),
                "case_id": self.request.get("case_id"),
                "request_id": self.request.get("request_id"),
                "replay_url": None,
                "sha256": None,
                "media": [],
            }
        out["note"] = self.request.get("note")
        out["mode"] = self.request.get("mode") or "auto"
        out["liveness"] = self.liveness
        out["gone_since"] = self.gone_since
        out["notes"] = [n.to_dict() for n in self.notes]
        return out

    def results(self, replay_base: str, collection: str) -> dict[str, str]:
        """The result columns of the CSV (empty cells for what there is not)."""
        m = self.manifest
        values = {
            "status": self.status,
            "outcome": self.outcome,
            "reason": (m.reason if m else None) or "",
            "capture_id": m.capture_id if m else "",
            "fetched_at": (m.fetched_at if m else None) or "",
            "replay_url": (self.to_dict(replay_base, collection)["replay_url"] or "") if m else "",
            "sha256": (m.sha256 if m else None) or "",
            "gone_since": self.gone_since or "",
        }
        return {k: values[k] for k in RESULT_COLUMNS}


def case_items(
    store: ObjectStore,
    events: dict[str, dict[str, Any]],
    pending: list[dict[str, Any]],
    case_id: str,
    *,
    notes: bool = True,
) -> list[CaseItem]:
    """The captures of a case, by submission time (oldest first), then the pending."""
    items = []
    for capture_id, event in events.items():
        try:
            manifest = Manifest.from_json(store.get_bytes(event["manifest_key"]))
        except (KeyError, ValueError):
            continue  # an event without its manifest: `warcflow audit` names it
        if manifest.capture_id != capture_id or manifest.request.get("case_id") != case_id:
            continue  # the manifest decides, not the event
        items.append(
            CaseItem(
                manifest.request,
                manifest.url,
                manifest.submitted_at,
                manifest,
                event["manifest_key"],
                list_media(store, capture_id),
                liveness_of(store, manifest.url),
                notes_of(store, capture_id) if notes else [],
            )
        )
    items.sort(key=lambda i: (i.submitted_at, i.manifest.capture_id if i.manifest else ""))
    for doc in pending:
        items.append(CaseItem(doc, str(doc.get("url")), str(doc.get("submitted_at") or ""), None))
    return items


@dataclass(frozen=True)
class Filters:
    tags: tuple[str, ...] = ()
    operator: str | None = None
    outcome: str | None = None
    liveness: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None

    def __call__(self, item: CaseItem) -> bool:
        tags = set(item.request.get("tags") or [])
        if not set(self.tags) <= tags:
            return False
        if self.operator is not None and item.request.get("operator") != self.operator:
            return False
        if self.outcome is not None and self.outcome not in (item.outcome, item.status):
            return False
        if self.liveness is not None and item.liveness_state != self.liveness:
            return False
        if self.since or self.until:
            try:
                when = parse_iso(item.submitted_at)
            except ValueError:
                return False
            if (self.since and when < self.since) or (self.until and when >= self.until):
                return False
        return self.platform is None or on_platform(item.url, self.platform)


def platform_of(url: str) -> str:
    """The host a post is on, without ``www.`` (what ``--platform`` matches)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def on_platform(url: str, platform: str) -> bool:
    """``platform`` is the post's host or a domain above it (``youtube.com`` matches
    ``m.youtube.com``)."""
    host, wanted = platform_of(url), platform.lower().removeprefix("www.").strip(".")
    return host == wanted or host.endswith("." + wanted)


def sheet_csv(
    items: Iterable[CaseItem], replay_base: str, collection: str, *, bom: bool = False
) -> str:
    """The case as a submission sheet with its results: url, tags, note, case, mode,
    then ``RESULT_COLUMNS``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("url", "tags", "note", "case", "mode", *RESULT_COLUMNS))
    for item in items:
        r = item.request
        writer.writerow(
            (
                item.url,
                ", ".join(r.get("tags") or []),
                r.get("note") or "",
                r.get("case_id") or "",
                r.get("mode") or "auto",
                *item.results(replay_base, collection).values(),
            )
        )
    return ("\ufeff" if bom else "") + out.getvalue()


def merged_csv(
    columns: tuple[str, ...],
    rows: Iterable[tuple[tuple[str, str], ...]],
    items: list[CaseItem],
    replay_base: str,
    collection: str,
) -> str:
    """The user's own sheet, row for row and every column as it was, with the
    result columns after them: each row's URL matched (in any of its forms:
    ``archivers.urls.url_hash``) to its newest capture in the case, else its
    pending request; rows the case has nothing for get ``status`` ``not submitted``.
    A result column whose name the sheet already has is written as ``warcflow_<name>``."""
    newest: dict[str, CaseItem] = {}
    for item in items:  # oldest first: a later one replaces an earlier
        try:
            key = url_hash(item.url)
        except (InvalidURL, ValueError):
            continue
        if item.manifest is not None or key not in newest:
            newest[key] = item
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    taken = {c.lower() for c in columns}
    header = [f"warcflow_{c}" if c in taken else c for c in RESULT_COLUMNS]
    writer.writerow((*columns, *header))
    at = [c.lower() for c in columns].index("url")
    for cells in rows:
        values = [v for _, v in cells]
        try:
            found = newest.get(url_hash(values[at].strip()))
        except (InvalidURL, ValueError, IndexError):  # a cell that is no URL, or none
            found = None
        if found is not None:
            results = found.results(replay_base, collection)
        else:
            results = dict.fromkeys(RESULT_COLUMNS, "")
            results["status"] = "not submitted"
        writer.writerow((*values, *(results[c] for c in RESULT_COLUMNS)))
    return out.getvalue()
