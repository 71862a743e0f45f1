"""Export packages on the in-package store: a real capture of a loopback page, a
hand-made media capture, a ledger with a signed head stamped by the local TSA.
The package verifies offline; one changed byte anywhere is caught and named."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest
from warcio.warcwriter import WARCWriter

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.clock import iso, iso_seconds, utc_now
from archivers.custody import trustfile
from archivers.custody.audit import Trust
from archivers.custody.fixity import object_digest
from archivers.custody.ledger import CustodyEvent, Ledger
from archivers.custody.liveness import LivenessState, state_key
from archivers.custody.treehead import HeadSigner
from archivers.export.signer import DomainSigner, ExportSigner, check_signed_data
from archivers.export.verify import NotAWacz, verify_package
from archivers.export.wacz import NoTimestamp, export
from archivers.manifests.manifest import MediaManifest
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from infra.tsa import LocalTSA
from streams.agents.custody import event_objects
from streams.messages.capture import CAPTURE_STORED, MEDIA_STORED
from tests.support.tlscerts import make_pki

CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    return LocalTSA(tmp_path_factory.mktemp("tsa"))


def _put(store, key, data, kind="application/octet-stream"):
    store.put_new(
        key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=kind,
    )


def _media(store, manifest):
    """A stored media capture of the page, as the media stage leaves it."""
    media_id = layout.media_id(manifest.capture_id, "http://127.0.0.1/clip.mp4")
    sha = hashlib.sha256(CLIP).hexdigest()
    _put(store, layout.media_key(sha, "mp4"), CLIP)
    warc = io.BytesIO()
    writer = WARCWriter(warc, gzip=True)
    writer.write_record(
        writer.create_warc_record(
            "http://127.0.0.1/clip.mp4",
            "resource",
            payload=io.BytesIO(CLIP),
            warc_content_type="video/mp4",
            warc_headers_dict={"WARC-Date": iso(utc_now())},
        )
    )
    warc_key = layout.warc_key(media_id)
    _put(store, warc_key, warc.getvalue())
    stored = iso_seconds(utc_now())
    mm = MediaManifest(
        media_id,
        manifest.capture_id,
        manifest.url,
        "http://127.0.0.1/clip.mp4",
        "video",
        "og:video",
        "stored",
        manifest.submitted_at,
        sha256=sha,
        size=len(CLIP),
        key=layout.media_key(sha, "mp4"),
        ext="mp4",
        warc_key=warc_key,
        warc_sha256=hashlib.sha256(warc.getvalue()).hexdigest(),
        warc_size=len(warc.getvalue()),
        stored_at=stored,
    )
    mkey = layout.media_manifest_key(manifest.capture_id, media_id)
    _put(store, mkey, mm.to_json())
    return mm, mkey


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _screenshot(store, manifest):
    """The manifest as the screenshot branch writes it: with ``screenshot_key``."""
    key = f"screenshots/{manifest.capture_id}.png"
    _put(store, key, PNG, "image/png")
    mkey = layout.manifest_key(manifest.url, manifest.capture_id)
    doc = json.loads(store.get_bytes(mkey))
    doc["screenshot_key"] = key
    del store.objects[mkey]
    _put(store, mkey, json.dumps(doc, indent=1, sort_keys=True).encode(), "application/json")
    return key


def _capture(site, store, offset=1):
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        agent={"name": "warcflow", "version": "test"},
    )
    now = utc_now()
    cid = layout.capture_id("t", 0, offset, int(now.timestamp() * 1000))
    return asyncio.run(archiver.capture(CaptureRequest(cid, site.url("/post/1"), now))).manifest


def _record(ledger, store, kind, work, url, doc):
    """The custody event the custody feed makes of a capture or media event."""
    objects = tuple(object_digest(store, k) for k in event_objects(doc))
    ledger.append(
        CustodyEvent(
            kind,
            f"stored:{work}",
            iso(utc_now()),
            "test",
            capture_id=work,
            url=url,
            objects=objects,
        )
    )


@pytest.fixture
def captured(site, tsa, tmp_path, request):
    store = MemoryStore()
    manifest = _capture(site, store)
    cid = manifest.capture_id
    shot = _screenshot(store, manifest) if getattr(request, "param", None) == "screenshot" else None
    mm, mm_key = _media(store, manifest)
    ledger = Ledger(store, HeadSigner.from_file(tmp_path / "head-key.pem"), [tsa])
    ledger.publish_key()
    page_doc = {
        "schema": CAPTURE_STORED,
        "capture_id": cid,
        "warc_key": manifest.warc_key,
        "manifest_key": layout.manifest_key(manifest.url, cid),
        "screenshot_key": shot,
    }
    media_doc = {
        "schema": MEDIA_STORED,
        "capture_id": mm.media_id,
        "warc_key": mm.warc_key,
        "manifest_key": mm_key,
        "key": mm.key,
    }
    _record(ledger, store, "capture", cid, manifest.url, page_doc)
    _record(ledger, store, "media", mm.media_id, manifest.url, media_doc)
    ledger.publish_head()
    state = LivenessState(manifest.url, captures=[cid])
    store.put_state(state_key(manifest.url), state.to_json())
    signer = ExportSigner.from_file(tmp_path / "export-key.pem")
    return store, manifest, mm, signer, tsa


def _trust(store, tsa):
    """What the operator's configuration trusts: the ledger's key (here taken from
    where this test's own ledger published it) and the TSA's CA."""
    keys = {
        k.rsplit("/", 1)[1].removesuffix(".pem"): store.get_bytes(k)
        for k in store.list_keys("ledger/keys/")
    }
    return Trust(public_keys=keys, tsa_cas={tsa.name: tsa.ca_pem()})


def _export(captured, path, signer=None, stampers=None):
    store, manifest, _, anonymous, tsa = captured
    return export(
        store,
        [manifest],
        path,
        signer or anonymous,
        software="warcflow test",
        version="test",
        created=utc_now(),
        trust=_trust(store, tsa),
        stampers=[tsa] if stampers is None else stampers,
    )


def _failed(result):
    return {c.name: c.detail for c in result.checks if not c.ok}


def _rewrite(src, dst, name, change):
    """Copy the ZIP, with member ``name``'s bytes passed through ``change``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename == name else data)


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) // 2] ^= 0x01
    return bytes(out)


