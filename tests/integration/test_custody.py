"""The Kazan scenario on the real broker and S3: a post with a clip is captured,
then deleted by its poster; the recheck marks it gone with times; the capture
still audits clean (ledger inclusion, signed head, TSA token) and its export
verifies offline. Then tampering: every change is caught and named.
"""

from __future__ import annotations

import gzip
import json
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
from tests.support.viewer import running_viewer
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

    with serve(authority) as url:
        yield f"{url} {ca}"


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
            WARCFLOW_TSA=f"local,{http_tsa}",
        )
        prefix = env["WARCFLOW_TOPIC_PREFIX"]
        log = Path(tmp_path_factory.mktemp("logs")) / "worker.log"
        worker = WorkerProcess(env, log).start()
        try:
            yield {"env": env, "site": site, "prefix": prefix, "worker": worker, "home": stack.home}
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
    checked = run_json("verify", str(wacz), env=offline)
    assert checked["ok"], [c for c in checked["checks"] if not c["ok"]]
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
    viewer_env = {
        **env,
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path / "viewer-home"),
    }
    with running_viewer(viewer_env) as (viewer, client):
        poll(
            lambda: client.get("/api/captures", params={"url": url}).json(),
            timeout=30,
            what="the viewer's catalog",
        )
        html = client.get(f"/capture/{capture['capture_id']}").text
        assert "first seen gone" in html and "every check holds" in html
        assert "Original <strong>gone</strong>" in html
        raw = replay_url(
            viewer.settings.replay_base, "warcflow", url, capture["fetched_at"], original=True
        )
        with urllib.request.urlopen(raw, timeout=10) as response:
            assert b"Mobilized soldiers protest in Kazan" in response.read()
        assert client.get(f"/capture/{capture['capture_id']}/warc").status_code == 200
    poll(
        lambda: any(
            e["event"] == "download"
            for e in run_json("audit", capture["capture_id"], env=env, ok=(0, 1, 5))["captures"][0][
                "custody"
            ]
        ),
        timeout=30,
        what="the download in the ledger",
    )


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
