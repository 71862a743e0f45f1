"""What warcflow exports, checked by the tools other people use, not by warcflow.

The Kazan case on the real broker and S3 server: a post with a clip is captured
statically, then again in the browser after it gained a line of comments (the
clip, stored before, becomes a revisit record, and so does its stylesheet: a
requisite stored before, ``archivers.warc.payloads``); then the poster deletes the
post, its stylesheet and the clip. Three packages are exported — the newest capture, ``--all``
(both), and the newest signed as a domain — and then:

- **ReplayWeb.page** (the npm package at the version infra/replaywebpage.py
  pins, served on loopback, in Debian's chromium) opens each and shows what a
  person would see: the post's text in the replay frame, the clip playing (its
  clock advances, its width is the source's), the stylesheet applied from the
  first capture's WARC that the newest one's revisit names (packed beside it),
  every capture of an ``--all``
  package at its own time; and its own verdict on the signature is ``matched``
  (the IndexedDB ``verification`` row, not ``numValid``, which counts the row
  whatever it says);
- py-wacz's ``wacz validate`` accepts each (it checks what the player does not:
  every file's hash, datapackage.json against the signed hash);
- JWAT and gowarc check every record digest of every WARC, stored and exported,
  and fail on one changed byte;
- webrecorder's ``cdxj-indexer`` gives, line for line, the CDXJ warcflow stored
  for each WARC and the index inside each package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archivers.clock import parse_iso
from archivers.warc.cdxj import timestamp14
from tests.support import media as testmedia
from tests.support import warcs
from tests.support.indexers import cdxj_indexer, cdxj_indexer_version
from tests.support.replayer import Player, chromium
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, poll, store_of
from tests.support.tlscerts import make_pki

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
POST = "/post/kazan"
CLIP = "/media/clip.mp4"
TEXT = "Mobilized soldiers protest in Kazan"
LATER = "12 comments under the post"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CSS = "/static/kazan.css"
STYLE = b"article p { color: rgb(1, 2, 3); }\n" + b"/* the platform's bundle */\n" * 200
"""Over archivers.warc.payloads.MIN_PAYLOAD: the second capture writes it as a revisit."""


def page(extra: str = "") -> bytes:
    return testmedia.post(
        TEXT,
        f'<link rel="stylesheet" href="{CSS}">'
        f'<video src="{CLIP}" controls muted playsinline></video>{extra}',
    )


def run_json(*args, env, ok=(0,)):
    done = cli(*args, "--json", env=env, timeout=300)
    assert done.returncode in ok, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def kazan(stack, media_set, tmp_path_factory):
    """Two captures of the post, the original deleted, three packages exported."""
    root = tmp_path_factory.mktemp("interop")
    with TestSite() as site:
        testmedia.install(site, media_set, "http://127.0.0.1:9")
        site.routes[POST] = Route(page())
        site.routes[CSS] = Route(STYLE, content_type="text/css")
        env = stack.agent_env(
            "i",
            site.allow,
            WARCFLOW_LEDGER_HEAD_EVERY="2",
            WARCFLOW_TSA="local",
            WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
            WARCFLOW_BROWSER_IDLE_TIMEOUT="3",
            WARCFLOW_HOME=str(root / "home"),
        )
        worker = WorkerProcess(env, root / "worker.log").start()
        try:
            url = site.url(POST)
            captures = []
            for mode, html in (("--static", page()), ("--browser", page(f"<p>{LATER}</p>"))):
                site.routes[POST] = Route(html)
                assert cli("submit", mode, url, env=env).returncode == 0
                captures.insert(0, _stored(env, url, len(captures) + 1))
            site.delete(POST)  # the poster deletes the post, its stylesheet and the clip
            site.delete(CSS)
            site.delete(CLIP)
            poll(
                lambda: run_json("audit", url, env=env, ok=(0, 1))["ok"],
                timeout=90,
                interval=1,
                what="both captures in a signed head",
            )
            pki = make_pki(root, names=("archive.example.org",))
            packages = {
                "post": run_json("export", url, "-o", str(root / "post.wacz"), env=env),
                "all": run_json("export", url, "--all", "-o", str(root / "all.wacz"), env=env),
                "domain": run_json(
                    "export",
                    url,
                    "-o",
                    str(root / "domain.wacz"),
                    "--domain-cert",
                    str(pki.chain_file),
                    "--domain-key",
                    str(pki.key_file),
                    env=env,
                ),
            }
            yield {
                "env": env,
                "url": url,
                "captures": captures,  # newest first
                "packages": packages,
                "root": root,
                "store": store_of(env),
                "clip_width": testmedia.CLIP["width"],
            }
        finally:
            worker.stop()


def _stored(env, url, count):
    """Wait until ``url`` has ``count`` captures, the newest with its media stored."""

    def done():
        found = run_json("captures", url, env=env)
        if len(found) >= count and found[0]["media"] and found[0]["media"][0]["status"]:
            return found[0]
        return None

    capture = poll(done, timeout=120, interval=0.5, what=f"capture {count} of {url}")
    assert capture["status"] == "stored" and capture["media"][0]["status"] == "stored", capture
    return capture


@pytest.fixture(scope="module")
def player(kazan, tmp_path_factory):
    with Player(tmp_path_factory.mktemp("replaywebpage")) as served, chromium() as browser:
        served.browser = browser
        yield served


def _package(path: Path) -> tuple[dict, dict, bytes]:
    with zipfile.ZipFile(path) as zf:
        raw = zf.read("datapackage.json")
        return json.loads(raw), json.loads(zf.read("datapackage-digest.json")), raw


def _replayed(kazan, player, name, capture, text):
    wacz = Path(kazan["packages"][name]["file"])
    source = player.add(wacz)
    replay = player.open(
        player.browser,
        source,
        capture["final_url"] or kazan["url"],
        timestamp14(capture["fetched_at"]),
        text,
    )
    package, digest, raw = _package(wacz)
    # the player's own verdict on the signature, and over what it checked it
    assert replay.signature_matched is True, replay.verification
    verify = replay.info["verify"]
    assert verify["datapackageHash"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert replay.info["title"] == package["title"]
    video = replay.playing(seconds=1.0)
    assert video["error"] is None and video["videoWidth"] == kazan["clip_width"], video
    assert replay.foreign == [], replay.foreign  # the replay asked nothing of the web
    return replay, verify, digest


def test_replaywebpage_replays_the_deleted_post_with_its_clip(kazan, player):
    newest = kazan["captures"][0]
    replay, verify, digest = _replayed(kazan, player, "post", newest, LATER)
    assert TEXT in replay.frame.inner_text("body")
    # the stylesheet is a revisit in the newest capture: the player found the
    # original in the first capture's WARC, packed beside it, and applied it
    manifest = _manifest(kazan, newest)
    assert [r["url"] for r in manifest.revisits] == [kazan["url"].replace(POST, CSS)]
    color = replay.frame.evaluate("getComputedStyle(document.querySelector('article p')).color")
    assert color == "rgb(1, 2, 3)"
    signed = digest["signedData"]
    assert verify["publicKey"] == signed["publicKey"]  # the key it verified with: ours
    assert (
        hashlib.sha256(base64.b64decode(signed["publicKey"])).hexdigest()
        == (kazan["packages"]["post"]["export_key_sha256"])
    )
    assert {p["id"] for p in replay.info["pages"]} == {newest["capture_id"]}
    assert kazan["packages"]["post"]["time_stamped_by"] == "local"
    assert {"timeSignature", "timestampCert"} <= set(signed)


def _manifest(kazan, capture):
    from archivers.manifests.manifest import Manifest
    from archivers.store import layout

    key = layout.manifest_key(kazan["url"], capture["capture_id"])
    return Manifest.from_json(kazan["store"].get_bytes(key))


def test_replaywebpage_replays_each_capture_of_an_all_export(kazan, player):
    older, newest = kazan["captures"][1], kazan["captures"][0]
    replay, _, _ = _replayed(kazan, player, "all", older, TEXT)
    assert LATER not in replay.frame.inner_text("body")  # the first capture, as it was
    # both captures listed as pages, each at its own time (the player gives epoch ms)
    listed = {p["id"]: p["ts"] for p in replay.info["pages"]}
    assert listed == {
        c["capture_id"]: (parse_iso(c["fetched_at"]) - EPOCH) // timedelta(milliseconds=1)
        for c in (older, newest)
    }
    replay, _, _ = _replayed(kazan, player, "all", newest, LATER)


def test_replaywebpage_counts_a_domain_signature_valid(kazan, player):
    _, verify, digest = _replayed(kazan, player, "domain", kazan["captures"][0], LATER)
    signed = digest["signedData"]
    assert "publicKey" not in signed and signed["domain"] == "archive.example.org"
    assert verify["domain"] == "archive.example.org"
    assert verify["certFingerprint"] == kazan["packages"]["domain"]["export_key_sha256"]


@pytest.mark.parametrize("name", ["post", "all", "domain"])
def test_wacz_validate_and_warcflow_verify_accept_the_packages(kazan, name, tmp_path):
    wacz = kazan["packages"][name]["file"]
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", wacz],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Validation succeeded" in done.stdout, done.stdout + done.stderr
    offline = {**kazan["env"], "WARCFLOW_S3_ENDPOINT": "http://127.0.0.1:9"}
    trust = tmp_path / "trust.json"  # the archive's published keys (docs/formats.md)
    trust.write_text(json.dumps(run_json("ledger", "key", env=offline)))
    checked = run_json("verify", wacz, "--trust", str(trust), env=offline)
    assert checked["ok"], [c for c in checked["checks"] if not c["ok"]]
    assert checked["trust"] == "pinned"
    newest = kazan["captures"][0]["capture_id"]
    resolved = next(c for c in checked["checks"] if c["name"] == f"revisits {newest}")
    assert "1 revisit records resolve to originals in this package" in resolved["detail"]


def _stored_warcs(kazan, into: Path) -> list[Path]:
    """Every WARC of the two captures, written under ``into`` at its S3 key."""
    store, out = kazan["store"], []
    for capture in kazan["captures"]:
        for key in [capture["warc_key"], *(m["warc_key"] for m in capture["media"])]:
            path = into / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store.get_bytes(key))
            out.append(path)
    return out


def _exported_warcs(kazan, into: Path) -> list[Path]:
    out = []
    for name, exported in kazan["packages"].items():
        with zipfile.ZipFile(exported["file"]) as zf:
            for member in zf.namelist():
                if member.startswith("archive/"):
                    zf.extract(member, into / name)
                    out.append(into / name / member)
    return out


def test_every_warc_passes_jwat_and_gowarc_and_one_changed_byte_fails(kazan, tmp_path):
    stored = _stored_warcs(kazan, tmp_path / "s3")
    exported = _exported_warcs(kazan, tmp_path / "packages")
    reports = warcs.assert_valid(stored + exported)
    kinds = {r.tool.split()[0] for r in reports}
    assert kinds == {"jwat-warc", "gowarc"}
    # page (static), page (browser: its screenshot resource), two media WARCs
    assert len(stored) == 4 and len(exported) >= 4
    browser_page = stored[0]  # newest capture first: the browser one
    bad = tmp_path / "bad.warc.gz"
    uri = warcs.one_byte_changed(browser_page, bad, b"resource")  # its screenshot
    for report in warcs.check([bad]):
        assert not report.ok and any(uri in f for f in report.findings), report.summary()


def test_cdxj_indexer_gives_warcflows_index_line_for_line(kazan, tmp_path):
    assert cdxj_indexer_version().startswith("1.5")
    root = tmp_path / "s3"
    store = kazan["store"]
    for path in _stored_warcs(kazan, root):
        key = path.relative_to(root).as_posix()
        capture_id = path.name.removesuffix(".warc.gz")
        index_key = next(k for k in store.list_keys("index/") if capture_id in k)
        ours = store.get_bytes(index_key).decode().splitlines()
        assert ours == cdxj_indexer([path], root), key
    for name, exported in kazan["packages"].items():
        unpacked = tmp_path / "packages" / name
        with zipfile.ZipFile(exported["file"]) as zf:
            zf.extractall(unpacked)
        archive = unpacked / "archive"
        ours = (unpacked / "indexes" / "index.cdxj").read_text().splitlines()
        assert ours == cdxj_indexer(sorted(archive.glob("*.warc.gz")), archive), name


def test_a_domain_signature_without_a_time_stamp_is_refused(kazan, tmp_path):
    no_tsa = {**kazan["env"], "WARCFLOW_TSA": ""}
    pki = make_pki(tmp_path, names=("archive.example.org",))
    out = tmp_path / "unstamped.wacz"
    done = cli(
        "export",
        kazan["url"],
        "-o",
        str(out),
        "--domain-cert",
        str(pki.chain_file),
        "--domain-key",
        str(pki.key_file),
        env=no_tsa,
        timeout=300,
    )
    assert done.returncode == 3 and "needs an RFC 3161 time-stamp" in done.stderr, done.stderr
    assert not out.exists()
    anonymous = run_json("export", kazan["url"], "-o", str(tmp_path / "anon.wacz"), env=no_tsa)
    assert anonymous["time_stamped_by"] is None  # signed all the same, and said so
