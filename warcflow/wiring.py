"""Composition: build each part from the settings. The only place parts meet."""

from __future__ import annotations

from warcflow import __version__
from warcflow.settings import Settings

AGENT = {"name": "warcflow", "version": __version__}


def topic_names(settings: Settings):
    from streams.topics import TopicNames

    return TopicNames(settings.streams.topic_prefix)


def store(settings: Settings):
    from archivers.store import S3Store

    return S3Store(settings.store)


def archiver(settings: Settings):
    from archivers.capture import PageArchiver
    from archivers.fetcher import Fetcher

    return PageArchiver(Fetcher(settings.fetch), store(settings), agent=AGENT)


def faust_app(settings: Settings):
    """The faust app with the capture agents, wired to the real fetcher and store."""
    from streams.agents.capture import CaptureStage
    from streams.app import build_app
    from streams.eventlog import CaptureEventLog

    names = topic_names(settings)
    page_archiver = archiver(settings)
    events = CaptureEventLog(settings.streams.bootstrap, names.captures)

    def make_stage(producer):
        return CaptureStage(page_archiver, producer, names, settings.streams.retry, events)

    return build_app(settings.streams, settings.home / "faust", make_stage)


def ensure_topics_and_bucket(settings: Settings) -> tuple[list[str], bool]:
    """Create missing topics and the bucket; return (topics created, bucket created)."""
    from streams.topics import ensure_topics

    created = ensure_topics(settings.streams.bootstrap, topic_names(settings),
                            partitions=settings.streams.partitions)
    return created, store(settings).ensure_bucket(object_lock=True)
