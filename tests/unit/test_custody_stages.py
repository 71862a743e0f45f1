"""The custody stages without Kafka: capture events become one ledger entry each,
junk and internal errors go to the dead-letter topic, never end the agent.

A unit test of ``streams.agents.custody`` and ``streams.agents.liveness`` on the
fakes; the same flows on the real broker and S3 server (Object Lock, versions):
tests/integration/test_custody.py and test_error_paths.py.
"""

import asyncio
import hashlib
import io
import json

from archivers.custody.ledger import Ledger, capture_entries
from archivers.custody.liveness import Schedule
from archivers.manifests.manifest import Manifest
from archivers.store import layout
from archivers.store.memory import MemoryStore
from streams.agents.custody import CustodyFeed, LedgerStage
from streams.messages.base import SourceMessage
from streams.settings import RetryPolicy
from streams.topics import TopicNames
from tests.support.stages import EventsSeen, RecordingProducer, no_sleep

NAMES = TopicNames("t")
CAPTURE = layout.capture_id("t.ingest", 0, 7, 1764064800000)


def message(value: bytes, offset=0, topic="t.captures") -> SourceMessage:
    return SourceMessage(topic, 0, offset, 1764064800000, CAPTURE.encode(), value)


def stages(store):
    producer = RecordingProducer()
    common = (producer, NAMES, RetryPolicy(), EventsSeen(producer))
    feed = CustodyFeed(store, Schedule(), *common, sleep=no_sleep)
    ledger = LedgerStage(Ledger(store), *common, sleep=no_sleep)
    return producer, feed, ledger


def stored_event() -> bytes:
    return json.dumps(
        {
            "schema": "warcflow.CaptureStored",
            "version": 1,
            "capture_id": CAPTURE,
            "url": "https://example.org/p",
            "warc_key": "warc/x.warc.gz",
            "manifest_key": "manifests/x.json",
            "stored_at": "2026-11-25T10:00:01Z",
        }
    ).encode()


def put(store, key, data):
    store.put_new(
        key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/octet-stream",
    )


def manifest_bytes(warc: bytes = b"warc bytes") -> bytes:
    return Manifest(
        CAPTURE,
        "https://example.org/p",
        "org,example)/p",
        "stored",
        "2026-11-25T10:00:00Z",
        stored_at="2026-11-25T10:00:01Z",
        warc_key="warc/x.warc.gz",
        sha256=hashlib.sha256(warc).hexdigest(),
        size=len(warc),
    ).to_json()


def test_a_capture_event_is_one_entry_with_the_stored_digests_however_often_it_comes():
    store = MemoryStore()
    put(store, "warc/x.warc.gz", b"warc bytes")
    put(store, "manifests/x.json", manifest_bytes())
    producer, feed, ledger = stages(store)
    for offset in (0, 1):  # delivered twice
        assert asyncio.run(feed.on_capture_event(message(stored_event(), offset))) == "recorded"
    custody = producer.on("t.custody")
    assert len(custody) == 2
    for n, doc in enumerate(custody):
        asyncio.run(ledger.on_custody(message(json.dumps(doc).encode(), n, "t.custody")))
    [entry] = capture_entries(store, CAPTURE)
    assert {o.key: o.sha256 for o in entry.event.objects} == {
        "warc/x.warc.gz": hashlib.sha256(b"warc bytes").hexdigest(),
        "manifests/x.json": hashlib.sha256(manifest_bytes()).hexdigest(),
    }
    # its original will be rechecked: the recheck agent, the record's one writer, starts it
    starts = producer.on("t.recheck")
    assert [s["schema"] for s in starts] == ["warcflow.LivenessStart"] * 2
    assert starts[0]["capture_id"] == CAPTURE and starts[0]["url"] == "https://example.org/p"
    assert not any(k.startswith("liveness/") for k in store.objects)


def test_junk_and_internal_errors_are_dead_letters():
    class Broken(MemoryStore):
        def head(self, key):
            raise ValueError("disk on fire")

    producer, feed, ledger = stages(Broken())
    assert asyncio.run(feed.on_capture_event(message(b"not json"))) == "dead-letter"
    assert asyncio.run(feed.on_capture_event(message(stored_event()))) == "dead-letter"
    assert (
        asyncio.run(ledger.on_custody(message(b'{"schema": "x"}', 0, "t.custody"))) == "dead-letter"
    )
    reasons = [letter["reason"] for letter in producer.on("t.dead-letter")]
    assert reasons == ["bad_event", "internal_error", "unknown_schema"]


def test_a_custody_event_whose_claims_do_not_hold_is_dead_lettered_not_recorded():
    """Issue 16 (review F2): the ledger appended whatever a custody message said."""
    store = MemoryStore()
    put(store, "warc/x.warc.gz", b"warc bytes")
    put(store, "manifests/x.json", manifest_bytes())
    producer, feed, ledger = stages(store)
    asyncio.run(feed.on_capture_event(message(stored_event())))
    [genuine] = producer.on("t.custody")
    forged = json.loads(json.dumps(genuine))
    forged["objects"][0]["sha256"] = "0" * 64  # a WARC the store does not hold
    lie = message(json.dumps(forged).encode(), 0, "t.custody")
    assert asyncio.run(ledger.on_custody(lie)) == "dead-letter"
    [letter] = producer.on("t.dead-letter")
    assert letter["reason"] == "false_claim" and "the event claims 0000" in letter["message"]
    assert capture_entries(store, CAPTURE) == []
    again = message(json.dumps(genuine).encode(), 1, "t.custody")
    assert asyncio.run(ledger.on_custody(again)) == "appended"


def recheck_stage(store, site, producer):
    from archivers.net.addresses import parse_allow_list
    from archivers.net.fetcher import Fetcher, FetchSettings
    from streams.agents.liveness import RecheckStage

    return RecheckStage(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        Schedule(),
        False,
        producer,
        NAMES,
        RetryPolicy(),
        EventsSeen(producer),
        sleep=no_sleep,
    )


def test_a_new_capture_and_a_recheck_of_one_url_both_stay_in_its_record(site):
    """Review item 15: the custody feed and the recheck agent both read-modified-
    wrote liveness/<url> unconditionally, so one could overwrite the other."""
    from archivers.custody.liveness import LivenessState, state_key
    from streams.messages.custody import liveness_start_json, recheck_json
    from tests.support.site import Route

    site.routes["/slow"] = Route(b"<p>still here</p>" * 50, drip=0.01)  # a recheck takes a while
    url = site.url("/slow")
    store, producer = MemoryStore(), RecordingProducer()
    stage = recheck_stage(store, site, producer)
    first = layout.capture_id("t.ingest", 0, 1, 1764064800000)
    second = layout.capture_id("t.ingest", 0, 2, 1764064900000)

    def on(value, offset):
        return stage.on_recheck(message(value, offset, "t.recheck"))

    async def together():
        await on(liveness_start_json(url, first, None), 0)
        from archivers.clock import utc_now

        return await asyncio.gather(
            on(recheck_json(url, utc_now(), "test"), 1),  # reads the state, then fetches
            on(liveness_start_json(url, second, None), 2),  # arrives meanwhile
        )

    assert asyncio.run(together()) == ["alive", "started"]
    state = LivenessState.from_json(store.get_bytes(state_key(url)))
    assert state.captures == [first, second] and state.checks == 1
