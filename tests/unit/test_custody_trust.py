"""Issue 16 on the in-package store fake and the local OpenSSL TSA: a head's time
is its TSAs' (the signer's is shown, never relied on), a back-dated head fails
naming the skew, audits trust only configured keys (never the bucket's), a
re-signed package is unpinned, and custody claims are checked against the store.
The same chains on the real broker, S3 server and TSAs:
tests/integration/test_custody.py."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from archivers.custody import claims, trustfile
from archivers.custody.anchor import HeadTime
from archivers.custody.audit import LeafCache, Report, Trust, check_ledger
from archivers.custody.fixity import ObjectFixity, fixity_event, summary
from archivers.custody.ledger import CustodyEvent, Ledger, ObjectDigest
from archivers.custody.treehead import HeadSigner, public_pem
from archivers.manifests.manifest import Manifest
from archivers.store import layout
from archivers.store.memory import MemoryStore
from infra.tsa import LocalTSA

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
CID = layout.capture_id("t.ingest", 0, 1, int(NOW.timestamp() * 1000))
URL = "https://example.org/post/1"


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    return LocalTSA(tmp_path_factory.mktemp("tsa"))


def test_the_proof_is_the_earliest_tsa_time_and_the_signer_must_agree():
    late = NOW + timedelta(hours=3)  # a TSA that was down stamped it later: honest
    t = HeadTime(NOW + timedelta(seconds=2), {"b": late, "a": NOW}, max_skew=300)
    assert t.proof == ("a", NOW) and t.anchor == NOW and t.skew == -2 and t.problem is None
    assert "proof: TSA a genTime 2026-12-01T12:00:00Z (earliest of 2 TSAs)" in t.describe()
    assert "signer's time 2026-12-01T12:00:02Z (skew -2 s" in t.describe()
    back = HeadTime(datetime(2020, 1, 1, tzinfo=UTC), {"a": NOW}, max_skew=300)
    assert back.problem.startswith("skew: the signer's time 2020-01-01T00:00:00Z is ")
    assert "before the earliest TSA time 2026-12-01T12:00:00Z (a)" in back.problem
    ahead = HeadTime(NOW + timedelta(seconds=301), {"a": NOW}, max_skew=300)
    assert "after the earliest TSA time" in ahead.problem
    assert "no trusted TSA token" in HeadTime(NOW).problem


def _warc() -> bytes:
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    writer.write_record(
        writer.create_warc_record(
            URL,
            "resource",
            payload=io.BytesIO(b"<html>post</html>"),
            warc_content_type="text/html",
            warc_headers_dict={"WARC-Date": "2019-12-31T23:59:30Z"},
        )
    )
    return out.getvalue()


WARC = _warc()


def _stored(store: MemoryStore) -> tuple[str, str]:
    def put(key: str, data: bytes) -> None:
        store.put_new(
            key,
            io.BytesIO(data),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type="application/octet-stream",
        )

    warc_key = layout.warc_key(CID)
    put(warc_key, WARC)
    mkey = layout.manifest_key(URL, CID)
    put(
        mkey,
        Manifest(
            CID,
            URL,
            "org,example)/post/1",
            "stored",
            "2019-12-31T23:59:00Z",
            stored_at="2019-12-31T23:59:59Z",
            warc_key=warc_key,
            sha256=hashlib.sha256(WARC).hexdigest(),
            size=len(WARC),
        ).to_json(),
    )
    return warc_key, mkey


def _capture_event(store: MemoryStore, warc_key: str, mkey: str) -> CustodyEvent:
    objects = tuple(
        ObjectDigest(k, store.head(k).sha256, store.head(k).size) for k in (warc_key, mkey)
    )
    return CustodyEvent(
        "capture",
        f"stored:{CID}",
        "2019-12-31T23:59:59Z",
        "warcflow-worker",
        capture_id=CID,
        url=URL,
        objects=objects,
        detail={"status": "stored", "manifest_key": mkey},
    )


def test_a_back_dated_head_fails_the_audit_naming_the_skew(tsa, tmp_path):
    """Review F8, probe_backdate.py: this passed every check."""
    store = MemoryStore()
    warc_key, mkey = _stored(store)
    signer = HeadSigner.from_file(tmp_path / "key.pem")
    past = datetime(2020, 1, 1, tzinfo=UTC)
    ledger = Ledger(store, signer, [tsa], clock=lambda: past)
    ledger.append(_capture_event(store, warc_key, mkey))
    ledger.publish_key()
    ledger.publish_head()
    trust = Trust({signer.key_id: public_pem(signer.public)}, {"local": tsa.ca_pem()})
    r = Report(CID, URL)
    when = check_ledger(r, store, CID, "capture", {}, LeafCache(store), trust)
    checks = {c.name: c for c in r.checks}
    assert checks[f"inclusion {CID}"].ok and checks["tsa local head 2"].ok
    assert not checks["skew head 2"].ok and checks["skew head 2"].detail.startswith("skew:")
    assert when.signed == past and when.anchor > past + timedelta(days=365)
    assert not r.ok


def test_audits_trust_only_the_configured_keys_never_the_buckets(tsa, tmp_path):
    """Review F8.3: the viewer's audit took the key and the CA from the bucket."""
    store = MemoryStore()
    warc_key, mkey = _stored(store)
    forger = HeadSigner.from_file(tmp_path / "forger.pem")
    own_tsa = LocalTSA(tmp_path / "forger-tsa")  # the forger's key and CA, in the bucket
    ledger = Ledger(store, forger, [own_tsa])
    ledger.append(_capture_event(store, warc_key, mkey))
    ledger.publish_key()
    ledger.publish_head()
    r = Report(CID, URL)
    check_ledger(r, store, CID, "capture", {}, LeafCache(store), Trust({}, {"local": tsa.ca_pem()}))
    failed = {c.name: c.detail for c in r.checks if not c.ok}
    assert "is not a trusted one" in failed[f"inclusion {CID}"]
    assert "tsa local head 2" in failed and "coverage head 2" in failed


