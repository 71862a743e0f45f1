"""Composition: build each part from the settings. The only place parts meet."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

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

    method = {
        row["env"]: row["value"]
        for row in settings.describe()
        if row["env"].startswith(("WARCFLOW_FETCH_", "WARCFLOW_MEDIA_", "WARCFLOW_BROWSER_"))
    }
    digest = hashlib.sha256(json.dumps(method, sort_keys=True, default=str).encode())
    return {**AGENT, **_tool_versions(), "settings_sha256": digest.hexdigest()}


@functools.lru_cache(maxsize=1)
def _tool_versions() -> dict[str, str]:
    from archivers.media import ffmpeg, ytdlp

    return {"yt_dlp": ytdlp.version(), "ffmpeg": ffmpeg.version()}


def topic_names(settings: Settings):
    from streams.topics import TopicNames

    return TopicNames(settings.streams.topic_prefix, settings.streams.spread_sites)


def store(settings: Settings):
    from archivers.store.s3 import S3Store

    return S3Store(settings.store)


def archiver(settings: Settings, object_store=None, sessions=None, holds=None, gate=None):
    """The page archiver; ``holds``: the worker's host holds (``host_holds``);
    ``gate``: the worker's connection slots per host (``host_gate``)."""
    from archivers.capture.archiver import PageArchiver
    from archivers.media.ytdlp import extractor_recognises
    from archivers.net.fetcher import Fetcher
    from archivers.warc.payloads import PayloadIndex

    objects = object_store or store(settings)
    return PageArchiver(
        Fetcher(settings.fetch, holds=holds, gate=gate),
        objects,
        agent=agent_info(settings),
        recognises=extractor_recognises if settings.media.per_page else None,
        browser=browser(settings),
        browser_sites=settings.browser.sites,
        media_limit=settings.media.per_page,
        sessions=sessions if sessions is not None else session_pool(settings),
        payloads=PayloadIndex(objects) if settings.revisits else None,
    )


def session_vault(settings: Settings):
    """The session vault (WARCFLOW_SESSION_VAULT, WARCFLOW_SESSION_KEY)."""
    from pathlib import Path

    from archivers.sessions.vault import Vault

    key = settings.values["WARCFLOW_SESSION_KEY"]
    return Vault(
        settings.session_vault,
        Path(key).expanduser() if key else settings.home / "keys" / "session-vault.key",
    )


def session_pool(settings: Settings, metrics=None):
    """The sessions of a worker's archivers (the pool re-reads the vault on change).
    A session it marks is told to ``metrics`` (``streams.metrics.Metrics``) and to
    WARCFLOW_SESSION_WEBHOOK, if set; ``metrics`` also shows the pool's sessions
    by state."""
    from archivers.sessions.notices import Listener
    from archivers.sessions.pool import SessionPool

    listeners: list[Listener] = []
    if metrics is not None:
        listeners.append(metrics.session_marked)
    if settings.values["WARCFLOW_SESSION_WEBHOOK"]:
        from archivers.sessions.webhook import Webhook

        hook = settings.values["WARCFLOW_SESSION_WEBHOOK"]
        listeners.append(Webhook(hook, worker_name()))
    pool = SessionPool(session_vault(settings), listeners)
    if metrics is not None:
        metrics.follow_sessions(pool.counts)
    return pool


def worker_name() -> str:
    """This worker process as logs, webhooks and host holds name it: ``host:pid``."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def browser(settings: Settings):
    """The worker's browser, or None when WARCFLOW_BROWSER_EXECUTABLE names no program."""
    import os

    from archivers.capture.browser import Browser

    executable = settings.browser.executable
    if not executable or not os.access(executable, os.X_OK):
        return None
    return Browser(settings.browser)


def host_gate(settings: Settings):
    """The connection slots per host of one worker process (``archivers.net.politeness``):
    handed to every fetcher it makes, so the per-host budget holds across stages."""
    from archivers.net.politeness import HostGate

    return HostGate(settings.fetch.politeness)


