"""Is a capture's event already on the captures topic? (The redelivery check.)

Only the recovery path asks: when a message is redelivered after its capture
was stored, the event may or may not have been produced before the crash.
Scanning from shortly before the capture's time to the end of the topic
answers it; ``offsets_for_times`` keeps the scan to that window.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from streams.clients.reader import TopicReader, TopicUnavailable
from streams.settings import KafkaAccess

SKEW = timedelta(minutes=2)
"""How far before the capture's time the scan starts, for clock skew between hosts."""


class CaptureEventLog:
    def __init__(self, access: KafkaAccess, topic: str) -> None:
        self.access = access
        self.topic = topic

    async def contains(self, capture_id: str, since: datetime) -> bool:
        return await asyncio.to_thread(self._scan, capture_id, since)

    def _scan(self, capture_id: str, since: datetime) -> bool:
        since_ms = int((since - SKEW).timestamp() * 1000)
        needle = capture_id.encode("ascii")
        try:
            with TopicReader(
                self.access, (self.topic,), client_id="warcflow-eventlog", start=since_ms
            ) as reader:
                return any(needle in (record.value or b"") for record in reader.read_to_end())
        except TopicUnavailable:
            # Unknown: answer "not there", so the event is produced (a duplicate
            # is recoverable downstream, a lost event is not).
            return False
