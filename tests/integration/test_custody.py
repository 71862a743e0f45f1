"""The Kazan scenario on the real broker and S3: a post with a clip is captured,
then deleted by its poster; the recheck marks it gone with times; the capture
still audits clean (ledger inclusion, signed head, TSA token) and its export
verifies offline. Then tampering: every change is caught and named.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from infra.processes import free_port
from infra.tsa import LocalTSA
from tests.support import media as testmedia
from tests.support.observe import media_of
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, poll, store_of
from tests.support.tsa import http_tsa as serve
from tests.support.viewer import TESTER, running_viewer
from tests.support.warcs import tampered
from viewer.views import replay_url

pytestmark = pytest.mark.integration

POST = "/post/kazan"
KAZAN = (
    b"<html><head><title>Mobilized soldiers protest in Kazan</title>"
    b'<meta property="og:video" content="/media/clip.mp4"></head>'
    b"<body><article><p>Mobilized soldiers protest in Kazan</p></article></body></html>"
)


@pytest.fixture(scope="module")
def http_tsa(tmp_path_factory):
    """A second, independent TSA reached over HTTP on 127.0.0.1 (production lists
    two or more): its own root, so its tokens verify only against its own CA."""
    authority = LocalTSA(tmp_path_factory.mktemp("http-tsa"))
    ca = authority.dir / "ca.pem"
    ca.write_bytes(authority.ca_pem())
    down = threading.Event()  # set: the TSA is out of service (503)

    with serve(authority, down) as url:
        yield {"setting": f"{url} {ca}", "ca": ca, "down": down}


@pytest.fixture(scope="module")
def custody(stack, media_set, http_tsa, tmp_path_factory):
    with TestSite() as site:
        testmedia.install(site, media_set, "http://127.0.0.1:9")
        site.routes[POST] = Route(KAZAN)
        env = stack.agent_env(
            "k",
            site.allow,
            WARCFLOW_LEDGER_HEAD_EVERY="2",
            WARCFLOW_RECHECK_DELAYS="2,3600",
            WARCFLOW_TSA=f"local,{http_tsa['setting']}",
        )
        prefix = env["WARCFLOW_TOPIC_PREFIX"]
        log = Path(tmp_path_factory.mktemp("logs")) / "worker.log"
        worker = WorkerProcess(env, log).start()
        try:
            yield {
                "env": env,
                "site": site,
                "prefix": prefix,
                "worker": worker,
                "home": stack.home,
                "http_tsa": http_tsa,
            }
        finally:
            worker.stop()


def run_json(*args, env, ok=(0,)):
    done = cli(*args, "--json", env=env)
    assert done.returncode in ok, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def audited(env, target):
    """Audit until the capture is in a signed head (heads come every 2 s here)."""

    def clean():
        report = run_json("audit", target, env=env, ok=(0, 1, 5))
        last.append([c for r in report["captures"] for c in r["checks"] if not c["ok"]])
        return report if report["ok"] else None

    last: list = []
    try:
        return poll(clean, timeout=60, interval=1, what=f"a clean audit of {target}")
    except AssertionError:
        raise AssertionError(f"audit of {target} still fails: {last[-1]}") from None


@pytest.fixture(scope="module")
def kazan(custody):
    """The Kazan post captured with its clip (each test that needs it asks for it)."""
    env, site = custody["env"], custody["site"]
    assert cli("submit", site.url(POST), "--tag", "kazan", env=env).returncode == 0
    return media_of(env, site.url(POST))


def test_kazan_capture_outlives_the_deletion_and_proves_itself(custody, kazan, tmp_path):
    env, site = custody["env"], custody["site"]
    url = site.url(POST)
    capture = kazan
    [media] = capture["media"]
    assert capture["status"] == "stored" and media["status"] == "stored"

    report = audited(env, url)
    [one] = report["captures"]
    names = {c["name"] for c in one["checks"]}
    assert f"object {capture['warc_key']}" in names and f"object {media['key']}" in names
    assert f"records {capture['warc_key']}" in names
    assert (
        f"inclusion {capture['capture_id']}" in names and f"inclusion {media['media_id']}" in names
    )
    assert any(n.startswith("tsa local head") for n in names)
    assert any(n.startswith("tsa 127.0.0.1 head") for n in names)  # both TSAs stamped it
    assert any(n == f"order {capture['capture_id']}" for n in names)
    assert one["items"]["url"] and one["items"]["html"] and one["items"]["media"]
    assert {e["event"] for e in one["custody"]} >= {"capture"}

    # The first recheck comes on its own, soon after the capture: alive.
    alive = poll(
        lambda: (lambda s: s if s.get("state") == "alive" else None)(
            run_json("liveness", url, env=env, ok=(0, 4))
            if cli("liveness", url, env=env).returncode == 0
            else {}
        ),
        timeout=60,
        interval=1,
        what="a first recheck",
    )
    assert alive["last_seen_alive"] and alive["first_seen_gone"] is None

    site.routes[POST] = Route(KAZAN.replace(b"</article>", b"<p>12 comments</p></article>"))
    changed = run_json("recheck", url, env=env)
    assert changed["state"] == "changed" and changed["first_seen_gone"] is None

    site.delete(POST)  # the poster deletes it
    gone = run_json("recheck", url, env=env)
    assert gone["state"] == "gone" and gone["history"][-1]["http_status"] == 404
    assert gone["last_seen_alive"] < gone["first_seen_gone"]
    again = run_json("recheck", url, env=env)
    assert again["first_seen_gone"] == gone["first_seen_gone"]  # the first time it was seen gone

    # Deleted at the source, still here, and still provable.
    warc = tmp_path / "kazan.warc.gz"
    assert cli("get", capture["capture_id"], "-o", str(warc), env=env).returncode == 0
    assert b"Mobilized soldiers protest in Kazan" in gzip.decompress(warc.read_bytes())
    final = audited(env, capture["capture_id"])
    assert "first seen gone" in next(
        c["detail"] for c in final["captures"][0]["checks"] if c["name"] == "liveness"
    )
    assert {e["event"] for e in final["captures"][0]["custody"]} >= {"capture", "recheck"}

    # Exported, it proves itself with nothing but the file: no S3, no Kafka, another home.
    wacz = tmp_path / "kazan.wacz"
    exported = run_json("export", url, "-o", str(wacz), env=env)
    assert exported["captures"] == [capture["capture_id"]]
    offline = {
        **env,
        "WARCFLOW_S3_ENDPOINT": "http://127.0.0.1:9",
        "WARCFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "WARCFLOW_HOME": str(tmp_path / "elsewhere"),
    }
    # Pinned by default: without pins every check holds against the package's own
    # keys only, and verify says so with exit 6; with the published trust file, 0.
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(run_json("ledger", "key", env=env)))
    unpinned = run_json("verify", str(wacz), env=offline, ok=(6,))
    assert unpinned["ok"] and unpinned["trust"] == "unpinned"
    checked = run_json("verify", str(wacz), "--trust", str(trust), env=offline)
    assert checked["ok"], [c for c in checked["checks"] if not c["ok"]]
    assert checked["trust"] == "pinned" and not checked["unpinned"]
    assert all(sorted(tsas) == ["127.0.0.1", "local"] for tsas in checked["coverage"].values())
    names = {c["name"] for c in checked["checks"]}
    assert {
        f"records archive/{capture['capture_id']}.warc.gz",
        f"records archive/{media['media_id']}.warc.gz",
        f"ledger {capture['capture_id']}",
        f"ledger {media['media_id']}",
        f"order {capture['capture_id']}",
        "datapackage-digest",
    } <= names
    assert any(n.startswith("tsa local head") for n in names)
    assert checked["fingerprints"]["export_key"] == exported["export_key_sha256"]
    import zipfile

    with zipfile.ZipFile(wacz) as zf:
        report = zf.read("warcflow/report.html").decode()
        assert "Mobilized soldiers protest in Kazan" in report and gone["first_seen_gone"] in report
        assert zf.read(f"warcflow/{media['sha256']}.mp4") == _store(env).get_bytes(media["key"])
    # ... and the export itself is in the ledger.
    poll(
        lambda: (
            "export"
            in {
                e["event"]
                for e in run_json("audit", capture["capture_id"], env=env, ok=(0, 1, 5))[
                    "captures"
                ][0]["custody"]
            }
        ),
        timeout=60,
        interval=1,
        what="the export custody event",
    )
    [export_entry] = [
        e
        for e in run_json("audit", capture["capture_id"], env=env, ok=(0, 1))["captures"][0][
            "custody"
        ]
        if e["event"] == "export"
    ]
    # the file's name, not where the exporter keeps it; no login name (review F12)
    assert export_entry["detail"]["file"] == "kazan.wacz"
    operator = env.get("WARCFLOW_OPERATOR")
    assert export_entry["who"] == (f"{operator} (cli)" if operator else "cli")

    # The viewer: replays the deleted post, shows the audit, custody and liveness,
    # and a download through it is a custody event.
    # It runs elsewhere (its own HOME: no ledger key, no TSA of its own), so it
    # trusts the published trust file, never the keys in the bucket.
    viewer_env = {
        **env,
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path / "viewer-home"),
        "WARCFLOW_TRUST": str(trust),
    }
    with running_viewer(viewer_env) as (viewer, client):
        poll(
            lambda: client.get("/api/captures", params={"url": url}).json(),
            timeout=30,
            what="the viewer's catalog",
        )
        # the audit runs in the background: the page says so until it is done
        html = poll(
            lambda: (lambda text: text if "audit of this capture is running" not in text else "")(
                client.get(f"/capture/{capture['capture_id']}").text
            ),
            timeout=60,
            what="the audit on the capture page",
        )
        assert "first seen gone" in html and "every check holds" in html
        assert "proof: TSA" in html and "signer&#39;s time" in html  # both times, and which
        assert "Original <strong>gone</strong>" in html
        raw = replay_url(
            viewer.settings.replay_base, "warcflow", url, capture["fetched_at"], original=True
        )
        with urllib.request.urlopen(raw, timeout=10) as response:
            assert b"Mobilized soldiers protest in Kazan" in response.read()
        assert client.get(f"/capture/{capture['capture_id']}/warc").status_code == 200
        # while the viewer runs: its outbox sends the event (a stopping viewer gives
        # it STOP_FLUSH_SECONDS, then keeps it on disk for its next start)
        downloads = poll(
            lambda: [
                e
                for e in run_json("audit", capture["capture_id"], env=env, ok=(0, 1, 5))[
                    "captures"
                ][0]["custody"]
                if e["event"] == "download"
            ],
            timeout=60,
            what="the download in the ledger",
        )
    assert downloads[0]["who"] == f"{TESTER} (viewer)"  # the account, not an address


def _store(env):
    return store_of(env, "admin")  # the S3 root: what an attacker with it can do


def test_a_locked_capture_object_cannot_be_deleted(custody):
    env, site = custody["env"], custody["site"]
    url = site.url("/post/1")
    assert cli("submit", url, env=env).returncode == 0
    capture = poll(lambda: run_json("captures", url, env=env), timeout=60, what="a capture")[0]
    store = _store(env)
    version = store.head(capture["warc_key"]).version_id
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        store.client.delete_object(Bucket=store.bucket, Key=capture["warc_key"], VersionId=version)
    assert store.head(capture["warc_key"]).version_id == version


def test_a_head_on_demand_covers_everything_recorded(custody):
    env, site = custody["env"], custody["site"]
    url = site.url("/post/1?head")
    assert cli("submit", url, env=env).returncode == 0
    [capture] = poll(lambda: run_json("captures", url, env=env), timeout=60, what="a capture")
    from archivers.custody.ledger import entry_index_of

    poll(
        lambda: entry_index_of(_store(env), f"stored:{capture['capture_id']}") is not None,
        timeout=60,
        what="its ledger entry",
    )
    entries = list(_store(env).list_keys("ledger/entries/"))  # recorded before asking
    head = run_json("ledger", "head", env=env)
    assert head["size"] >= len(entries) > 0 and head["key_id"]
    assert len(head["tokens"]) == 2  # the local TSA and the one over HTTP


def test_tampering_is_detected_and_named(custody):
    env, site = custody["env"], custody["site"]
    url = site.url("/chunked")
    assert cli("submit", url, env=env).returncode == 0
    capture = poll(lambda: run_json("captures", url, env=env), timeout=60, what="a capture")[0]
    audited(env, url)
    store = _store(env)

    # 1. A new version of the WARC (what Object Lock still allows): named, with its versions.
    data_file = custody["home"] / "s3" / "data" / store.bucket / capture["warc_key"]
    tampered(data_file)  # on purpose: the session's WARC validation leaves this one out
    original = store.get_bytes(capture["warc_key"])
    forged = bytearray(original)
    forged[len(forged) // 2] ^= 0x01
    store.client.put_object(Bucket=store.bucket, Key=capture["warc_key"], Body=bytes(forged))
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"]: c["detail"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert f"object {capture['warc_key']}" in failed
    assert "Object Lock" in failed[f"object {capture['warc_key']}"]
    fixity = cli("fixity", "--capture", capture["capture_id"], env=env)
    assert fixity.returncode == 1 and capture["warc_key"] in fixity.stdout

    # 2. The manifest rewritten (a new version): the ledger's digest no longer matches.
    key = capture["warc_key"]
    store.client.put_object(Bucket=store.bucket, Key=key, Body=original)  # WARC restored
    manifest_key = next(k for k in store.list_keys("manifests/") if capture["capture_id"] in k)
    doc = json.loads(store.get_bytes(manifest_key))
    doc["submitted_at"] = "2020-01-01T00:00:00.000000Z"
    store.client.put_object(Bucket=store.bucket, Key=manifest_key, Body=json.dumps(doc).encode())
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"]: c["detail"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert manifest_key in failed[f"ledger {capture['capture_id']}"]

    # 3. A byte changed behind S3's back, in the server's data directory.
    raw = bytearray(data_file.read_bytes())
    raw[-40] ^= 0x01
    data_file.write_bytes(bytes(raw))
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert f"object {capture['warc_key']}" in failed

    # 4. The manifest deleted (a delete marker: Object Lock keeps the versions):
    #    still a named failure, not "no such capture".
    store.client.delete_object(Bucket=store.bucket, Key=manifest_key)
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"]: c["detail"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert "missing or unreadable" in failed["manifest"]


def _openssl_ts_verify(tmp_path, head: bytes, token: bytes, ca: Path) -> str:
    """What plain ``openssl ts`` says of a token over a head file: its genTime line."""
    (tmp_path / "head.json").write_bytes(head)
    (tmp_path / "t.tsr").write_bytes(token)
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "head.json", "-in", "t.tsr", "-CAfile", str(ca)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in done.stdout, done.stdout + done.stderr
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", "t.tsr", "-text"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(line for line in text.splitlines() if line.startswith("Time stamp:"))


def test_a_tsa_that_was_down_stamps_every_head_it_missed(custody, kazan, tmp_path):
    """Issue 16 (error-path review item 16): 'stamped by each TSA you configure'."""
    from archivers.custody.ledger import coverage, head_key, latest_head

    env, tsa = custody["env"], custody["http_tsa"]
    store = _store(env)
    before = latest_head(store).size
    tsa["down"].set()
    try:  # a new entry, in a head published while it is down
        assert cli("fixity", "--capture", kazan["capture_id"], env=env).returncode in (0, 1)
        missed = poll(
            lambda: (lambda h: h if h["size"] > before else None)(
                run_json("ledger", "head", env=env)
            ),
            timeout=60,
            what="a head published while the HTTP TSA is down",
        )
        assert missed["coverage"] == {"stamped_by": ["local"], "missing": ["127.0.0.1"]}
        report = run_json("audit", kazan["capture_id"], env=env, ok=(0, 1))
        assert any(c["name"].startswith("coverage head") for c in report["captures"][0]["checks"])
    finally:
        tsa["down"].clear()

    def every_head_has_both():
        sizes = [int(k.rsplit("/", 1)[1].split(".")[0]) for k in store.list_keys("ledger/heads/")]
        return all(sorted(coverage(store, n)) == ["127.0.0.1", "local"] for n in sizes)

    poll(every_head_has_both, timeout=60, what="both TSAs' tokens on every head")
    assert run_json("ledger", "head", env=env)["coverage"]["missing"] == []
    # the late token verifies with plain openssl against the HTTP TSA's own CA
    size = missed["size"]
    assert size > before
    line = _openssl_ts_verify(
        tmp_path,
        store.get_bytes(head_key(size)),
        store.get_bytes(coverage(store, size)["127.0.0.1"]),
        tsa["ca"],
    )
    assert "Time stamp:" in line


def test_a_forged_custody_claim_is_dead_lettered_and_a_real_mismatch_recorded(custody, kazan):
    """Issue 16 (review F2/F8): the ledger stage appended whatever a custody message said."""
    from archivers.custody.fixity import ObjectFixity, summary
    from archivers.custody.ledger import CustodyEvent, entry_index_of
    from streams.messages.custody import custody_json
    from tests.support import hostile
    from tests.support.stack import kafka_of

    env, prefix = custody["env"], custody["prefix"]
    url, cid, warc_key = kazan["url"], kazan["capture_id"], kazan["warc_key"]
    store = _store(env)
    intact = hashlib.sha256(store.get_bytes(warc_key)).hexdigest()
    lie = CustodyEvent(
        "fixity",
        f"fixity:{cid}:forged",
        "2026-12-01T00:00:00Z",
        "warcflow-worker",
        capture_id=cid,
        url=url,
        detail=summary([ObjectFixity(warc_key, intact, "ff" * 32, "mismatch")]),
    )
    # with a worker's (leaked) credentials and the operator's own MAC key: a seal
    # that holds (unsealed, it would be dead-lettered `unsealed` before any claim is
    # read; tests/integration/test_error_paths.py), on a claim that does not
    from pathlib import Path

    from streams.messages.seal import Seals
    from warcflow import credentials

    keys = credentials.load(Path(env["WARCFLOW_CREDENTIALS"]))
    assert keys is not None
    sealed = Seals(keys.mac_keys("operator"), "operator").seal(
        f"{prefix}.custody", custody_json(lie)
    )
    hostile.produce(
        kafka_of(env, "worker"), f"{prefix}.custody", [(sealed, None)], key=cid.encode()
    )
    [letter] = poll(
        lambda: [d for d in run_json("dlq", "list", env=env) if d["reason"] == "false_claim"],
        timeout=60,
        what="the forged claim's dead letter",
    )
    assert warc_key in letter["message"] and "reads back whole" in letter["message"]
    assert entry_index_of(store, lie.event_id) is None

    # A real change behind warcflow's back: a new version of the WARC.
    tampered(custody["home"] / "s3" / "data" / store.bucket / warc_key)
    changed = bytearray(store.get_bytes(warc_key))
    changed[len(changed) // 2] ^= 0x01
    store.client.put_object(Bucket=store.bucket, Key=warc_key, Body=bytes(changed))
    assert cli("fixity", "--capture", cid, env=env).returncode == 1

    def recorded_mismatch():
        report = run_json("audit", cid, env=env, ok=(1,))["captures"][0]
        fixity = next(c for c in report["checks"] if c["name"] == "fixity")
        return fixity if f"{warc_key} mismatch" in fixity["detail"] else None

    assert not poll(recorded_mismatch, timeout=60, what="the real mismatch in the ledger")["ok"]


def test_a_back_dated_ledger_fails_audit_and_verify_naming_the_skew(stack, tmp_path):
    """Review F8 (probe_backdate.py) on the real S3 server: the operator's own key
    signs a head with a clock set to 2020; the local TSA stamps it now."""
    from datetime import UTC, datetime

    from warcio.warcwriter import WARCWriter

    from archivers.custody.fixity import object_digest
    from archivers.custody.ledger import CustodyEvent, Ledger, coverage, head_key
    from archivers.custody.treehead import HeadSigner
    from archivers.manifests.manifest import Manifest
    from archivers.store import layout
    from tests.support.stack import settings_of
    from warcflow import wiring

    env = stack.agent_env("b", "", WARCFLOW_TSA="local")  # a bucket of its own, no worker
    store = store_of(env, "admin")
    settings = settings_of(env)
    url = "https://example.org/post/backdated"
    past = datetime(2020, 1, 1, tzinfo=UTC)
    cid = layout.capture_id("t.ingest", 0, 1, int(past.timestamp() * 1000) - 1000)
    warc = io.BytesIO()
    writer = WARCWriter(warc, gzip=True)
    writer.write_record(
        writer.create_warc_record(
            url,
            "resource",
            payload=io.BytesIO(b"<html>back-dated</html>"),
            warc_content_type="text/html",
            warc_headers_dict={"WARC-Date": "2019-12-31T23:59:30Z"},
        )
    )
    data = warc.getvalue()
    warc_key = layout.warc_key(cid)
    store.put_new(
        warc_key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/warc",
    )
    manifest = Manifest(
        cid,
        url,
        "com,example)/post/backdated",
        "stored",
        "2019-12-31T23:59:00Z",
        stored_at="2019-12-31T23:59:59Z",
        warc_key=warc_key,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    mkey = layout.manifest_key(url, cid)
    raw = manifest.to_json()
    store.put_new(
        mkey,
        io.BytesIO(raw),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        content_type="application/json",
    )
    ledger = Ledger(
        store,
        HeadSigner.from_file(wiring.ledger_key_path(settings)),  # the operator's own key
        wiring.stampers(settings),
        clock=lambda: past,
    )
    ledger.publish_key()
    ledger.append(
        CustodyEvent(
            "capture",
            f"stored:{cid}",
            "2019-12-31T23:59:59Z",
            "warcflow-worker",
            capture_id=cid,
            url=url,
            objects=tuple(object_digest(store, k) for k in (warc_key, mkey)),
            detail={"status": "stored", "manifest_key": mkey, "stored_at": "2019-12-31T23:59:59Z"},
        )
    )
    head = ledger.publish_head()
    assert head is not None and head.head.timestamp.startswith("2020-01-01")
    # plain openssl: the token is genuine, and says now, not 2020
    line = _openssl_ts_verify(
        tmp_path,
        store.get_bytes(head_key(head.head.size)),
        store.get_bytes(coverage(store, head.head.size)["local"]),
        stack.home / "tsa" / "root.pem",
    )
    assert "2020" not in line
    # ... and the head's Ed25519 signature is the operator's own, as plain openssl says
    import base64

    from archivers.custody.treehead import public_pem

    signer = HeadSigner.from_file(wiring.ledger_key_path(settings))
    (tmp_path / "pub.pem").write_bytes(public_pem(signer.public))
    (tmp_path / "head.bin").write_bytes(head.head.signing_input())
    (tmp_path / "head.sig").write_bytes(base64.b64decode(head.head.signature))
    pkeyutl = "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin"
    signed = subprocess.run(
        [*pkeyutl.split(), "-in", "head.bin", "-sigfile", "head.sig"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Signature Verified Successfully" in signed.stdout, signed.stdout + signed.stderr

    done = cli("audit", cid, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    print(done.stdout)  # the closing note of issue 16 quotes it
    skew = next(x for x in done.stdout.splitlines() if f"skew head {head.head.size}" in x)
    assert "FAIL" in skew and "skew: the signer's time 2020-01-01T00:00:00Z" in skew
    assert "WARCFLOW_LEDGER_MAX_SKEW" in skew
    order = next(x for x in done.stdout.splitlines() if f"order {cid}" in x)
    assert "proof: TSA local genTime" in order and "signer's time 2020-01-01" in order

    # exported as `warcflow export` writes it (in-process: no export event needed here)
    from archivers.custody import trustfile
    from archivers.export.signer import ExportSigner
    from archivers.export.wacz import export

    wacz = export(
        store,
        [manifest],
        tmp_path / "backdated.wacz",
        ExportSigner.from_file(tmp_path / "export-key.pem"),
        software="warcflow test",
        version="test",
        created=datetime.now(UTC),
        trust=wiring.configured_trust(settings),
        stampers=wiring.stampers(settings),
    ).path
    trust = tmp_path / "trust.json"  # what `warcflow ledger key --json` prints
    trust.write_text(json.dumps(trustfile.document(wiring.own_pins(settings))))
    verified = run_json("verify", str(wacz), "--trust", str(trust), env=env, ok=(1,))
    failed = {c["name"]: c["detail"] for c in verified["checks"] if not c["ok"]}
    assert failed[f"skew head {head.head.size}"].startswith("skew: the signer's time 2020")


def test_a_forged_head_or_media_file_is_detected(custody, kazan):
    env = custody["env"]
    capture = kazan
    [media] = capture["media"]
    store = _store(env)

    # A new version of the clip itself.
    clip = store.get_bytes(media["key"])
    store.client.put_object(Bucket=store.bucket, Key=media["key"], Body=clip[:-1] + b"\0")
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert f"object {media['key']}" in failed
    store.client.put_object(Bucket=store.bucket, Key=media["key"], Body=clip)

    # Every head rewritten with another root: the proofs and signatures no longer hold.
    for key in store.list_keys("ledger/heads/"):
        head = json.loads(store.get_bytes(key))
        head["root"] = "00" * 32
        store.client.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(head).encode())
    report = run_json("audit", capture["capture_id"], env=env, ok=(1,))
    failed = {c["name"]: c["detail"] for c in report["captures"][0]["checks"] if not c["ok"]}
    assert "DOES NOT verify" in failed[f"inclusion {capture['capture_id']}"]
    assert any(name.startswith("tsa ") for name in failed)  # tokens stamped the real head