def host_holds(settings: Settings):
    """One ``HostHolds`` for every fetcher of a worker process (``archivers.net.holds``)."""
    from archivers.net.holds import HostHolds

    return HostHolds(settings.fetch.holds)


def media_archiver(settings: Settings, object_store=None, sessions=None, holds=None, gate=None):
    """Media use the page fetcher's policy with the media size and time limits."""
    from dataclasses import replace

    from archivers.media.archiver import MediaArchiver
    from archivers.net.fetcher import Fetcher

    fetch = replace(
        settings.fetch,
        max_response_bytes=settings.media.max_bytes,
        total_timeout=settings.media.timeout,
    )
    return MediaArchiver(
        Fetcher(fetch, holds=holds, gate=gate),
        object_store or store(settings),
        settings.media,
        agent=agent_info(settings),
        workdir=settings.home / "tmp",
        sessions=sessions if sessions is not None else session_pool(settings),
    )


def faust_app(settings: Settings, metrics=None, datadir=None):
    """The faust app with the capture and media agents, wired to the real services;
    they count into ``metrics`` (``streams.metrics.Metrics``). faust's data
    directory is ``datadir`` (default HOME/faust)."""
    from streams.agents.capture import CaptureStage
    from streams.agents.media import MediaStage
    from streams.app import build_app
    from streams.clients.eventlog import CaptureEventLog

    names = topic_names(settings)
    object_store = store(settings)
    holds = host_holds(settings)
    gate = host_gate(settings)  # one per process: every fetcher's requests count
    sessions = session_pool(settings, metrics)  # one pool: one event per session marked
    page_archiver = archiver(settings, object_store, sessions, holds, gate)
    media = media_archiver(settings, object_store, sessions, holds, gate)
    events = CaptureEventLog(settings.streams.kafka, names.captures, settings.streams.seals)
    retry = settings.streams.retry
    seals = settings.streams.seals

    app = build_app(
        settings.streams,
        datadir or settings.home / "faust",
        lambda producer: CaptureStage(
            page_archiver, producer, names, retry, events, metrics=metrics, seals=seals
        ),
        lambda producer: MediaStage(
            media, producer, names, retry, events, metrics=metrics, seals=seals
        ),
        metrics,
        lambda producer: custody_parts(
            settings, object_store, producer, events, metrics, media.availability, holds, gate
        ),
    )
    from streams.app import FaustProducer
    from streams.clients import holds as board

    board.attach(
        app,
        board.HoldsBoard(
            holds, settings.streams.kafka, names.hosts, seals, FaustProducer(app), who=worker_name()
        ),
    )
    if settings.watch.enabled:
        from streams.watchers.runner import attach

        attach(app, watch_runner(settings, FaustProducer(app), metrics, holds, gate))
    return app