def test_the_package_verifies_offline_and_holds_the_evidence(captured, tmp_path):
    store, manifest, mm, signer, _ = captured
    out = _export(captured, tmp_path / "post.wacz")
    assert out.uncovered == () and out.signature == "anonymous" and out.time_stamped_by == "local"
    result = verify_package(out.path)
    assert result.ok, _failed(result)
    names = {c.name for c in result.checks}
    cid = manifest.capture_id
    assert {
        "zip",
        "datapackage-digest",
        f"resource archive/{cid}.warc.gz",
        f"records archive/{cid}.warc.gz",
        f"records archive/{mm.media_id}.warc.gz",
        f"ledger {cid}",
        f"ledger {mm.media_id}",
        f"order {cid}",
        f"order {mm.media_id}",
        "tsa local head 3",
        "head 3",
    } <= names
    assert result.fingerprints["export_key"] == signer.fingerprint
    with zipfile.ZipFile(out.path) as zf:
        assert zf.read(f"archive/{cid}.warc.gz") == store.get_bytes(manifest.warc_key)
        assert zf.read(f"warcflow/{mm.sha256}.mp4") == CLIP
        assert zf.getinfo(f"archive/{cid}.warc.gz").compress_type == zipfile.ZIP_STORED
        pages = zf.read("pages/pages.jsonl").decode().splitlines()
        assert json.loads(pages[0])["format"] == "json-pages-1.0"
        page = json.loads(pages[1])
        assert page["url"] == manifest.url and page["title"] and page["ts"] == manifest.fetched_at
        cdxj = zf.read("indexes/index.cdxj").decode()
        # WACZ readers prepend archive/ to the index's file names
        assert f'"filename": "{cid}.warc.gz"' in cdxj and '"archive/' not in cdxj
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        signed = digest["signedData"]
        assert check_signed_data(signed).ok
        assert len(base64.b64decode(signed["signature"])) == 96  # P-384, raw r||s
        assert {"timeSignature", "timestampCert"} <= set(signed)  # webrecorder/specs#142
        package = json.loads(zf.read("datapackage.json"))
        assert package["metadata"]["title"] == package["title"]  # where the player reads it
        assert signed["created"] == package["created"]
        report = zf.read("warcflow/report.html").decode()
        assert manifest.url in report and mm.sha256 in report and "first seen gone" in report
        assert "an anonymous visitor (no session)" in report  # who the platform saw
        verify_md = zf.read("warcflow/VERIFY.md").decode()
        assert "openssl ts -verify -data warcflow/head-000000000003.json" in verify_md
        assert "sha256sum -c warcflow/SHA256SUMS" in verify_md
        # where a third party gets the fingerprints, and which time is the proof
        assert "warcflow ledger key --json" in verify_md and "--trust trust.json" in verify_md
        assert "The earliest genTime of a head is the proof" in verify_md
        assert "proof of time: earliest TSA genTime" in report and "warcflow ledger key" in report
        audit = json.loads(zf.read(f"warcflow/{cid}.audit.json"))["audit"]
        assert audit["ok"] and audit["capture_id"] == cid


