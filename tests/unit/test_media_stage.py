"""The capture stage hands media to the media stage; the media stage routes outcomes.

A unit test of the stages' routing (``streams.agents.media``) on the fakes; the
same flow on the real broker and S3 server: tests/integration/test_media.py,
and test_error_paths.py for a crash between the media requests and the page
event and for reconcile's account of media.
"""

import asyncio
import json

from archivers.capture.archiver import PageArchiver
from archivers.clock import utc_now
from archivers.media.archiver import MediaArchiver, MediaSettings
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store.memory import MemoryStore
from streams.agents.capture import CaptureStage
from streams.agents.media import MediaStage
from streams.messages.base import SourceMessage
from streams.settings import RetryPolicy
from tests.support import media as testmedia
from tests.support.stages import NAMES, EventsSeen, RecordingProducer, ingest, no_sleep, submit


def stages(site):
    store = MemoryStore()
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    pages = PageArchiver(
        fetcher,
        store,
        agent={"name": "warcflow", "version": "test"},
        recognises=lambda url: False,
    )
    media = MediaArchiver(fetcher, store, MediaSettings(), agent={"name": "warcflow"})
    producer = RecordingProducer()
    events = EventsSeen(producer)
    policy = RetryPolicy(2, 0.01, 0.02)
    return (
        CaptureStage(pages, producer, NAMES, policy, events, sleep=no_sleep),
        MediaStage(media, producer, NAMES, policy, events, sleep=no_sleep),
        producer,
        store,
    )


def as_media_message(sent_value: dict, offset: int) -> SourceMessage:
    return SourceMessage(
        NAMES.media,
        0,
        offset,
        int(utc_now().timestamp() * 1000),
        b"k",
        json.dumps(sent_value).encode(),
    )


def test_found_media_become_requests_before_the_page_event(site, media_set, canary):
    testmedia.install(site, media_set, canary.origin)
    capture, media, producer, _store = stages(site)
    assert asyncio.run(capture.on_ingest(ingest(submit(site.url("/post/og-video"))))) == "stored"
    topics = [topic for topic, _, _ in producer.sent]
    assert topics == [NAMES.media, NAMES.captures]
    [request] = producer.on(NAMES.media)
    [page_event] = producer.on(NAMES.captures)
    assert request["parent_capture_id"] == page_event["capture_id"]
    assert request["media_url"] == site.url("/media/clip.mp4")
    assert request["kind"] == "direct" and request["found_by"] == "og:video"
    assert request["parent_record_id"].startswith("<urn:uuid:")

    assert asyncio.run(media.on_media(as_media_message(request, 0))) == "stored"
    media_event = producer.on(NAMES.captures)[-1]
    assert media_event["schema"] == "warcflow.MediaStored"
    assert media_event["parent_capture_id"] == page_event["capture_id"]
    assert media_event["width"] == 320 and media_event["duration"] > 2.9
    assert media_event["source_url"] == site.url("/media/clip.mp4")
    # redelivered: nothing new
    assert asyncio.run(media.on_media(as_media_message(request, 0))) == "stored"
    assert len(producer.on(NAMES.captures)) == 2


def test_refused_media_is_a_recorded_failure_and_junk_is_dead_lettered(site, media_set, canary):
    testmedia.install(site, media_set, canary.origin)
    capture, media, producer, _store = stages(site)
    asyncio.run(capture.on_ingest(ingest(submit(site.url("/post/private-media")))))
    [request] = producer.on(NAMES.media)
    assert asyncio.run(media.on_media(as_media_message(request, 1))) == "failed"
    event = producer.on(NAMES.captures)[-1]
    assert event["schema"] == "warcflow.MediaFailed" and event["reason"] == "policy_refused"
    assert sum(canary.hits.values()) == 0
    junk = SourceMessage(NAMES.media, 0, 2, 0, None, b'{"schema": "warcflow.MediaRequest"}')
    assert asyncio.run(media.on_media(junk)) == "dead-letter"
    assert producer.on(NAMES.dead_letter)[-1]["stage"] == "media"