def watch_runner(settings: Settings, producer, metrics=None, holds=None, gate=None):
    """The watchers' runner: the book followed from the watch topics, sources
    fetched by a fetcher of its own under the page fetcher's address policy."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from archivers.net.fetcher import Fetcher
    from streams.watchers.book import WatchBook
    from streams.watchers.kinds import fetch_body
    from streams.watchers.log import WatchLog, apply
    from streams.watchers.runner import WatchRunner

    names = topic_names(settings)
    fetcher = Fetcher(settings.fetch, holds=holds, gate=gate)
    watch_log = WatchLog(settings.streams.kafka, names)
    # its own thread: the default executor is busy with the captures' S3 calls
    reader = ThreadPoolExecutor(1, thread_name_prefix="watch-log")

    async def fetch(url: str) -> bytes:
        return await fetch_body(fetcher, url, settings.fetch.max_response_bytes)

    async def refresh(book: WatchBook) -> None:
        # read in a thread, applied here: polls read the book on this loop
        loop = asyncio.get_running_loop()
        apply(book, await loop.run_in_executor(reader, watch_log.read_new))

    return WatchRunner(
        WatchBook(settings.watch.watches, min_every=settings.watch.min_every),
        refresh,
        fetch,
        producer,
        names,
        settings.watch,
        metrics=metrics,
    )


def custody_parts(
    settings: Settings,
    object_store,
    producer,
    events,
    metrics,
    extractor=None,
    holds=None,
    gate=None,
):
    """The custody feed, the ledger, the recheck agent (asking ``extractor`` about
    platform video URLs) and the fixity run."""
    import asyncio

    from archivers.clock import utc_now
    from archivers.custody import fixity
    from archivers.custody.liveness import Schedule
    from archivers.net.fetcher import Fetcher
    from streams.agents.custody import CustodyFeed, LedgerStage
    from streams.agents.liveness import RecheckStage
    from streams.app import CustodyParts
    from streams.messages.custody import custody_json

    names = topic_names(settings)
    retry = settings.streams.retry
    schedule = Schedule(settings.streams.recheck_delays)
    common = (producer, names, retry, events)
    seals = settings.streams.seals

    async def scheduled_fixity() -> str:
        loop = asyncio.get_running_loop()

        def emit(event) -> None:  # from the fixity thread onto the worker's loop
            asyncio.run_coroutine_threadsafe(
                producer.send(
                    names.custody,
                    (event.capture_id or "").encode(),
                    seals.seal(names.custody, custody_json(event)),
                ),
                loop,
            ).result(120)

        totals = await asyncio.to_thread(
            fixity.run, object_store, emit, who="schedule", clock=utc_now
        )
        return (
            f"{totals['captures']} captures: {totals['ok']} objects ok, "
            f"{totals['mismatch']} changed, {totals['missing']} missing, "
            f"{totals['unreadable']} unreadable"
        )

    return CustodyParts(
        feed=CustodyFeed(object_store, schedule, *common, metrics=metrics, seals=seals),
        ledger=LedgerStage(ledger(settings, object_store), *common, metrics=metrics, seals=seals),
        recheck=RecheckStage(
            Fetcher(settings.fetch, holds=holds, gate=gate),
            object_store,
            schedule,
            settings.streams.recapture_on_change,
            *common,
            extractor=extractor,
            metrics=metrics,
            seals=seals,
        ),
        fixity=scheduled_fixity,
    )


def ledger_key_path(settings: Settings):
    configured = settings.values["WARCFLOW_LEDGER_KEY"]
    from pathlib import Path

    return (
        Path(configured).expanduser() if configured else settings.home / "ledger" / "head-key.pem"
    )


def stampers(settings: Settings) -> list:
    """The configured TSAs: the local OpenSSL one and/or RFC 3161 TSAs over HTTP."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from archivers.custody.rfc3161 import HttpStamper
    from infra.tsa import LocalTSA

    out: list[Any] = []
    for url, cafile in settings.values["WARCFLOW_TSA"]:
        if url == "local":
            out.append(LocalTSA(settings.home / "tsa"))
        else:
            out.append(HttpStamper(urlsplit(url).hostname or "tsa", url, Path(cafile)))
    return out


def ledger(settings: Settings, object_store=None):
    from archivers.custody.ledger import Ledger
    from archivers.custody.treehead import HeadSigner

    return Ledger(
        object_store or store(settings),
        HeadSigner.from_file(ledger_key_path(settings)),
        stampers(settings),
    )


@dataclass(frozen=True)
class Provisioned:
    """What ``provision`` made (empty where everything was there)."""

    topics_created: list[str]
    acls: int
    bucket_created: bool
    retention_set: bool
    users: list[str]
    bucket_policy: bool


