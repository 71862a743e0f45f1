"""Composition: build each part from the settings. The only place parts meet."""

from __future__ import annotations

import functools

from warcflow import __version__
from warcflow.settings import Settings

AGENT = {"name": "warcflow", "version": __version__}


def agent_info(settings: Settings) -> dict[str, str]:
    """Who made a capture, as every capture's metadata records it (Berkeley Protocol
    para 153: the method, its tools and their versions): warcflow, yt-dlp and
    ffmpeg versions, and a SHA-256 of the settings that shape a capture (the
    WARCFLOW_FETCH_*, WARCFLOW_MEDIA_* and WARCFLOW_BROWSER_* ones, secrets
    masked), so captures made the same way say so."""
    import hashlib
    import json

    method = {row["env"]: row["value"] for row in settings.describe()
              if row["env"].startswith(("WARCFLOW_FETCH_", "WARCFLOW_MEDIA_",
                                        "WARCFLOW_BROWSER_"))}
    digest = hashlib.sha256(json.dumps(method, sort_keys=True, default=str).encode())
    return {**AGENT, **_tool_versions(), "settings_sha256": digest.hexdigest()}


@functools.lru_cache(maxsize=1)
def _tool_versions() -> dict[str, str]:
    import subprocess

    try:
        from yt_dlp.version import __version__ as yt_dlp_version
    except ImportError:  # pragma: no cover - a dependency
        yt_dlp_version = "?"
    try:
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                               timeout=20).stdout.splitlines()[0]
        ffmpeg_version = first.split(" version ", 1)[1].split(" ", 1)[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        ffmpeg_version = "?"
    return {"yt_dlp": yt_dlp_version, "ffmpeg": ffmpeg_version}


def topic_names(settings: Settings):
    from streams.topics import TopicNames

    return TopicNames(settings.streams.topic_prefix)


def store(settings: Settings):
    from archivers.store import S3Store

    return S3Store(settings.store)


def archiver(settings: Settings, object_store=None):
    from functools import partial

    from archivers.capture import PageArchiver
    from archivers.discovery import find_media
    from archivers.fetcher import Fetcher

    finder = partial(find_media, limit=settings.media.per_page) if settings.media.per_page else None
    return PageArchiver(Fetcher(settings.fetch),
                        object_store or store(settings), agent=agent_info(settings),
                        find_media=finder, browser=browser(settings),
                        browser_sites=settings.browser.sites,
                        media_limit=settings.media.per_page)


def browser(settings: Settings):
    """The worker's browser, or None when WARCFLOW_BROWSER_EXECUTABLE names no program."""
    import os

    from archivers.browser import Browser

    executable = settings.browser.executable
    if not executable or not os.access(executable, os.X_OK):
        return None
    return Browser(settings.browser)


def media_archiver(settings: Settings, object_store=None):
    """Media use the page fetcher's policy with the media size and time limits."""
    from dataclasses import replace

    from archivers.fetcher import Fetcher
    from archivers.media import MediaArchiver

    fetch = replace(settings.fetch, max_response_bytes=settings.media.max_bytes,
                    total_timeout=settings.media.timeout)
    return MediaArchiver(Fetcher(fetch), object_store or store(settings),
                         settings.media, agent=agent_info(settings),
                         workdir=settings.home / "tmp")


def faust_app(settings: Settings, metrics=None):
    """The faust app with the capture and media agents, wired to the real services;
    they count into ``metrics`` (``streams.metrics.Metrics``)."""
    from streams.agents.capture import CaptureStage
    from streams.agents.media import MediaStage
    from streams.app import build_app
    from streams.eventlog import CaptureEventLog

    names = topic_names(settings)
    object_store = store(settings)
    page_archiver = archiver(settings, object_store)
    media = media_archiver(settings, object_store)
    events = CaptureEventLog(settings.streams.bootstrap, names.captures)
    retry = settings.streams.retry

    return build_app(
        settings.streams, settings.home / "faust",
        lambda producer: CaptureStage(page_archiver, producer, names, retry, events,
                                      metrics=metrics),
        lambda producer: MediaStage(media, producer, names, retry, events, metrics=metrics),
        metrics)


def ensure_topics_and_bucket(settings: Settings) -> tuple[list[str], bool]:
    """Create missing topics and the bucket; return (topics created, bucket created)."""
    from streams.topics import ensure_topics

    created = ensure_topics(settings.streams.bootstrap, topic_names(settings),
                            partitions=settings.streams.partitions,
                            replication=settings.streams.replication)
    return created, store(settings).ensure_bucket(object_lock=True)


def viewer(settings: Settings):
    """The viewer (app, catalog feed, replay server) from the settings."""
    from viewer.server import Viewer

    return Viewer(settings.viewer, settings.store, settings.streams.bootstrap,
                  topic_names(settings))
