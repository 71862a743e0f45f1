"""Notes on a capture: ``annotation`` entries of the custody ledger, never the capture itself.

A note says who wrote what about one capture, and when. It is appended to the
ledger like any custody event, so it is in the next signed head and its
time-stamps, listed under the capture (``ledger/by-capture/<id>/``), and can
be neither edited nor removed. The capture's WARC, manifest and their digests
stay exactly as they were; the note names the manifest it is about by key,
SHA-256 and S3 version (``objects``), so it cannot be moved to another capture.

The entry (docs/formats.md, "Notes"):

    event      "annotation"
    event_id   "annotation:<note id>"   (a uuid4: a redelivered note is appended once)
    at         when it was written, UTC
    who        "<author> (<via>)", as other custody events name people
    capture_id the capture; url its URL
    objects    [the capture's manifest: key, sha256, size, version_id]
    detail     {"schema": "warcflow.Note", "version": 1, "note_id", "author", "via",
                "case_id", "text"}

``via`` is the channel the note came through (``cli`` now; the viewer's case
page will write ``viewer`` with the signed-in account as ``author``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from archivers.clock import iso
from archivers.custody.ledger import CustodyEvent, ObjectDigest, capture_entries
from archivers.store.base import ObjectStore

NOTE_SCHEMA = "warcflow.Note"
NOTE_VERSION = 1
MAX_NOTE_TEXT = 10_000
"""Most characters of one note."""
MAX_AUTHOR = 200


@dataclass(frozen=True)
class Note:
    """A note as read back from the ledger."""

    note_id: str
    capture_id: str
    at: str
    author: str
    via: str
    text: str
    case_id: str | None
    index: int
    """Its ledger entry."""
    recorded_at: str
    """When the ledger appended it (the writer's clock)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "note_id": self.note_id,
            "capture_id": self.capture_id,
            "at": self.at,
            "author": self.author,
            "via": self.via,
            "case_id": self.case_id,
            "text": self.text,
            "entry": self.index,
            "recorded_at": self.recorded_at,
        }


def check_text(text: str) -> str:
    """The note's text, stripped; ValueError if empty or too long."""
    text = text.strip()
    if not text:
        raise ValueError("the note is empty")
    if len(text) > MAX_NOTE_TEXT:
        raise ValueError(f"the note is longer than {MAX_NOTE_TEXT} characters")
    return text


def check_author(author: str | None) -> str:
    if author is None or not author.strip():
        raise ValueError(
            "a note needs its author: give --author NAME or set WARCFLOW_OPERATOR "
            "(it is written into the ledger with the note)"
        )
    if len(author) > MAX_AUTHOR:
        raise ValueError(f"the author's name is longer than {MAX_AUTHOR} characters")
    return author.strip()


def note_event(
    *,
    capture_id: str,
    url: str,
    manifest: ObjectDigest,
    author: str,
    text: str,
    at: datetime,
    via: str = "cli",
    case_id: str | None = None,
    note_id: str | None = None,
) -> CustodyEvent:
    """The custody event of a new note (validated: ValueError saying what is wrong)."""
    author = check_author(author)
    text = check_text(text)
    note_id = note_id or str(uuid.uuid4())
    return CustodyEvent(
        event="annotation",
        event_id=f"annotation:{note_id}",
        at=iso(at),
        who=f"{author} ({via})",
        capture_id=capture_id,
        url=url,
        objects=(manifest,),
        detail={
            "schema": NOTE_SCHEMA,
            "version": NOTE_VERSION,
            "note_id": note_id,
            "author": author,
            "via": via,
            "case_id": case_id,
            "text": text,
        },
    )


def notes_of(store: ObjectStore, capture_id: str) -> list[Note]:
    """The notes on a capture, oldest first (as the ledger holds them)."""
    out = []
    for entry in capture_entries(store, capture_id):
        detail = entry.event.detail
        if entry.event.event != "annotation" or detail.get("schema") != NOTE_SCHEMA:
            continue
        out.append(
            Note(
                note_id=str(detail.get("note_id")),
                capture_id=capture_id,
                at=entry.event.at,
                author=str(detail.get("author")),
                via=str(detail.get("via")),
                text=str(detail.get("text")),
                case_id=detail.get("case_id"),
                index=entry.index,
                recorded_at=entry.recorded_at,
            )
        )
    return out