@pytest.mark.parametrize("member", ["warc", "manifest", "head", "datapackage.json", "custody"])
def test_one_changed_byte_is_caught_and_named(captured, tmp_path, member):
    _, manifest, _, _, _ = captured
    out = _export(captured, tmp_path / "post.wacz")
    name = {
        "warc": f"archive/{manifest.capture_id}.warc.gz",
        "manifest": f"warcflow/{manifest.capture_id}.manifest.json",
        "head": "warcflow/head-000000000003.json",
        "datapackage.json": "datapackage.json",
        "custody": "warcflow/custody.json",
    }[member]
    forged = tmp_path / "forged.wacz"
    _rewrite(out.path, forged, name, _flip)
    result = verify_package(forged)
    assert not result.ok
    failed = _failed(result)
    if member == "datapackage.json":
        assert "datapackage.json changed" in failed["datapackage-digest"]
    else:
        assert f"resource {name}" in failed
    if member == "warc":
        assert f"records {name}" in failed or f"ledger {manifest.capture_id}" in failed
    if member == "head":
        assert "tsa local head 3" in failed


def test_a_byte_flipped_in_the_zip_itself_is_named(captured, tmp_path):
    _, manifest, _, _, _ = captured
    out = _export(captured, tmp_path / "post.wacz")
    name = f"archive/{manifest.capture_id}.warc.gz"
    with zipfile.ZipFile(out.path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(out.path.read_bytes())
    raw[info.header_offset + 30 + len(name) + info.compress_size // 2] ^= 0x01
    out.path.write_bytes(bytes(raw))
    failed = _failed(verify_package(out.path))
    assert f"resource {name}" in failed and "unreadable" in failed[f"resource {name}"]


def test_a_pinned_key_that_did_not_sign_the_heads_fails(captured, tmp_path):
    out = _export(captured, tmp_path / "post.wacz")
    other = HeadSigner.from_file(tmp_path / "other.pem")
    from archivers.custody.treehead import public_pem

    failed = _failed(verify_package(out.path, public_keys=[public_pem(other.public)]))
    assert "not by the pinned key" in failed["head 3"]


def test_a_file_that_is_not_a_wacz_is_refused(tmp_path):
    path = tmp_path / "x.wacz"
    path.write_bytes(b"not a zip")
    with pytest.raises(NotAWacz):
        verify_package(path)


def test_wacz_validate_accepts_the_package(captured, tmp_path):
    out = _export(captured, tmp_path / "post.wacz")
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(out.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # wacz 0.6 prints its verdict and exits 0 either way: both are asserted
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout, done.stdout
    # and it notices what the player does not: datapackage.json changed after signing
    forged = tmp_path / "forged.wacz"
    _rewrite(out.path, forged, "datapackage.json", lambda d: d.replace(b"evidence", b"evidenze"))
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(forged)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Validation succeeded" not in done.stdout
    assert "hash mismatch" in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("captured", ["screenshot"], indirect=True)
def test_a_screenshot_is_shown_with_its_url_and_time(captured, tmp_path):
    _, manifest, _, _, _ = captured
    out = _export(captured, tmp_path / "post.wacz")
    cid = manifest.capture_id
    with zipfile.ZipFile(out.path) as zf:
        assert zf.read(f"warcflow/{cid}.screenshot.png") == PNG
        report = zf.read("warcflow/report.html").decode()
    assert f'<img src="{cid}.screenshot.png"' in report
    assert f"Screenshot of {manifest.url}, captured {manifest.fetched_at} UTC" in report
    result = verify_package(out.path)
    assert result.ok, _failed(result)
    assert "records 4 object digests" in next(
        c.detail for c in result.checks if c.name == f"ledger {cid}"
    )


def test_the_verify_command_exits_by_the_result(captured, tmp_path, capsys, monkeypatch):

    from warcflow.cli import main

    store, _, _, _, tsa = captured
    out = _export(captured, tmp_path / "post.wacz")
    # no pins: every check holds, against the package's own key and CA only
    assert main(["verify", str(out.path), "--json"]) == 6
    shown = json.loads(capsys.readouterr().out)
    assert shown["ok"] and shown["fingerprints"]["export_key"] == captured[3].fingerprint
    assert shown["trust"] == "unpinned" and shown["coverage"] == {"3": ["local"]}
    [kid] = [k for k in shown["fingerprints"] if k not in ("export_key", "tsa local")]
    assert shown["unpinned"] == ["TSA local", f"ledger key {kid}"]
    assert shown["fingerprints"]["tsa local"] == hashlib.sha256(tsa.ca_pem()).hexdigest()
    assert main(["verify", str(out.path)]) == 6
    text = capsys.readouterr().out
    assert "UNPINNED" in text and "NOT PINNED: the package's own" in text
    assert "warcflow ledger key --json" in text
    assert main(["verify", str(out.path), "--trust-embedded"]) == 0
    assert "trusting the package's own" in capsys.readouterr().out
    trust = tmp_path / "trust.json"
    pins = _trust(store, tsa)
    trust.write_text(json.dumps(trustfile.document(trustfile.Pins(pins.public_keys, pins.tsa_cas))))
    assert main(["verify", str(out.path), "--trust", str(trust), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trust"] == "pinned"
    forged = tmp_path / "forged.wacz"
    _rewrite(
        out.path, forged, "pages/pages.jsonl", lambda d: d.replace(b"json-pages", b"jsom-pages")
    )
    assert main(["verify", str(forged)]) == 1
    assert "FAIL resource pages/pages.jsonl" in capsys.readouterr().out
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"PK not really")
    assert main(["verify", str(junk)]) == 2


def test_every_capture_of_a_url_goes_into_one_package(site, tsa, tmp_path):
    store = MemoryStore()
    ledger = Ledger(store, HeadSigner.from_file(tmp_path / "head-key.pem"), [tsa])
    manifests = []
    for offset in (1, 2):
        m = _capture(site, store, offset)
        _record(
            ledger,
            store,
            "capture",
            m.capture_id,
            m.url,
            {
                "schema": CAPTURE_STORED,
                "capture_id": m.capture_id,
                "warc_key": m.warc_key,
                "manifest_key": layout.manifest_key(m.url, m.capture_id),
            },
        )
        manifests.insert(0, m)  # newest first, as the command passes them
    ledger.append(
        CustodyEvent(
            "recheck", "recheck:1", iso(utc_now()), "test", capture_id=manifests[0].capture_id
        )
    )
    ledger.publish_key()  # the head comes after this: the recheck entry is covered
    ledger.publish_head()
    ledger.append(
        CustodyEvent(
            "fixity", "fixity:1", iso(utc_now()), "test", capture_id=manifests[0].capture_id
        )
    )  # after the last head
    out = export(
        store,
        manifests,
        tmp_path / "all.wacz",
        ExportSigner.from_file(tmp_path / "export-key.pem"),
        software="warcflow test",
        version="test",
        created=utc_now(),
    )
    assert out.captures == tuple(m.capture_id for m in manifests) and out.uncovered == (4,)
    result = verify_package(out.path)
    assert result.ok, _failed(result)
    late = next(c for c in result.checks if c.name == "inclusion 4")
    assert "recorded after the last head" in late.detail
    with zipfile.ZipFile(out.path) as zf:
        pages = zf.read("pages/pages.jsonl").decode().splitlines()
        cdxj = zf.read("indexes/index.cdxj").decode()
        package = json.loads(zf.read("datapackage.json"))
    assert [json.loads(p)["id"] for p in pages[1:]] == [m.capture_id for m in manifests]
    assert all(f'"filename": "{m.capture_id}.warc.gz"' in cdxj for m in manifests)
    assert package["mainPageURL"] == manifests[0].url


def test_a_capture_whose_ledger_entry_is_left_out_is_not_proven(captured, tmp_path):
    # a forger who re-signs the package could drop the entries that tie the files
    # to the signed log; every packaged capture must have its entry
    _, manifest, _, _, _ = captured
    out = _export(captured, tmp_path / "post.wacz")

    def drop(data: bytes) -> bytes:
        index = json.loads(data)
        index["entries"] = [e for e in index["entries"] if e.get("work_id") != manifest.capture_id]
        return json.dumps(index).encode()

    forged = tmp_path / "forged.wacz"
    _rewrite(out.path, forged, "warcflow/custody.json", drop)
    failed = _failed(verify_package(forged))
    assert "no capture entry" in failed[f"ledger {manifest.capture_id}"]


@pytest.mark.parametrize("lie", ["relabelled", "unsigned head"])
def test_the_package_index_is_not_trusted_for_what_the_entries_say(captured, tmp_path, lie):
    _, manifest, _, _, _ = captured
    out = _export(captured, tmp_path / "post.wacz")

    def edit(data: bytes) -> bytes:
        index = json.loads(data)
        for e in index["entries"]:
            if e.get("work_id") == manifest.capture_id and e["event"] == "capture":
                if lie == "relabelled":
                    e["work_id"] = "01KOTHERCAPTURE00000000000"
                else:  # a proof against a head nobody signed
                    e["head"] = "warcflow/head-999999999999.json"
        return json.dumps(index).encode()

    forged = tmp_path / "forged.wacz"
    _rewrite(out.path, forged, "warcflow/custody.json", edit)
    failed = _failed(verify_package(forged))
    if lie == "relabelled":
        assert any("not what the package index says" in d for d in failed.values()), failed
    else:
        assert any(
            "not a head of this package whose signature verifies" in d for d in failed.values()
        ), failed


def _section(markdown: str, heading: str) -> str:
    """The shell commands of one VERIFY.md section (its ```sh blocks, joined)."""
    part = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    return "\n".join(block.split("```", 1)[0] for block in part.split("```sh\n")[1:])


@pytest.mark.parametrize("mode", ["anonymous", "domain"])
def test_verify_md_checks_the_signature_and_its_time_stamp_with_openssl(captured, tmp_path, mode):
    """VERIFY.md's section 2, run as written (bash, jq, openssl) in the unpacked package."""
    signer = None
    if mode == "domain":
        pki = make_pki(tmp_path, names=("archive.example.org",))
        signer = DomainSigner.from_files(pki.chain_file, pki.key_file)
    out = _export(captured, tmp_path / "post.wacz", signer=signer)
    unpacked = tmp_path / "package"
    with zipfile.ZipFile(out.path) as zf:
        zf.extractall(unpacked)
    script = _section(
        (unpacked / "warcflow" / "VERIFY.md").read_text(), "## 2. datapackage.json is the one"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verified OK" in done.stdout  # the ECDSA signature, by openssl
    assert "Verification: OK" in done.stdout  # the RFC 3161 time-stamp over it
    assert out.export_key_sha256 in done.stdout or out.export_key_sha256 in script


def test_a_domain_signed_package_names_its_domain_and_needs_a_time_stamp(captured, tmp_path):
    pki = make_pki(tmp_path, names=("archive.example.org",))
    signer = DomainSigner.from_files(pki.chain_file, pki.key_file)
    assert signer.domain == "archive.example.org"
    assert signer.fingerprint == hashlib.sha256(pki.leaf).hexdigest()
    out = _export(captured, tmp_path / "post.wacz", signer=signer)
    result = verify_package(out.path)
    assert result.ok, _failed(result)
    detail = next(c.detail for c in result.checks if c.name == "datapackage-digest")
    assert "(domain)" in detail and "domain archive.example.org" in detail
    assert "time-stamped" in detail
    with zipfile.ZipFile(out.path) as zf:
        signed = json.loads(zf.read("datapackage-digest.json"))["signedData"]
    assert "publicKey" not in signed  # with one, players take the anonymous path
    assert signed["domainCert"].count("-----BEGIN CERTIFICATE-----") == 2
    assert "\n\n-----BEGIN CERTIFICATE-----" in signed["domainCert"]  # blocks apart
    claimed = {**signed, "domain": "other.example.org"}
    assert "the certificate is for 'archive.example.org'" in " ".join(
        check_signed_data(claimed).problems
    )
    with pytest.raises(NoTimestamp):
        _export(captured, tmp_path / "unstamped.wacz", signer=signer, stampers=[])
    assert not (tmp_path / "unstamped.wacz").exists()


def test_an_anonymous_package_without_a_tsa_is_signed_but_says_so(captured, tmp_path):
    out = _export(captured, tmp_path / "post.wacz", stampers=[])
    assert out.time_stamped_by is None
    result = verify_package(out.path)
    assert result.ok, _failed(result)
    detail = next(c.detail for c in result.checks if c.name == "datapackage-digest")
    assert "no RFC 3161 time-stamp over the signature" in detail


def _hand_signed(curve, *, der=False):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = ec.generate_private_key(curve())
    text = "sha256:" + "ab" * 32
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    if not der:
        size = (key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hash": text,
        "created": "2026-11-25T10:43:13Z",
        "signature": base64.b64encode(signature).decode(),
        "publicKey": base64.b64encode(public).decode(),
    }


def test_signatures_the_player_would_not_count_are_named(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    assert check_signed_data(_hand_signed(ec.SECP384R1)).ok
    # what warcflow wrote before: it holds, but the player will not count it
    p256 = check_signed_data(_hand_signed(ec.SECP256R1))
    assert p256.ok and "only as P-384" in " ".join(p256.facts)
    der = check_signed_data(_hand_signed(ec.SECP384R1, der=True))  # what authsign writes
    assert not der.ok and "raw r||s" in " ".join(der.problems)
    old = tmp_path / "old-key.pem"
    from archivers.custody.keyfile import private_key

    private_key(
        old, lambda: ec.generate_private_key(ec.SECP256R1()), ec.EllipticCurvePrivateKey, ""
    )
    with pytest.raises(ValueError, match="P-384"):
        ExportSigner.from_file(old)


def test_every_entry_starts_where_a_range_reader_expects_it(captured, tmp_path):
    """wabac.js (ReplayWeb.page) reads a file's data at 30 + name bytes past its local
    header whenever its central directory entry has no extra field: the local header
    must then have none either (no ZIP64 field the central directory lacks)."""
    import struct

    out = _export(captured, tmp_path / "post.wacz")
    raw = out.path.read_bytes()
    with zipfile.ZipFile(out.path) as zf:
        for info in zf.infolist():
            name_length, extra_length = struct.unpack(
                "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
            )
            assert info.extra or extra_length == 0, info.filename
            if info.compress_type == zipfile.ZIP_STORED:  # the WARCs: read by range
                start = info.header_offset + 30 + name_length + extra_length
                assert raw[start : start + info.file_size] == zf.read(info), info.filename