def provision(settings: Settings, creds=None) -> Provisioned:
    """As the admin, make what the roles need: the topics (faust's leader topic
    included), every role's ACLs on them (``streams.access``), the bucket with
    Object Lock and its default retention rule. With ``creds`` (the local
    stack's ``warcflow.credentials.Credentials``): also the Kafka users of the
    roles, and the bucket policy naming each role's S3 access key (versitygw;
    its S3 users are made by ``infra.stack.LocalStack.ensure_s3_users`` first).
    Idempotent."""
    from streams.access import ROLES as KAFKA_ROLES
    from streams.access import grants
    from streams.clients.admin import ensure_acls, ensure_topics, ensure_users

    kafka = settings.streams.kafka
    names = topic_names(settings)
    users: list[str] = []
    if creds is not None:
        passwords = {creds.kafka[role][0]: creds.kafka[role][1] for role in KAFKA_ROLES}
        ensure_users(kafka, passwords)
        users = sorted(passwords)
    created = ensure_topics(
        kafka,
        names,
        partitions=settings.streams.partitions,
        replication=settings.streams.replication,
    )
    acls = ensure_acls(kafka, grants(names))
    bucket_created, retention_set = provision_bucket(settings, creds)
    return Provisioned(created, acls, bucket_created, retention_set, users, creds is not None)


def provision_bucket(settings: Settings, creds=None) -> tuple[bool, bool]:
    """The S3 half of ``provision``: (bucket created, default retention set now)."""
    from archivers.store.policy import ROLES as S3_ROLES
    from archivers.store.policy import bucket_policy

    object_store = store(settings)
    bucket_created = object_store.ensure_bucket(object_lock=True)
    retention_set = object_store.ensure_retention()
    if creds is not None:
        object_store.put_bucket_policy(
            bucket_policy(settings.store.bucket, {role: creds.s3[role][0] for role in S3_ROLES})
        )
    return bucket_created, retention_set


def not_ready(settings: Settings) -> list[str]:
    """What keeps a worker from starting, as its role sees it: topics it cannot
    see, a bucket it cannot reach, a default retention that is not the one
    configured. Empty: ready."""
    from archivers.errors import StoreMisconfigured, StoreUnavailable
    from streams.clients.admin import missing_topics

    problems = []
    missing = missing_topics(settings.streams.kafka, topic_names(settings))
    if missing:
        problems.append(
            f"topics missing or not allowed to {settings.streams.kafka.user or 'this client'}: "
            f"{', '.join(missing)}"
        )
    wanted = settings.store.default_retention()
    try:
        rule = store(settings).retention_rule() or {}
    except (StoreUnavailable, StoreMisconfigured) as exc:  # no such bucket, or not this role's
        return [*problems, f"bucket {settings.store.bucket}: {exc}"]
    if wanted is not None:
        found = rule.get("DefaultRetention", {})
        days = found.get("Days") or 365 * (found.get("Years") or 0)
        if found.get("Mode") != settings.store.lock_mode or days < settings.store.lock_days:
            problems.append(
                f"bucket {settings.store.bucket} does not lock new versions "
                f"({settings.store.lock_mode} {settings.store.lock_days} days asked, the "
                f"bucket's default retention is {found or 'none'})"
            )
    return problems


def viewer(settings: Settings):
    """The viewer (app, catalog feed, replay server) from the settings."""
    from viewer.server import Viewer

    return Viewer(
        settings.viewer,
        store(settings),
        settings.store,
        settings.streams.kafka,
        topic_names(settings),
        trust=configured_trust(settings),
        seals=settings.streams.seals,
    )


def who(settings: Settings) -> str:
    """Who a command acts as, in custody events: ``<WARCFLOW_OPERATOR> (cli)``, or
    ``cli``. Never the login name: the ledger is public and permanent (review F12)."""
    return f"{settings.operator} (cli)" if settings.operator else "cli"


