"""Every message ends in an outcome, on the real broker and S3 server.

The error-path review (../shared/reviews/error-paths-2026-12.md) reproduced
each of these against the code as it was; here each is sent the way any Kafka
client could, at the size that hurt, to a real worker, and what a user sees
is checked with warcflow's own commands (`dlq list`, `reconcile`, `fixity`,
`captures`, `audit`) and the viewer:

- F1/F2: nested JSON, out-of-range broker timestamps and 430 KB / 750 KB junk
  on the ingest topic end as dead letters, and the partition goes on;
- poison on every other topic (media, retries, captures, custody, recheck)
  ends as a dead letter of the stage that reads it;
- security F2: forged retry, media and custody messages are refused by the
  broker without credentials, and with a worker's dead-lettered by the stage
  for their seal (unsealed, forged, unknown key, wrong role) or for a retry
  not bound to its origin; the genuine capture and its ledger entry stay;
- F10: the viewer's catalog quarantines poison and an event whose manifest
  was deleted, and shows the captures after them;
- F8: a download while the broker is away is recorded once it is back, across
  a viewer restart;
- F6: reconcile accounts for media; F9: fixity re-hashes posters, indexes,
  manifests and a deleted page's WARC, and names an unreadable manifest;
- F3: a crash between a page's media requests and its event still ends in the
  page's event once the message is redelivered;
- F4: wrong keys or a missing bucket are named and given up on, not waited on
  for ever; a bad digest is tried a few times;
- a worker stopped with SIGTERM mid-capture exits within its drain time and
  the capture is done by the next worker, once.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
import uuid
from pathlib import Path

import pytest

from archivers.store.s3 import S3Store
from infra.processes import free_port
from tests.support import hostile
from tests.support import media as testmedia
from tests.support.observe import media_of
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, kafka_of, poll, settings_of, store_of
from tests.support.viewer import running_viewer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def paths(stack, media_set, tmp_path_factory):
    with TestSite() as site, TestSite() as canary:
        testmedia.install(site, media_set, canary.origin)
        env = stack.agent_env(
            "e",
            site.allow,
            WARCFLOW_LEDGER_HEAD_EVERY="3600",  # heads on demand: audits can be pending
            WARCFLOW_WORKER_DRAIN="5",
            WARCFLOW_RECHECK_DELAYS="3600",
        )
        log = Path(tmp_path_factory.mktemp("logs")) / "worker.log"
        worker = WorkerProcess(env, log).start()
        try:
            yield {
                "env": env,
                "site": site,
                "worker": worker,
                "prefix": env["WARCFLOW_TOPIC_PREFIX"],
            }
        finally:
            worker.stop()
        assert canary.hits == {}, f"the canary was reached: {canary.hits}"


def run_json(*args, env, ok=(0,), timeout=120):
    done = cli(*args, "--json", env=env, timeout=timeout)
    assert done.returncode in ok, (args, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout)


def letters_from(env, topic: str, want: int) -> list[dict] | None:
    found = [
        letter
        for letter in run_json("dlq", "list", env=env)
        if letter["source"].get("topic") == topic
    ]
    return found if len(found) >= want else None


def captured(env, url: str) -> dict:
    """Submit ``url`` and wait for its stored capture."""
    assert cli("submit", url, env=env).returncode == 0
    return stored(env, url)


def stored(env, url: str) -> dict:
    return poll(
        lambda: next(
            (c for c in run_json("captures", url, env=env) if c["status"] == "stored"), None
        ),
        timeout=90,
        interval=0.5,
        what=f"a stored capture of {url}",
    )


def test_poison_on_the_ingest_topic_is_dead_lettered_and_the_partition_moves_on(paths):
    env, site, prefix = paths["env"], paths["site"], paths["prefix"]
    poison = hostile.ingest_poison()
    ingest = f"{prefix}.ingest"
    after = site.url("/post/1?after-poison")
    # one key: every message on one partition, the good one last
    sent = hostile.produce(
        kafka_of(env, "submitter"),  # any outside client
        ingest,
        [(value, stamp) for _name, value, stamp in poison] + [(after.encode(), None)],
        key=b"poison",
    )
    where = {position: name for position, (name, _v, _t) in zip(sent, poison, strict=False)}

    def letters():
        found = {
            where.get((letter["source"]["partition"], letter["source"]["offset"])): letter
            for letter in run_json("dlq", "list", env=env)
            if letter["source"].get("topic") == ingest
        }
        return found if set(where.values()) <= set(found) else None

    by_name = poll(letters, timeout=120, interval=1, what=f"{len(poison)} dead letters")
    reasons = {name: by_name[name]["reason"] for name in where.values()}
    assert reasons["nested"] == reasons["unclosed"] == reasons["huge-integer"] == "bad_json"
    assert reasons["timestamp-2^48"] == reasons["timestamp--1"] == "bad_timestamp"
    assert reasons["junk-430k"] == "invalid_url" and reasons["empty"] == "empty"
    assert reasons["nested-array"] == "invalid_url" and reasons["binary-750k"] == "not_utf8"
    junk = by_name["junk-430k"]
    assert junk["value_size"] == 430_037 and junk["value_sha256"]
    assert not junk["replayable"]
    assert stored(env, after)["http_status"] == 200  # the partition did not stop

    report = run_json("reconcile", env=env)  # answers, poison and all
    assert report["complete"], (report["pending"], report["duplicates"])
    assert report["counts"]["dead-letter"] >= len(poison)


def test_poison_on_every_other_topic_ends_as_a_dead_letter_of_its_stage(paths):
    env, prefix, site = paths["env"], paths["prefix"], paths["site"]
    bootstrap = kafka_of(env, "worker")  # only a worker's credentials get these past the broker
    values = [value for _name, value in hostile.other_topic_poison()]
    topics = ["media", "retry.capture", "retry.media", "custody", "recheck"]
    for topic in topics:
        hostile.produce(bootstrap, f"{prefix}.{topic}", [(v, None) for v in values], key=b"p")
    junk = [
        v
        for name, v in hostile.captures_poison(site.url("/post/never"))
        if name != "missing-manifest"
    ]
    hostile.produce(bootstrap, f"{prefix}.captures", [(v, None) for v in junk], key=b"p")
    for topic in topics:
        poll(
            lambda topic=topic: letters_from(env, f"{prefix}.{topic}", len(values)),
            timeout=90,
            interval=1,
            what=f"dead letters of the poison on {topic}",
        )
    found = poll(
        lambda: letters_from(env, f"{prefix}.captures", len(junk)),
        timeout=90,
        interval=1,
        what="the custody feed's dead letters of the captures topic's poison",
    )
    assert {letter["reason"] for letter in found} == {"bad_event"}
    assert paths["worker"].proc.poll() is None


def test_the_catalog_quarantines_poison_and_a_deleted_manifest_and_goes_on(paths, tmp_path):
    env, site, prefix = paths["env"], paths["site"], paths["prefix"]
    from streams.keys import site_key

    first, later = site.url("/post/1?catalog-first"), site.url("/post/1?catalog-later")
    deleted = captured(env, first)
    store = store_of(env, "admin")  # deleting takes the S3 root
    manifest_key = next(k for k in store.list_keys("manifests/") if deleted["capture_id"] in k)
    store.client.delete_object(Bucket=store.bucket, Key=manifest_key)  # a delete marker
    poison = hostile.captures_poison(site.url("/post/never"))
    hostile.produce(  # on the partition of the later capture, before its event
        kafka_of(env, "worker"),
        f"{prefix}.captures",
        [(v, None) for _name, v in poison],
        key=site_key(later),  # as the later capture's event is keyed
    )
    assert cli("submit", later, env=env).returncode == 0
    stored(env, later)
    viewer_env = {
        **env,
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path / "viewer-home"),
    }
    with running_viewer(viewer_env) as (_viewer, client):
        shown = poll(
            lambda: client.get("/api/captures", params={"url": later}).json(),
            timeout=60,
            what="the capture after the poison in the viewer",
        )
        assert shown[0]["status"] == "stored"
        counts = client.get("/api/status").json()["counts"]
        assert counts["quarantined"] >= len(poison) + 1  # the poison and the deleted manifest
        assert client.get("/api/captures", params={"url": first}).json() == []


def test_a_download_while_the_broker_is_away_is_recorded_once_it_is_back(paths, tmp_path):
    env, site = paths["env"], paths["site"]
    capture = captured(env, site.url("/post/1?downloaded"))
    home = str(tmp_path / "viewer-home")
    away = {
        **env,
        "WARCFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # no broker there
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": home,
    }
    with running_viewer(away) as (viewer, client):
        download = client.get(f"/capture/{capture['capture_id']}/warc")
        assert download.status_code == 200  # the download never waits for the broker
        assert len(viewer.outbox.pending()) == 1
    # the viewer exited with the record kept; the next one, with the broker, sends it
    back = {**away, "WARCFLOW_KAFKA_BOOTSTRAP": env["WARCFLOW_KAFKA_BOOTSTRAP"]}
    with running_viewer(back) as (viewer, _client):

        def recorded():
            report = run_json("audit", capture["capture_id"], env=env, ok=(0, 1, 5))
            return [e for e in report["captures"][0]["custody"] if e["event"] == "download"]

        [entry] = poll(recorded, timeout=60, interval=1, what="the download in the ledger")
        assert entry["objects"][0]["key"] == capture["warc_key"]
        assert viewer.outbox.pending() == []


def test_an_audit_before_the_next_signed_head_is_pending_not_failed(paths):
    """The issue's report: right after a capture, audit exited 1 ("failed") only
    because the entry was not in a signed head yet — the code of tampering."""
    import subprocess
    import sys

    from archivers.custody.ledger import entry_index_of
    from tests.support.stack import ROOT

    env, site = paths["env"], paths["site"]
    capture = captured(env, site.url("/post/1?pending"))
    store = store_of(env)
    poll(
        lambda: entry_index_of(store, f"stored:{capture['capture_id']}") is not None,
        timeout=60,
        what="the ledger entry",
    )
    done = cli("audit", capture["capture_id"], "--json", env=env)
    assert done.returncode == 5, (done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["status"] == "pending" and not report["ok"]
    not_ok = [c for c in report["captures"][0]["checks"] if not c["ok"]]
    assert [c["name"] for c in not_ok] == [f"inclusion {capture['capture_id']}"]
    assert not_ok[0]["pending"] and "ledger head" in not_ok[0]["detail"]
    text = cli("audit", capture["capture_id"], env=env)
    assert text.returncode == 5 and "PENDING" in text.stdout and "WAIT" in text.stdout
    waiting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warcflow",
            "audit",
            capture["capture_id"],
            "--wait",
            "120",
            "--json",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli("ledger", "head", env=env).returncode == 0
        out, err = waiting.communicate(timeout=150)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err[-2000:]
    assert json.loads(out)["status"] == "ok"


def test_reconcile_accounts_for_every_media_request(paths):
    env, site = paths["env"], paths["site"]
    url = site.url("/post/og-video")
    assert cli("submit", url, env=env).returncode == 0
    page = media_of(env, url)
    assert page["media"][0]["status"] == "stored"
    report = run_json("reconcile", env=env)
    assert report["media"]["requests"] >= 1 and report["media"]["counts"]["stored"] >= 1
    assert report["media_pending"] == [] and report["media_duplicates"] == []
    assert report["complete"]


def test_fixity_rehashes_every_recorded_object_and_names_what_it_cannot_read(paths):
    env, site = paths["env"], paths["site"]
    url, gone = site.url("/post/webm"), site.url("/gone?fixity")
    assert cli("submit", url, gone, env=env).returncode == 0
    page = media_of(env, url)
    [media] = page["media"]
    deleted = poll(
        lambda: next(iter(run_json("captures", gone, env=env)), None),
        timeout=60,
        what="the deleted page's capture",
    )
    assert deleted["status"] == "failed" and deleted["warc_key"]
    store = store_of(env, "admin")
    from archivers.store import layout

    def recorded(work_id):
        from archivers.custody.ledger import entry_index_of

        return entry_index_of(store, f"stored:{work_id}") is not None

    poll(
        lambda: all(
            recorded(i) for i in (page["capture_id"], media["media_id"], deleted["capture_id"])
        ),
        timeout=60,
        what="the ledger entries",
    )
    clean = cli("fixity", "--capture", page["capture_id"], env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    changed = [
        media["poster_key"],
        layout.index_key(page["capture_id"]),
        next(k for k in store.list_keys("manifests/") if page["capture_id"] in k),
        layout.media_manifest_key(page["capture_id"], media["media_id"]),
        deleted["warc_key"],
    ]
    for key in changed:  # a new version of each (what Object Lock still allows)
        store.client.put_object(Bucket=store.bucket, Key=key, Body=store.get_bytes(key) + b" ")
    store.client.put_object(Bucket=store.bucket, Key="manifests/junk/x.json", Body=b"{not json")
    result = cli("fixity", "--json", env=env, timeout=300)
    assert result.returncode == 1, result.stderr
    totals = json.loads(result.stdout)
    flagged = {f["key"]: f["status"] for f in totals["failed"]}
    for key in changed:
        assert flagged.get(key) == "mismatch", (key, flagged)
    assert [m["key"] for m in totals["unreadable_manifests"]] == ["manifests/junk/x.json"]
    assert totals["unreadable"] == 1 and totals["ledger_entries_checked"] >= 0
    text = cli("fixity", env=env, timeout=300)
    assert "UNREADABLE manifests/junk/x.json" in text.stdout
    assert f"MISMATCH {media['poster_key']}" in text.stdout
    store.client.delete_object(Bucket=store.bucket, Key="manifests/junk/x.json")


def test_a_stopped_worker_leaves_what_it_was_doing_for_the_next_one(paths, stack, tmp_path):
    """SIGTERM while a capture is in flight: the worker exits within its drain
    time (WARCFLOW_WORKER_DRAIN=5 here, plus the 5 s it gives the last commit),
    and the capture is done by the next worker, once."""
    site = paths["site"]
    env = stack.agent_env("d", site.allow, WARCFLOW_WORKER_DRAIN="3")
    site.routes["/slow-stop"] = Route(b"<p>slow</p>" * 600, drip=0.5)  # 66 pieces: 33 s
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        assert cli("submit", site.url("/slow-stop"), env=env).returncode == 0
        poll(lambda: site.count("/slow-stop") >= 1, timeout=60, what="the capture to start")
        started = time.monotonic()
        worker.proc.send_signal(15)
        code = worker.proc.wait(3 + 5 + 20)  # the stated bound, and room for a busy machine
        stopped_after = time.monotonic() - started
        assert code == 0, worker.log()[-3000:]
        assert "1 left unacknowledged for redelivery" in worker.log()
        assert "slow-stop →" not in worker.log()  # it was not finished: it was left
    finally:
        worker.stop()
    site.routes["/slow-stop"] = Route(b"<p>slow</p>")
    again = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        report = poll(
            lambda: (lambda r: r if r["complete"] else None)(
                run_json("reconcile", env=env, ok=(0, 1))
            ),
            timeout=120,
            interval=1,
            what="the capture redone by the next worker",
        )
    finally:
        again.stop()
    assert report["counts"]["stored"] == 1 and report["duplicates"] == []
    print(f"the worker stopped {stopped_after:.1f} s after SIGTERM")


def test_a_crash_between_the_media_requests_and_the_page_event_still_ends_in_it(stack, media_set):
    """Review F3: the media event names its page's capture id, and the substring
    check took it for the page's event, so the page's event was never produced."""
    from archivers.clock import utc_now
    from streams.agents.capture import CaptureStage
    from streams.agents.media import MediaStage
    from streams.clients.eventlog import CaptureEventLog
    from streams.clients.reader import read_topic
    from streams.messages.base import loads
    from streams.messages.capture import SubmitRequest
    from tests.support.stages import Crash, KafkaSend
    from warcflow import wiring

    with TestSite() as site:
        testmedia.install(site, media_set, "http://127.0.0.1:9")
        env = stack.agent_env("r", site.allow)
        settings = settings_of(env, "worker")
        names, bootstrap = wiring.topic_names(settings), settings.streams.kafka
        store = wiring.store(settings)
        events = CaptureEventLog(bootstrap, names.captures, settings.streams.seals)
        retry = settings.streams.retry
        url = site.url("/post/og-video")
        request = SubmitRequest.new(url, submitted_at=utc_now())
        hostile.produce(bootstrap, names.ingest, [(request.to_json(), None)])
        [message] = list(read_topic(bootstrap, names.ingest))
        pages = wiring.archiver(settings, store)
        media = wiring.media_archiver(settings, store)
        seals = settings.streams.seals  # the worker's MAC keys

        async def scenario():
            crashing = KafkaSend(bootstrap, crash_on=names.captures)
            with pytest.raises(Crash):  # the worker dies after the media requests
                await CaptureStage(pages, crashing, names, retry, events, seals=seals).on_ingest(
                    message
                )
            [asked] = list(read_topic(bootstrap, names.media))
            producer = KafkaSend(bootstrap)
            clip = MediaStage(media, producer, names, retry, events, seals=seals)
            assert await clip.on_media(asked) == "stored"  # another worker stores the clip
            again = CaptureStage(pages, producer, names, retry, events, seals=seals)
            return await again.on_ingest(message)  # the ingest message, redelivered

        assert asyncio.run(scenario()) == "stored"
    found = [loads(r.value) for r in read_topic(bootstrap, names.captures)]
    assert sorted(e["schema"] for e in found) == ["warcflow.CaptureStored", "warcflow.MediaStored"]
    report = run_json("reconcile", env=env)
    assert report["complete"] and report["counts"]["stored"] == 1
    assert report["media"]["counts"]["stored"] == 1


def test_a_misconfigured_store_is_named_and_given_up_on_not_waited_on_for_ever(stack):
    """Review F4: wrong keys, a missing bucket or a bad digest were an "outage",
    retried for ever with no failure and no dead letter."""
    from archivers.capture.archiver import PageArchiver
    from archivers.errors import Retryable, StoreMisconfigured
    from archivers.net.addresses import parse_allow_list
    from archivers.net.fetcher import Fetcher, FetchSettings
    from streams.agents.capture import CaptureStage
    from streams.settings import RetryPolicy
    from tests.support.stages import (
        NAMES,
        SEALS,
        EventsSeen,
        RecordingProducer,
        ingest,
        no_sleep,
        submit,
    )

    bucket = f"m{uuid.uuid4().hex[:8]}-bucket"
    from dataclasses import replace

    root = settings_of(stack.env(WARCFLOW_S3_BUCKET=bucket), "admin", local_stack=True).store
    good = S3Store(root)
    assert good.ensure_bucket()
    data = b"evidence"
    digest = hashlib.sha256(data).hexdigest()

    def put(store, sha256=digest):
        return store.put_new(
            "probe/x.bin", io.BytesIO(data), size=len(data), sha256=sha256, content_type="x/y"
        )

    for change, setting in (
        ({"secret_key": "not-the-secret"}, "WARCFLOW_S3_SECRET_KEY"),
        ({"access_key": "nobody-knows-me"}, "WARCFLOW_S3_ACCESS_KEY"),
        ({"bucket": f"n{uuid.uuid4().hex[:8]}-missing"}, "WARCFLOW_S3_BUCKET"),
    ):
        bad = S3Store(replace(root, **change))
        with pytest.raises(StoreMisconfigured) as refused:
            put(bad)
        assert refused.value.setting == setting and setting in str(refused.value)
        assert refused.value.reason == "store_misconfigured"
    with pytest.raises(Retryable) as damaged:  # the server computes another checksum
        put(good, sha256=hashlib.sha256(b"other bytes").hexdigest())
    assert damaged.value.reason == "store_bad_digest"
    assert put(good) is True

    with TestSite() as site:
        wrong = S3Store(replace(root, secret_key="wrong"))
        pages = PageArchiver(
            Fetcher(FetchSettings(allow=parse_allow_list(site.allow))), wrong, agent={"name": "t"}
        )
        producer = RecordingProducer()
        stage = CaptureStage(
            pages,
            producer,
            NAMES,
            RetryPolicy(3, 0.01, 0.02),
            EventsSeen(producer),
            sleep=no_sleep,
            seals=SEALS,
        )

        async def until_done():
            outcome = await stage.on_ingest(ingest(submit(site.url("/post/1"))))
            for _ in range(20):  # the old code retried for ever
                if outcome != "retry":
                    break
                again = producer.on(NAMES.retry("capture"))[-1]
                from tests.support.stages import as_message

                outcome = await stage.on_retry(as_message(NAMES.retry("capture"), again))
            return outcome

        assert asyncio.run(until_done()) == "failed"
    [letter] = producer.on(NAMES.dead_letter)
    assert letter["reason"] == "retries_exhausted:store_misconfigured"
    assert "WARCFLOW_S3_SECRET_KEY" in letter["message"] and len(letter["attempts"]) == 3

    # a worker given its own access key with a wrong secret (explicit settings win
    # over the credentials file, as in a production container) refuses to start
    env = stack.agent_env("m", "127.0.0.1:1")
    access = settings_of(env, "worker").store.access_key
    started = cli(
        "worker",
        env={**env, "WARCFLOW_S3_ACCESS_KEY": access, "WARCFLOW_S3_SECRET_KEY": "wrong"},
        timeout=120,
    )
    assert started.returncode == 3 and "WARCFLOW_S3_SECRET_KEY" in started.stderr


def test_forged_internal_messages_are_refused_by_the_broker_or_dead_lettered_by_the_stage(paths):
    """Security review F2 on the real broker and worker: a retry naming a
    victim's capture id with a decoy URL, a media request with a decoy video, a
    fixity mismatch for the victim's ledger. Without credentials the broker
    refuses them; with a (leaked) worker's, the stages dead-letter each one with
    its reason — unsealed, forged, unknown key, a role that may not make it, or
    a retry not bound to its origin — and the genuine capture and its one
    ledger entry are what is kept."""
    import subprocess

    from kafka import KafkaProducer

    from archivers.clock import iso, utc_now
    from archivers.store import layout
    from streams.keys import site_key
    from streams.messages.capture import RetryRequest, SubmitRequest
    from streams.messages.seal import MacKey, Seals
    from warcflow import credentials

    env, site, prefix = paths["env"], paths["site"], paths["prefix"]
    victim_url, decoy = site.url("/post/1?victim"), site.url("/post/1?decoy")
    ingest = f"{prefix}.ingest"
    # the victim's submission; like the attacker of the review, compute its capture
    # id from the ingest message's coordinates and race its capture
    submitter = KafkaProducer(**kafka_of(env, "submitter").client_kwargs(), acks="all")
    request = SubmitRequest.new(victim_url, submitted_at=utc_now())
    sent = submitter.send(ingest, key=site_key(victim_url), value=request.to_json())
    meta = sent.get(30)
    submitter.close(10)
    victim_id = layout.capture_id(ingest, meta.partition, meta.offset, meta.timestamp)

    # no credentials: the broker itself refuses every internal topic (kcat, at once)
    argv = ["kcat", "-b", env["WARCFLOW_KAFKA_BOOTSTRAP"], "-X", "message.timeout.ms=3000"]
    plain = {
        topic: subprocess.Popen(
            [*argv, "-P", "-t", f"{prefix}.{topic}"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for topic in ("retry.capture", "media", "custody")
    }
    for topic, kcat in plain.items():
        _out, said = kcat.communicate("{}\n", timeout=30)
        assert kcat.returncode == 1 and "SASL" in said, (topic, said[-500:])

    keys = credentials.load(Path(env["WARCFLOW_CREDENTIALS"]))
    assert keys is not None
    worker_keys = Seals(keys.mac_keys("worker"), "worker")
    viewer_key = Seals(keys.mac_keys("viewer"), "viewer")
    mallory = Seals((MacKey("worker", b"m" * 32),), "worker")
    retry_topic, media_topic, custody_topic = (
        f"{prefix}.retry.capture",
        f"{prefix}.media",
        f"{prefix}.custody",
    )

    def retry(origin_offset: int) -> bytes:
        request = SubmitRequest.new(decoy, submitted_at=utc_now())
        origin = {
            "topic": ingest,
            "partition": 0,
            "offset": origin_offset,
            "timestamp": iso(utc_now()),
        }
        return RetryRequest("capture", victim_id, request.to_dict(), origin, 2, utc_now()).to_json()

    media_url = site.url("/media/decoy.mp4")
    media = json.dumps(
        {
            "schema": "warcflow.MediaRequest",
            "version": 1,
            "media_id": layout.media_id(victim_id, media_url),
            "parent_capture_id": victim_id,
            "page_url": victim_url,
            "media_url": media_url,
            "kind": "direct",
            "found_by": "forged",
            "submitted_at": iso(utc_now()),
        }
    ).encode()
    mismatch = json.dumps(
        {
            "schema": "warcflow.CustodyEvent",
            "version": 1,
            "event": "fixity",
            "event_id": f"fixity:{victim_id}:forged",
            "at": iso(utc_now()),
            "who": "schedule",
            "capture_id": victim_id,
            "url": victim_url,
            "objects": [],
            "detail": {
                "ok": False,
                "objects": [{"key": layout.warc_key(victim_id), "status": "mismatch"}],
            },
        }
    ).encode()
    bad_mac = json.loads(mallory.seal(custody_topic, mismatch))
    bad_mac["seal"]["kid"] = worker_keys.sealing_key.kid  # the worker's key id, not its key
    forged = [
        (retry_topic, retry(0), "unsealed"),
        (retry_topic, worker_keys.seal(retry_topic, retry(10**9)), "unbound"),  # the real key
        (media_topic, media, "unsealed"),
        (custody_topic, mismatch, "unsealed"),
        (custody_topic, json.dumps(bad_mac).encode(), "forged"),
        (custody_topic, mallory.seal(custody_topic, mismatch), "unknown_key"),
        (custody_topic, viewer_key.seal(custody_topic, mismatch), "wrong_role"),  # leaked viewer
    ]
    leaked = kafka_of(env, "worker")  # past the broker: a worker's Kafka credentials
    where = {}
    for topic, value, why in forged:
        [(partition, offset)] = hostile.produce(leaked, topic, [(value, None)], key=b"forged")
        where[(topic, partition, offset)] = why

    def dead():
        found = {
            (s["topic"], s["partition"], s["offset"]): letter["reason"]
            for letter in run_json("dlq", "list", env=env)
            for s in [letter["source"]]
        }
        return found if set(where) <= set(found) else None

    letters = poll(dead, timeout=90, interval=1, what="a dead letter of each forged message")
    assert {position: letters[position] for position in where} == where

    # what is kept is the genuine capture and its ledger entry, and nothing forged
    victim = stored(env, victim_url)
    assert victim["capture_id"] == victim_id and victim["url"] == victim_url
    assert [c["capture_id"] for c in run_json("captures", victim_url, env=env)] == [victim_id]
    store = store_of(env, "operator")

    def ledger_events():
        keys = store.list_keys(f"ledger/by-capture/{victim_id}/")
        found = [json.loads(store.get_bytes(key))["event"] for key in keys]
        return found if "capture" in found else None

    entries = poll(ledger_events, timeout=60, interval=0.5, what="the victim's ledger entry")
    assert entries == ["capture"], entries
    assert paths["worker"].proc.poll() is None
