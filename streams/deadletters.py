"""The dead-letter topic as an operator sees it: what failed, why, and resubmitting it.

A dead letter (``warcflow.DeadLetter``, docs/formats.md) keeps the original
message's bytes and where it came from. Replaying one produces those bytes
again to the topic its stage consumes (``ingest`` for captures, ``media`` for
media), with a ``warcflow-replay-of`` header naming the dead letter, so the
new attempt is a new message with a new capture id and the failed attempt
stays on the URL's timeline. A message that could never be decoded is not
replayed: it would only come back (fix it and submit it anew).

Reading is total: any record on the topic (any client can write there) is an
entry; one that is not a dead letter is shown with reason
``not_a_dead_letter``, and odd fields of a letter read as absent.

Invariant: replay never changes the dead-letter topic; it is the record.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.messages.base import SourceMessage, Undecodable, loads
from streams.messages.capture import DEAD_LETTER, KEPT_VALUE_BYTES, decode_media, decode_submit
from streams.topics import TopicNames

REPLAY_HEADER = "warcflow-replay-of"


@dataclass(frozen=True)
class DeadLetterEntry:
    """One record of the dead-letter topic; ``id`` is ``PARTITION:OFFSET`` there."""

    partition: int
    offset: int
    doc: dict[str, Any]
    topic: str = ""

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    def _text(self, name: str) -> str:
        value = self.doc.get(name)
        return value[:200] if isinstance(value, str) and value else "?"

    @property
    def stage(self) -> str:
        return self._text("stage")

    @property
    def reason(self) -> str:
        return self._text("reason")

    @property
    def source(self) -> dict[str, Any]:
        source = self.doc.get("source")
        return source if isinstance(source, dict) else {}

    @property
    def truncated(self) -> bool:
        """Whether only the first bytes of the original value were kept."""
        return self.doc.get("value_truncated") is True

    def original(self) -> tuple[bytes | None, bytes]:
        """The original message's key and value bytes (as far as they were kept)."""

        def decoded(name: str) -> bytes:
            text = self.doc.get(name)
            try:
                return base64.b64decode(text, validate=True) if isinstance(text, str) else b""
            except (binascii.Error, ValueError):
                return b""

        return decoded("key_b64") or None, decoded("value_b64")

    @property
    def url(self) -> str | None:
        payload = loads(self.original()[1])
        if isinstance(payload, dict):
            url = payload.get("url") or payload.get("media_url")
            return url[:2000] if isinstance(url, str) else None
        text = self.original()[1][:2000].decode("utf-8", "replace").strip()
        return text if text.startswith(("http://", "https://")) and "\n" not in text else None

    def replay_target(self, names: TopicNames) -> tuple[str | None, str]:
        """(topic to resubmit to, why) — topic None if the message cannot be replayed."""
        topic = {"capture": names.ingest, "media": names.media}.get(self.stage)
        if topic is None:
            return None, f"no agent consumes stage {self.stage!r}"
        if self.truncated:
            return None, (
                f"only the first bytes of its {self.doc.get('value_size')} were kept "
                "(value_sha256 names the whole); submit it anew"
            )
        key, value = self.original()
        probe = SourceMessage(topic, 0, 0, 0, key, value, ())
        try:
            (decode_submit if self.stage == "capture" else decode_media)(probe)
        except Undecodable as exc:
            return None, f"the message itself is invalid ({exc.reason}); fix it and submit anew"
        return topic, "ok"

    @property
    def attempts(self) -> list[dict[str, Any]]:
        found = self.doc.get("attempts")
        return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []

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
            "value_size": self.doc.get("value_size"),
            "value_sha256": self.doc.get("value_sha256"),
            "attempts": self.attempts,
            "replayable": topic is not None,
            "replay_note": None if topic else why,
        }


def parse(records: Iterable[SourceMessage]) -> list[DeadLetterEntry]:
    """Dead-letter entries from the topic's records; a record that is not one
    (any client can write to the topic) is shown as reason ``not_a_dead_letter``."""
    out = []
    for record in records:
        doc = loads(record.value)
        if not isinstance(doc, dict) or doc.get("schema") != DEAD_LETTER:
            doc = {
                "stage": "?",
                "reason": "not_a_dead_letter",
                "message": "a record on the dead-letter topic that is not a dead letter",
                "value_b64": base64.b64encode((record.value or b"")[:KEPT_VALUE_BYTES]).decode(
                    "ascii"
                ),
                "value_size": len(record.value or b""),
                "value_truncated": len(record.value or b"") > KEPT_VALUE_BYTES,
            }
        out.append(DeadLetterEntry(record.partition, record.offset, doc, record.topic))
    return out
