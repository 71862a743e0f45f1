"""Case records: what investigators work in (docs/formats.md, "Cases").

    topic             key       value
    <prefix>.cases    case id   Case v1 (compacted: the latest revision is the case)

A case holds only what is the case's own: its id (chosen by the investigators:
letters, digits, ``.``, ``_``, ``-``; at most 64), title, description and
members, with who made it and who changed it last, and a revision number.
Its captures are not listed in it: a capture belongs to the case its
SubmitRequest named (``case_id``), which its manifest records — one source of
truth; ``streams.clients.cases`` finds a case's captures from the captures
and ingest topics. Notes on its captures are custody ledger entries
(``archivers.custody.notes``).

A new revision replaces the record under the same key; compaction keeps the
latest. Two people editing at once: the later write wins whole (revisions say
it happened). Members are names as captures and custody events carry them
(``WARCFLOW_OPERATOR`` now, viewer accounts later).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from archivers.clock import iso

CASE = "warcflow.Case"
VERSION = 1
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_MEMBERS = 100
MAX_MEMBER = 200


class InvalidCase(ValueError):
    """A case record or id that cannot be used; the message says why."""


def check_case_id(case_id: str) -> str:
    if not isinstance(case_id, str) or not CASE_ID.fullmatch(case_id):
        raise InvalidCase(
            f"case id {case_id!r}: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. kazan-2026)"
        )
    return case_id


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    description: str = ""
    members: tuple[str, ...] = ()
    created_at: str = ""
    created_by: str = ""
    updated_at: str = ""
    updated_by: str = ""
    revision: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CASE,
            "version": VERSION,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "members": list(self.members),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "revision": self.revision,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode()

    def revised(
        self,
        *,
        at: datetime,
        by: str,
        title: str | None = None,
        description: str | None = None,
        add: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
    ) -> Case:
        """The next revision: fields replaced, members added and removed (validated)."""
        members = [m for m in self.members if m not in remove]
        members += [m for m in add if m not in members]
        return checked(
            replace(
                self,
                title=self.title if title is None else title,
                description=self.description if description is None else description,
                members=tuple(members),
                updated_at=iso(at),
                updated_by=by,
                revision=self.revision + 1,
            )
        )


def new_case(
    case_id: str,
    title: str,
    *,
    description: str = "",
    members: tuple[str, ...] = (),
    at: datetime,
    by: str,
) -> Case:
    """Revision 1 of a case; InvalidCase saying what is wrong."""
    when = iso(at)
    return checked(
        Case(
            case_id,
            title,
            description,
            tuple(dict.fromkeys(members)),
            when,
            by,
            when,
            by,
            1,
        )
    )


def checked(case: Case) -> Case:
    check_case_id(case.id)
    title = case.title.strip() if isinstance(case.title, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise InvalidCase(f"the title must be 1 to {MAX_TITLE} characters")
    if not isinstance(case.description, str) or len(case.description) > MAX_DESCRIPTION:
        raise InvalidCase(f"the description must be at most {MAX_DESCRIPTION} characters")
    if len(case.members) > MAX_MEMBERS or any(
        not isinstance(m, str) or not m.strip() or len(m) > MAX_MEMBER for m in case.members
    ):
        raise InvalidCase(
            f"members: at most {MAX_MEMBERS} names of 1 to {MAX_MEMBER} characters each"
        )
    if not isinstance(case.revision, int) or isinstance(case.revision, bool) or case.revision < 1:
        raise InvalidCase("the revision must be a positive integer")
    return replace(case, title=title, members=tuple(m.strip() for m in case.members))


def decode_case(value: bytes | None) -> Case:
    """A Case v1 record; InvalidCase if it is not one."""
    try:
        doc = json.loads(value or b"")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidCase(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != CASE or doc.get("version") != VERSION:
        raise InvalidCase("not a warcflow.Case version 1")
    try:
        members = doc.get("members") or []
        if not isinstance(members, list):
            raise InvalidCase("members must be a list of names")
        return checked(
            Case(
                id=doc["id"],
                title=doc["title"],
                description=doc.get("description") or "",
                members=tuple(members),
                created_at=str(doc.get("created_at") or ""),
                created_by=str(doc.get("created_by") or ""),
                updated_at=str(doc.get("updated_at") or ""),
                updated_by=str(doc.get("updated_by") or ""),
                revision=doc.get("revision", 1),
            )
        )
    except (KeyError, TypeError) as exc:
        raise InvalidCase(f"malformed Case: {exc}") from None
