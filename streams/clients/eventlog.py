"""Is a capture's event already on the captures topic? (The redelivery check.)

Only the recovery path asks: when a message is redelivered after its capture
was stored, the event may or may not have been produced before the crash.
Scanning from shortly before the capture's time to the end of the topic
answers it; ``offsets_for_times`` keeps the scan to that window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SKEW = timedelta(minutes=2)
"""How far before the capture's time the scan starts, for clock skew between hosts."""


class CaptureEventLog:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic

    async def contains(self, capture_id: str, since: datetime) -> bool:
        from aiokafka import AIOKafkaConsumer

        # No group: subscribing by name then assigns every partition of the topic.
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap.split(","),
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            tps = sorted(consumer.assignment())
            if not tps:
                # Unknown: answer "not there", so the event is produced (a
                # duplicate is recoverable downstream, a lost event is not).
                return False
            since_ms = int((since - SKEW).timestamp() * 1000)
            starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
            needle = capture_id.encode("ascii")
            while True:
                positions = [await consumer.position(tp) for tp in tps]
                if all(position >= ends[tp] for position, tp in zip(positions, tps)):
                    return False
                batches = await consumer.getmany(*tps, timeout_ms=1000)
                for records in batches.values():
                    if any(needle in (r.value or b"") for r in records):
                        return True
        finally:
            await consumer.stop()
