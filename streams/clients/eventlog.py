"""Is a capture's outcome already on the captures topic? (The redelivery check.)

Only the recovery path asks: when a message is redelivered after its capture
was stored, the event may or may not have been produced before the crash.
Scanning from shortly before the capture's time to the end of the topic
answers it; ``offsets_for_times`` keeps the scan to that window.

The answer is exact: an event counts only if it is readable JSON of one of
the schemas asked for (a page's ``CaptureStored``/``CaptureFailed``, a clip's
``MediaStored``/``MediaFailed``) and its ``capture_id`` is the id asked for.
A media event names its page's capture id too (``parent_capture_id``,
``manifest_key``), so matching the id's bytes anywhere in a value would take
a clip's event for the page's and never produce the page's. A substring test
only skips the values that cannot match before they are parsed; a value that
is not JSON (any client can write to the topic) matches nothing, and nor does
an event without the worker's seal (``streams.messages.seal``): a forged
``CaptureStored`` for a capture id must not stop the genuine one being produced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from streams.clients.reader import TopicReader, TopicUnavailable
from streams.messages.base import SourceMessage, Undecodable, loads
from streams.messages.seal import NO_KEYS, Seals
from streams.settings import KafkaAccess

log = logging.getLogger("warcflow.eventlog")

SKEW = timedelta(minutes=2)
"""How far before the capture's time the scan starts, for clock skew between hosts."""


def is_outcome(
    record: SourceMessage, schemas: tuple[str, ...], work_id: str, seals: Seals = NO_KEYS
) -> bool:
    """Whether ``record`` is an event of ``schemas`` whose ``capture_id`` is
    ``work_id``, sealed by the worker (checked with ``seals``)."""
    value = record.value or b""
    if work_id.encode("ascii", "replace") not in value:
        return False  # cheap: most values cannot be it
    doc = loads(value)
    if not (
        isinstance(doc, dict) and doc.get("schema") in schemas and doc.get("capture_id") == work_id
    ):
        return False
    try:
        seals.open(record.topic, value)
    except Undecodable:
        return False
    return True


class CaptureEventLog:
    def __init__(
        self, access: KafkaAccess, topic: str, seals: Seals = NO_KEYS, patience: float = 60.0
    ) -> None:
        self.access = access
        self.topic = topic
        self.seals = seals
        self.patience = patience  # seconds to keep asking a broker that does not answer

    async def contains(self, schemas: tuple[str, ...], work_id: str, since: datetime) -> bool:
        return await asyncio.to_thread(self._scan, schemas, work_id, since)

    def _scan(self, schemas: tuple[str, ...], work_id: str, since: datetime) -> bool:
        since_ms = max(0, int((since - SKEW).timestamp() * 1000))
        deadline = time.monotonic() + self.patience
        while True:
            try:
                with TopicReader(
                    self.access, (self.topic,), client_id="warcflow-eventlog", start=since_ms
                ) as reader:
                    return any(
                        is_outcome(record, schemas, work_id, self.seals)
                        for record in reader.read_to_end()
                    )
            except TopicUnavailable as exc:
                # A broker just back from an outage often refuses the first reads.
                # Asking again for a while keeps a redelivery from producing a
                # second event; past ``patience`` the answer is "not there", so the
                # event is produced (a duplicate is recoverable downstream — the
                # ledger keeps one entry per event id — a lost event is not).
                if time.monotonic() >= deadline:
                    log.warning(
                        "redelivery check of %s: %s; producing its event (a duplicate is possible)",
                        work_id,
                        exc,
                    )
                    return False
                time.sleep(1.0)