def configured_trust(settings: Settings, public_keys=()):
    """What audits trust, from this machine's configuration only (never the
    bucket): the public half of the head-signing key file if it is here, the
    keys and CAs of WARCFLOW_TRUST, pinned keys (PEM files), the CA
    certificates of the configured TSAs; and WARCFLOW_LEDGER_MAX_SKEW."""
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from archivers.custody import trustfile
    from archivers.custody.audit import Trust
    from archivers.custody.treehead import key_id

    trust = Trust(max_skew=settings.values["WARCFLOW_LEDGER_MAX_SKEW"])
    own = own_pins(settings)
    trust.public_keys.update(own.ledger_keys)
    trust.tsa_cas.update(own.tsas)
    if settings.values["WARCFLOW_TRUST"]:
        path = Path(settings.values["WARCFLOW_TRUST"]).expanduser()
        try:
            pins = trustfile.load(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"WARCFLOW_TRUST {path}: {exc}") from None
        trust.public_keys.update(pins.ledger_keys)
        trust.tsa_cas.update(pins.tsas)  # named explicitly: wins over WARCFLOW_TSA's
    for path in public_keys:
        pem = Path(path).read_bytes()
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key (heads are signed with Ed25519)")
        trust.public_keys[key_id(key)] = pem
    return trust


def own_pins(settings: Settings):
    """The pins this machine's configuration vouches for: the public half of the
    head-signing key file (if it exists here; never made by asking) and each
    configured TSA's CA certificate (``warcflow ledger key`` prints them)."""
    from archivers.custody import trustfile
    from archivers.custody.treehead import HeadSigner, public_pem
    from infra.tsa import LocalTSA, TSAError

    pins = trustfile.Pins()
    path = ledger_key_path(settings)
    if path.is_file():
        try:
            signer = HeadSigner.from_file(path)
            pins.ledger_keys[signer.key_id] = public_pem(signer.public)
        except (OSError, ValueError):
            pass  # not readable by this role (the viewer's): WARCFLOW_TRUST pins it
    for stamper in stampers(settings):
        if isinstance(stamper, LocalTSA) and not stamper.root_pem.is_file():
            continue  # never made here (asking would make a new, unrelated one)
        try:
            pins.tsas[stamper.name] = stamper.ca_pem()
        except (OSError, TSAError):
            pass  # not to be had here: that TSA's tokens are not counted, and said so
    return pins


def custody_producer(settings: Settings):
    """A producer for the custody, recheck and ingest topics (fixity, export, recheck):
    its ``produce`` seals with the command's role's key."""
    from streams.clients.producer import Submitter

    return Submitter(settings.streams.kafka, topic_names(settings), seals=settings.streams.seals)


def record_export(
    settings: Settings,
    manifests,
    *,
    name: str,
    sha256: str,
    size: int,
    batch: str,
    detail: dict[str, Any],
) -> list[str]:
    """Record a file made of ``manifests`` (a WACZ, a report) in the custody ledger:
    one ``export`` event per capture, naming the file (by name only: the exporter's
    directories are nobody's business) with its SHA-256 and size; the event ids.
    Raises ``streams.clients.producer.SubmitError``."""
    from archivers.clock import iso, utc_now
    from archivers.custody.ledger import CustodyEvent, ObjectDigest
    from streams.messages.custody import custody_json

    names = topic_names(settings)
    ids = []
    submitter = custody_producer(settings)
    try:
        for manifest in manifests:
            event = CustodyEvent(
                "export",
                f"export:{manifest.capture_id}:{batch}",
                iso(utc_now()),
                who(settings),
                capture_id=manifest.capture_id,
                url=manifest.url,
                objects=(ObjectDigest(name, sha256, size),),
                detail={
                    "file": name,
                    **detail,
                    "captures": [m.capture_id for m in manifests],
                },
            )
            submitter.produce(names.custody, manifest.capture_id.encode(), custody_json(event))
            ids.append(event.event_id)
    finally:
        submitter.close()
    return ids
