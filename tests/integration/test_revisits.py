"""Requisites stored once, on the real broker and S3 server, checked by tools that
are not warcflow's writer: pywb replays a revisit from the original in another
capture's WARC, JWAT and gowarc accept the revisit records, and audit and
fixity reach the original through its own capture's ledger entry.

(ReplayWeb.page on an export whose capture holds a revisit, with the original's
WARC packed beside it: tests/e2e/test_interop.py.)
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from infra.processes import free_port
from tests.support import warcs
from tests.support.site import Route
from tests.support.stack import cli, poll, store_of
from tests.support.viewer import running_viewer
from viewer.views import replay_url

pytestmark = pytest.mark.integration

BUNDLE = os.urandom(200 * 1024)  # a platform's script bundle: the same on every page
LOGO = os.urandom(200 * 1024)


def post(n: int) -> bytes:
    return (
        f'<html><head><script src="/rv/bundle.js"></script></head><body><p>post {n}</p>'
        f'<img src="/rv/logo.png"></body></html>'
    ).encode()


@pytest.fixture(scope="module")
def revisited(pipeline, tmp_path_factory):
    site, env = pipeline["site"], pipeline["env"]
    site.routes["/rv/bundle.js"] = Route(BUNDLE, content_type="text/javascript")
    site.routes["/rv/logo.png"] = Route(LOGO, content_type="image/png")
    viewer_env = {
        **env,
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path_factory.mktemp("revisit-viewer")),
    }
    store = store_of(env)
    captures = []
    for n in (1, 2, 3):
        site.routes[f"/rv/post/{n}"] = Route(post(n))
        url = site.url(f"/rv/post/{n}")
        assert cli("submit", url, env=env).returncode == 0  # one after the other
        [summary] = poll(
            lambda url=url: json.loads(cli("captures", url, "--json", env=env).stdout),
            timeout=90,
            interval=0.5,
            what=f"the capture of {url}",
        )
        assert summary["status"] == "stored", summary
        from archivers.manifests.manifest import Manifest
        from archivers.store import layout

        captures.append(
            Manifest.from_json(
                store.get_bytes(layout.manifest_key(summary["url"], summary["capture_id"]))
            )
        )
    with running_viewer(viewer_env) as (viewer, client):
        yield {
            **pipeline,
            "captures": captures,
            "store": store,
            "viewer": viewer,
            "client": client,
            "viewer_env": viewer_env,
        }


def test_later_captures_store_the_shared_requisites_once(revisited, tmp_path):
    first, second, third = revisited["captures"]
    site = revisited["site"]
    assert first.revisits == []
    for later in (second, third):
        assert {r["url"] for r in later.revisits} == {
            site.url("/rv/bundle.js"),
            site.url("/rv/logo.png"),
        }
        assert later.originals() == {first.capture_id: first.warc_key}
        # the 400 KiB of requisites are in the first WARC only
        assert first.size > len(BUNDLE) + len(LOGO)
        assert later.size < 0.05 * first.size, (later.size, first.size)
    # the payload index: one entry per requisite, naming the first capture
    store = revisited["store"]
    for revisit in third.revisits:
        from archivers.store import layout

        entry = json.loads(store.get_bytes(layout.payload_key(revisit["sha256"])))
        assert entry["capture_id"] == first.capture_id

    # JWAT and gowarc (not warcio) accept the WARCs with revisit records
    paths = []
    for manifest in (first, second):
        path = tmp_path / f"{manifest.capture_id}.warc.gz"
        path.write_bytes(store.get_bytes(manifest.warc_key))
        paths.append(path)
    reports = warcs.assert_valid(paths)
    assert all(r.ok for r in reports)


def test_pywb_replays_a_revisit_from_the_original_capture(revisited):
    second, site = revisited["captures"][1], revisited["site"]
    base = revisited["viewer"].settings.replay_base
    for path, body in (("/rv/bundle.js", BUNDLE), ("/rv/logo.png", LOGO)):
        raw = replay_url(base, "warcflow", site.url(path), second.fetched_at, original=True)

        def replayed(raw=raw):
            with urllib.request.urlopen(raw, timeout=10) as response:
                return response.read(), response.headers

        data, headers = poll(replayed, timeout=30, interval=0.5, what=f"replay of {path}")
        assert data == body  # the whole payload, from the first capture's WARC
        assert headers["Memento-Datetime"]


def test_audit_and_fixity_reach_the_original_through_its_ledger_entry(revisited):
    env = revisited["env"]
    first, second = revisited["captures"][:2]

    def audited():
        done = cli("audit", second.capture_id, "--json", env=env)
        report = json.loads(done.stdout)
        checks = {c["name"]: c for r in report["captures"] for c in r["checks"]}
        name = f"object {first.warc_key}"
        return checks if name in checks and checks[name]["ok"] else None

    checks = poll(audited, timeout=60, interval=1, what="the original's ledger entry")
    revisits = checks[f"revisits {second.capture_id}"]
    assert revisits["ok"] and "2 revisit records resolve" in revisits["detail"], revisits

    done = cli("fixity", "--capture", second.capture_id, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    alone = json.loads(cli("fixity", "--capture", first.capture_id, "--json", env=env).stdout)
    # the later capture's objects include the first capture's (its WARC among them)
    assert json.loads(done.stdout)["objects"] > alone["objects"]


def test_a_damaged_original_fails_the_later_captures_audit(revisited, tmp_path: Path):
    """The original's bytes changed behind warcflow's back (a newer version of its
    key): the later capture's audit names the revisit that no longer resolves."""
    env = revisited["env"]
    first, _second, third = revisited["captures"]
    root = store_of(env, "admin")
    data = bytearray(root.get_bytes(first.warc_key))
    ref = third.revisits[0]["refers_to"]
    data[ref["offset"] + 40] ^= 0xFF  # inside the original's gzip member
    warcs.overwritten(root.bucket, first.warc_key)
    root.client.put_object(Bucket=root.bucket, Key=first.warc_key, Body=bytes(data))
    done = cli("audit", third.capture_id, "--json", env=env)
    assert done.returncode != 0
    report = json.loads(done.stdout)
    checks = {c["name"]: c for r in report["captures"] for c in r["checks"]}
    assert not checks[f"revisits {third.capture_id}"]["ok"]
    assert not checks[f"object {first.warc_key}"]["ok"]
    done = cli("fixity", "--capture", third.capture_id, "--json", env=env)
    assert done.returncode == 1
    assert first.warc_key in {bad["key"] for bad in json.loads(done.stdout)["failed"]}


def test_get_says_a_warc_with_revisits_does_not_stand_alone(revisited, tmp_path):
    env = revisited["env"]
    first, second = revisited["captures"][:2]
    out = tmp_path / "second.warc.gz"
    done = cli("get", second.capture_id, "-o", str(out), env=env)
    assert done.returncode == 0 and out.stat().st_size == second.size
    assert "has 2 revisit record(s)" in done.stderr and "warcflow export" in done.stderr
    alone = cli("get", first.capture_id, "-o", str(tmp_path / "first.warc.gz"), env=env)
    assert alone.returncode == 0 and "revisit" not in alone.stderr


def test_the_court_pack_says_where_the_requisites_bytes_are(revisited, tmp_path):
    import subprocess

    env = revisited["env"]
    first, second = revisited["captures"][:2]
    out = tmp_path / "report.pdf"
    done = cli("report", second.capture_id, "-o", str(out), "--frames", "0", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert "stored before" in flat and "2 requisite(s)" in flat
    assert first.capture_id in flat  # the original's capture, named
    assert f"revisits {second.capture_id}" in flat  # the audit's check, in the pack