def test_a_trust_file_with_a_pem_that_is_not_its_fingerprint_is_refused(tsa, tmp_path):
    signer = HeadSigner.from_file(tmp_path / "key.pem")
    pins = trustfile.Pins({signer.key_id: public_pem(signer.public)}, {"local": tsa.ca_pem()})
    doc = trustfile.document(pins)
    assert trustfile.load(json.dumps(doc).encode()) == pins
    doc["tsas"][0]["sha256"] = "0" * 64
    with pytest.raises(ValueError, match="TSA local: its PEM has SHA-256"):
        trustfile.load(json.dumps(doc).encode())


def test_a_package_re_signed_with_fresh_keys_is_unpinned_and_fails_the_genuine_pins(tsa, tmp_path):
    """A forger takes a genuine capture, records it in a ledger of their own (a
    fresh key, a fresh local TSA) and exports it: every check holds against what
    the package carries, so only pins tell it apart."""
    from archivers.export.signer import ExportSigner
    from archivers.export.verify import verify_package
    from archivers.export.wacz import export

    store = MemoryStore()
    warc_key, mkey = _stored(store)
    forger = HeadSigner.from_file(tmp_path / "forger.pem")
    forger_tsa = LocalTSA(tmp_path / "forger-tsa")
    ledger = Ledger(store, forger, [forger_tsa])
    ledger.append(_capture_event(store, warc_key, mkey))
    ledger.publish_key()
    ledger.publish_head()
    manifest = Manifest.from_json(store.get_bytes(mkey))
    out = export(
        store,
        [manifest],
        tmp_path / "resigned.wacz",
        ExportSigner.from_file(tmp_path / "export.pem"),
        software="forger",
        version="1",
        created=NOW,
        trust=Trust({forger.key_id: public_pem(forger.public)}, {"local": forger_tsa.ca_pem()}),
        stampers=[forger_tsa],
    )
    bare = verify_package(out.path)
    assert bare.ok and bare.trust == "unpinned"
    assert verify_package(out.path, trust_embedded=True).trust == "embedded"
    genuine = HeadSigner.from_file(tmp_path / "genuine.pem")
    pinned = verify_package(
        out.path, public_keys=[public_pem(genuine.public)], tsa_cas=[tsa.ca_pem()]
    )
    failed = {c.name: c.detail for c in pinned.checks if not c.ok}
    assert not pinned.ok and pinned.trust == "pinned"
    assert "not by the pinned key" in failed["head 2"]
    assert "tsa local head 2" in failed and "coverage head 2" in failed


def test_a_fixity_claim_is_recorded_only_when_the_store_bears_it_out():
    store = MemoryStore()
    warc_key, mkey = _stored(store)
    Ledger(store).append(_capture_event(store, warc_key, mkey))
    manifest = Manifest.from_json(store.get_bytes(mkey))
    intact = hashlib.sha256(WARC).hexdigest()

    def claim(status, expected=intact, actual="ff" * 32):
        result = ObjectFixity(warc_key, expected, actual, status)
        return fixity_event(manifest, [result], "2026-12-01T12:00:00Z", "warcflow-worker")

    assert "reads back whole with the recorded SHA-256" in claims.problem(store, claim("mismatch"))
    assert "the ledger and manifests record" in claims.problem(
        store, claim("mismatch", expected="ee" * 32)
    )
    assert claims.problem(store, claim("ok", actual=intact)) is None
    forged_ok = claim("ok", actual=intact)
    forged_ok.detail["ok"] = False
    assert "ok flag" in claims.problem(store, forged_ok)
    other = ObjectFixity("warc/elsewhere.warc.gz", intact, None, "missing")
    assert "not an object of capture" in claims.problem(
        store, CustodyEvent("fixity", "f", "t", "w", CID, URL, detail=summary([other]))
    )
    # the object changed behind warcflow's back: a new version
    store.put_state(warc_key, b"warc bytez")
    assert claims.problem(store, claim("mismatch")) is None
    assert "reported ok, but the store has" in claims.problem(store, claim("ok", actual=intact))
