"""The dead-letter topic as an operator sees it: what failed, why, and resubmitting it.

A dead letter (``warcflow.DeadLetter``, docs/formats.md) keeps the original
message's bytes and where it came from. Replaying one produces those bytes
again to the topic its stage consumes (``ingest`` for captures, ``media`` for
media), with a ``warcflow-replay-of`` header naming the dead letter, so the
new attempt is a new message with a new capture id and the failed attempt
stays on the URL's timeline. A message that could never be decoded is not
replayed: it would only come back (fix it and submit it anew).

Invariant: replay never changes the dead-letter topic; it is the record.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import decode_media, decode_submit
from streams.topics import TopicNames

REPLAY_HEADER = "warcflow-replay-of"


@dataclass(frozen=True)
class DeadLetterEntry:
    """One record of the dead-letter topic; ``id`` is ``PARTITION:OFFSET`` there."""

    partition: int
    offset: int
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def stage(self) -> str:
        return str(self.doc.get("stage") or "?")

    @property
    def reason(self) -> str:
        return str(self.doc.get("reason") or "?")

    @property
    def source(self) -> dict[str, Any]:
        return self.doc.get("source") or {}

    def original(self) -> tuple[bytes | None, bytes]:
        """The original message's key and value bytes."""
        key = base64.b64decode(self.doc.get("key_b64") or "") or None
        return key, base64.b64decode(self.doc.get("value_b64") or "")

    @property
    def url(self) -> str | None:
        try:
            payload = json.loads(self.doc.get("value_text") or "")
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        return payload.get("url") or payload.get("media_url")

    def replay_target(self, names: TopicNames) -> tuple[str | None, str]:
        """(topic to resubmit to, why) — topic None if the message cannot be replayed."""
        topic = {"capture": names.ingest, "media": names.media}.get(self.stage)
        if topic is None:
            return None, f"no agent consumes stage {self.stage!r}"
        key, value = self.original()
        probe = SourceMessage(topic, 0, 0, 0, key, value, ())
        try:
            (decode_submit if self.stage == "capture" else decode_media)(probe)
        except Undecodable as exc:
            return None, f"the message itself is invalid ({exc.reason}); fix it and submit anew"
        return topic, "ok"

    def summary(self, names: TopicNames) -> dict[str, Any]:
        topic, why = self.replay_target(names)
        return {
            "id": self.id,
            "stage": self.stage,
            "reason": self.reason,
            "message": self.doc.get("message"),
            "dead_at": self.doc.get("dead_at"),
            "url": self.url,
            "source": self.source,
            "attempts": self.doc.get("attempts") or [],
            "replayable": topic is not None,
            "replay_note": None if topic else why,
        }


def parse(records: Iterable[SourceMessage]) -> list[DeadLetterEntry]:
    """Dead-letter entries from the topic's records; a record that is not one
    (any client can write to the topic) is shown as reason ``not_a_dead_letter``."""
    out = []
    for record in records:
        try:
            doc = json.loads(record.value or b"")
            if not isinstance(doc, dict):
                raise ValueError
        except ValueError:
            doc = {
                "stage": "?",
                "reason": "not_a_dead_letter",
                "message": "a record on the dead-letter topic that is not a dead letter",
                "value_b64": base64.b64encode(record.value or b"").decode("ascii"),
            }
        out.append(DeadLetterEntry(record.partition, record.offset, doc))
    return out
