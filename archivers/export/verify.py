"""Verifying an export package offline: nothing but the file (and optional pins).

``verify_package`` opens the ZIP and runs every check ``warcflow verify``
reports, each a named ``Check`` (as ``warcflow audit``'s) whose detail names
the file and what differs:

- ``zip``: WACZ 1.1.1 structure (datapackage.json, datapackage-digest.json,
  archive/*.warc.gz stored uncompressed, indexes/, pages/pages.jsonl with its
  json-pages-1.0 header, every file listed and every listed file present);
- ``datapackage-digest``: the SHA-256 of datapackage.json is the signed one;
  the ECDSA signature (raw r||s over the text of ``hash``, as ReplayWeb.page
  verifies it) holds with the included P-384 key — or, domain-signed, with the
  included certificate, whose subject is the ``domain`` — and its RFC 3161
  ``timeSignature``, if any (required for a domain signature), verifies over the
  signature within ten minutes of ``created`` (key or certificate fingerprint
  printed: whether to trust it is the reader's call, against the published one);
- ``resource <path>``: each file's SHA-256 and size are datapackage.json's;
- ``records <path>``: every WARC record's block and payload digests verify;
- ``ledger <id>``: each capture/media entry's object digests are the files';
- ``inclusion <index>``: each entry's RFC 9162 proof gives its head's root;
- ``head <size>``: the head's Ed25519 signature verifies with the pinned key
  (``public_keys``), else with the included one (then *unpinned*), and its
  fingerprint shows;
- ``tsa <name> head <size>``: each RFC 3161 token verifies against the pinned
  CAs (``tsa_cas``), else the included CA (then *unpinned*), over the SHA-256
  of the head file; ``coverage head <size>`` names the TSAs whose tokens do;
- ``skew head <size>``: the head's proof time is its earliest verified genTime;
  the signer's own time must be within ``max_skew`` of it (reason ``skew``);
- ``order <id>``: submitted ≤ WARC-Date ≤ stored ≤ the proof time of the
  covering head (the TSA's, never the signer's own).

Trust: a package can carry keys and CAs of its maker's choosing, so without
pins every check may hold on a package re-signed end to end by a forger.
``trust`` is then ``unpinned`` and ``warcflow verify`` exits with its own code;
``trust_embedded`` accepts them knowingly (``embedded``).

No store, no broker: only the file and ``openssl`` (for the tokens).
Invariant: ``ok`` only when every check holds.

Memory stays bounded whatever the file holds (review F10): the WARCs and every
resource are streamed (digests, records); the metadata files read whole —
datapackage.json, the custody index, manifests, proofs, heads, tokens, keys —
are refused past ``MAX_MEMBER_BYTES`` (checked against the size the ZIP
declares and again while reading, since a ZIP can lie), each refusal a failed
check ``member <name>`` saying so; pages.jsonl is read only as far as its header.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from archivers.clock import parse_iso
from archivers.custody import merkle
from archivers.custody.anchor import DEFAULT_MAX_SKEW, HeadTime
from archivers.custody.audit import Check, check_order, check_records, revisit_problem
from archivers.custody.ledger import Entry
from archivers.custody.rfc3161 import TokenInvalid, verify_token
from archivers.custody.treehead import TreeHead, key_id, verify_head
from archivers.export.signer import check_signed_data
from archivers.export.wacz import INDEX, PAGES_FORMAT, WACZ_VERSION
from archivers.manifests.manifest import Manifest, MediaManifest

STORED_EVENTS = ("capture", "media")
INDEX_NAMES = (
    "indexes/index.cdxj",
    "indexes/index.cdx",
    "indexes/index.cdx.gz",
    "indexes/index.idx",
)


MAX_MEMBER_BYTES = 64 * 1024 * 1024
"""Largest metadata file of a package read whole (an export of 100,000 captures
has a custody index of a few MB); larger is refused, never inflated."""


class NotAWacz(Exception):
    """The file is not a ZIP with a readable datapackage.json."""


@dataclass
class Verification:
    path: str
    checks: list[Check] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    """SHA-256 of each PEM the proofs rest on: ledger keys by key id, ``tsa <name>``."""
    max_skew: float = DEFAULT_MAX_SKEW
    unpinned: set[str] = field(default_factory=set)
    """What was trusted only because the package carries it (no pin was given)."""
    coverage: dict[str, list[str]] = field(default_factory=dict)
    """The TSAs whose tokens verify, by head size."""
    trust_embedded: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def trust(self) -> str:
        """``pinned``, ``embedded`` (unpinned, accepted with --trust-embedded) or ``unpinned``."""
        if not self.unpinned:
            return "pinned"
        return "embedded" if self.trust_embedded else "unpinned"

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "ok": self.ok,
            "trust": self.trust,
            "unpinned": sorted(self.unpinned),
            "fingerprints": self.fingerprints,
            "coverage": self.coverage,
            "checks": [asdict(c) for c in self.checks],
        }


class ZipObjects:
    """The package's files behind the one method ``check_records`` uses."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf

    def open(self, name: str) -> BinaryIO:
        return cast(BinaryIO, self.zf.open(name))  # KeyError when absent, as a store's


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, v: Verification) -> None:
        self.zf = zf
        self.v = v
        self.names = set(zf.namelist())
        self._sha: dict[str, tuple[str, int] | None] = {}
        self._refused: set[str] = set()

    def digest(self, name: str) -> tuple[str, int] | None:
        """(SHA-256 hex, size) of a member, streamed; None if absent or unreadable."""
        if name not in self._sha:
            try:
                h, size = hashlib.sha256(), 0
                with self.zf.open(name) as stream:
                    while chunk := stream.read(1024 * 1024):
                        h.update(chunk)
                        size += len(chunk)
                self._sha[name] = (h.hexdigest(), size)
            except (KeyError, zipfile.BadZipFile, OSError, EOFError):
                self._sha[name] = None
        return self._sha[name]

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes | None:
        """A metadata member whole, at most ``limit`` bytes; None if absent,
        unreadable or larger (then a failed ``member <name>`` check says so)."""
        try:
            declared = self.zf.getinfo(name).file_size
            if declared > limit:
                self._too_large(name, f"declares {declared} bytes")
                return None
            out = bytearray()
            with self.zf.open(name) as stream:
                while chunk := stream.read(min(1024 * 1024, limit + 1 - len(out))):
                    out += chunk
                    if len(out) > limit:
                        self._too_large(name, "inflates past its declared size")
                        return None
            return bytes(out)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError):
            return None

    def head(self, name: str, limit: int = 64 * 1024) -> bytes | None:
        """The first ``limit`` bytes of a member (a header line), or None."""
        try:
            with self.zf.open(name) as stream:
                return stream.read(limit)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError):
            return None

    def _too_large(self, name: str, why: str) -> None:
        if name not in self._refused:
            self._refused.add(name)
            self.v.add(
                f"member {name}",
                False,
                f"{name} {why}, over the {MAX_MEMBER_BYTES} bytes a package's metadata "
                "file may have: not read",
            )


def verify_package(
    path: Path,
    *,
    public_keys: list[bytes] | None = None,
    tsa_cas: list[bytes] | None = None,
    trust_embedded: bool = False,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> Verification:
    """Every check on the package at ``path``; NotAWacz if it is not one at all.
    Without ``public_keys`` / ``tsa_cas`` the package's own are used and the
    result's ``trust`` is ``unpinned`` (``embedded`` with ``trust_embedded``)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise NotAWacz(f"{path} is not a ZIP file: {exc}") from None
    with zf:
        v = Verification(str(path), max_skew=max_skew, trust_embedded=trust_embedded)
        r = _Reader(zf, v)
        raw = r.read("datapackage.json")
        if raw is None and v.checks:
            return v  # refused as too large: a failed check, not a crash
        if raw is None:
            raise NotAWacz(f"{path} has no readable datapackage.json: not a WACZ")
        try:
            package = json.loads(raw)
            resources = list(package["resources"])
        except (ValueError, KeyError, TypeError) as exc:
            v.add("zip", False, f"datapackage.json is not a readable data package ({exc})")
            _digest(v, r, raw, {})
            return v
        _structure(v, zf, r, package, resources)
        _digest(v, r, raw, package, tsa_cas)
        for res in resources:
            _resource(v, r, res)
        index_bytes = r.read(INDEX)
        if index_bytes is None:
            v.add("custody", False, f"no {INDEX}: not a warcflow export, nothing to prove")
            return v
        try:
            _custody(v, zf, r, json.loads(index_bytes), public_keys or [], tsa_cas or [])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            v.add(
                "custody",
                False,
                f"{INDEX} is not readable ({type(exc).__name__}: {exc}): "
                "the proofs cannot be followed",
            )
        return v


def _structure(
    v: Verification,
    zf: zipfile.ZipFile,
    r: _Reader,
    package: dict[str, Any],
    resources: list[dict[str, Any]],
) -> None:
    problems = []
    names = [i.filename for i in zf.infolist()]
    if len(names) != len(set(names)):
        problems.append("a file name appears twice")
    bad = [n for n in names if n.startswith("/") or ".." in n.split("/")]
    if bad:
        problems.append(f"unsafe paths {bad}")
    if package.get("wacz_version") != WACZ_VERSION:
        problems.append(f"wacz_version is {package.get('wacz_version')!r}, not {WACZ_VERSION}")
    if package.get("profile") != "data-package":
        problems.append("profile is not data-package")
    if "datapackage-digest.json" not in r.names:
        problems.append("datapackage-digest.json is missing")
    warcs = [
        i
        for i in zf.infolist()
        if i.filename.startswith("archive/") and i.filename.endswith((".warc", ".warc.gz"))
    ]
    if not warcs:
        problems.append("no archive/*.warc.gz")
    problems += [
        f"{i.filename} is compressed in the ZIP (WACZ stores WARCs)"
        for i in warcs
        if i.compress_type != zipfile.ZIP_STORED
    ]
    if not any(n in r.names for n in INDEX_NAMES):
        problems.append("no index in indexes/")
    pages = r.head("pages/pages.jsonl")
    try:
        header = json.loads(pages.split(b"\n", 1)[0]) if pages else None
    except ValueError:
        header = None
    if not header or header.get("format") != PAGES_FORMAT:
        problems.append(f"pages/pages.jsonl is missing or lacks its {PAGES_FORMAT} header")
    listed = {res.get("path") for res in resources}
    unlisted = sorted(
        set(names) - listed - {"datapackage.json", "datapackage-digest.json"}, key=str
    )
    if unlisted:
        problems.append(f"not listed in datapackage.json: {', '.join(unlisted)}")
    missing = sorted(str(p) for p in listed if p not in r.names)
    if missing:
        problems.append(f"listed but not in the ZIP: {', '.join(missing)}")
    v.add(
        "zip",
        not problems,
        "; ".join(problems)
        or f"WACZ {WACZ_VERSION}: {len(names)} files, {len(warcs)} WARCs, every file listed",
    )


def _digest(
    v: Verification,
    r: _Reader,
    raw: bytes,
    package: dict[str, Any],
    tsa_cas: list[bytes] | None = None,
) -> None:
    name = "datapackage-digest"
    try:
        digest = json.loads(r.read("datapackage-digest.json") or b"")
        signed = dict(digest["signedData"])
    except (ValueError, KeyError, TypeError):
        v.add(name, False, "datapackage-digest.json is missing or unreadable")
        return
    actual = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    problems = []
    if digest.get("path") != "datapackage.json":
        problems.append("its path is not datapackage.json (players then see no signature)")
    if digest.get("hash") != actual:
        problems.append(
            f"datapackage.json has SHA-256 {actual}, the digest file says "
            f"{digest.get('hash')} (datapackage.json changed)"
        )
    if signed.get("hash") != digest.get("hash"):
        problems.append("signedData.hash is not the digest file's hash")
    if signed.get("created") != package.get("created"):
        problems.append("signedData.created differs from datapackage.json's created")
    check = check_signed_data(signed, tsa_cas)
    problems += check.problems
    if check.key_fingerprint:
        v.fingerprints["export_key"] = check.key_fingerprint
    signer = (
        f"the domain certificate SHA-256 {check.key_fingerprint}"
        if check.mode == "domain"
        else f"export key SHA-256 {check.key_fingerprint}"
    )
    v.add(
        name,
        not problems,
        "; ".join(problems)
        or f"datapackage.json {actual} signed {signed.get('created')} ({check.mode}) by "
        f"{signer} (compare with the archive's published fingerprint); "
        + "; ".join(check.facts),
    )


def _resource(v: Verification, r: _Reader, res: dict[str, Any]) -> None:
    path = str(res.get("path"))
    found = r.digest(path)
    if found is None:
        v.add(f"resource {path}", False, "missing or unreadable in the ZIP (damaged: bad CRC?)")
        return
    sha, size = found
    expected = str(res.get("hash", "")).removeprefix("sha256:")
    problems = []
    if sha != expected:
        problems.append(f"SHA-256 is {sha}, datapackage.json says {expected}")
    if size != res.get("bytes"):
        problems.append(f"size is {size}, datapackage.json says {res.get('bytes')}")
    v.add(f"resource {path}", not problems, "; ".join(problems) or f"sha256 {sha}, {size} bytes")


def _custody(
    v: Verification,
    zf: zipfile.ZipFile,
    r: _Reader,
    index: dict[str, Any],
    pinned: list[bytes],
    tsa_cas: list[bytes],
) -> None:
    objects: dict[str, str] = index.get("objects", {})
    head_times = _heads(v, r, index, pinned, tsa_cas)
    entry_heads: dict[tuple[str | None, str], tuple[str | None, set[str]]] = {}
    for e in index.get("entries", []):
        found = _entry(v, r, e, objects, head_times)
        if found is not None and found[1] in STORED_EVENTS:
            entry_heads[(found[0], found[1])] = (e.get("head"), found[2])
    store = ZipObjects(zf)
    # WARCs checked as some capture's own; a revisit's original is checked once besides
    checked = {m.get("warc") for item in index.get("captures", []) for m in item.get("media", [])}
    for item in index.get("captures", []):
        raw = r.read(item["manifest"]) or b""
        try:
            manifest = Manifest.from_json(raw)
        except ValueError as exc:
            v.add(f"order {item['capture_id']}", False, f"{item['manifest']}: {exc}")
            continue
        _required_entry(
            v, entry_heads, manifest.capture_id, "capture", [item["manifest"], item.get("warc")]
        )
        dates = check_records(v, store, item["warc"]) if item.get("warc") else []
        _revisits(v, zf, entry_heads, checked, manifest, item.get("replays_from") or [])
        head = entry_heads.get((manifest.capture_id, "capture"), (None,))[0]
        if item.get("warc"):
            check_order(
                v,
                manifest.capture_id,
                manifest.submitted_at,
                dates,
                manifest.stored_at,
                head_times.get(head) if head else None,
            )
        for media in item.get("media", []):
            try:
                mm = MediaManifest.from_json(r.read(media["manifest"]) or b"")
            except ValueError as exc:
                v.add(f"order {media['media_id']}", False, f"{media['manifest']}: {exc}")
                continue
            _required_entry(
                v, entry_heads, mm.media_id, "media", [media["manifest"], media.get("warc")]
            )
            mdates = check_records(v, store, media["warc"]) if media.get("warc") else []
            first = media.get("replays_from")
            if first:  # the WARC holding the clip this capture's revisit record points at
                _required_entry(
                    v, entry_heads, first["media_id"], "media", [first["manifest"], first["warc"]]
                )
                if first["warc"] not in checked:
                    checked.add(first["warc"])
                    check_records(v, store, first["warc"])
            mhead = entry_heads.get((mm.media_id, "media"), (None,))[0]
            if media.get("warc"):
                check_order(
                    v,
                    mm.media_id,
                    mm.submitted_at,
                    mdates,
                    mm.stored_at,
                    head_times.get(mhead) if mhead else None,
                )


def _revisits(
    v: Verification,
    zf: zipfile.ZipFile,
    entry_heads: dict,
    checked: set,
    manifest: Manifest,
    originals: list[dict[str, Any]],
) -> None:
    """Requisites stored once: each earlier capture this one's revisit records
    point at is packed with its ledger entry (which must vouch for its manifest
    and WARC) and its records verify; each revisit's original is in that WARC
    where the manifest says (``archivers.custody.audit.revisit_problem``)."""
    if not manifest.revisits:
        return
    packed = {o.get("capture_id"): o for o in originals}
    for first in originals:
        _required_entry(
            v, entry_heads, first["capture_id"], "capture", [first["manifest"], first["warc"]]
        )
        if first["warc"] not in checked:
            checked.add(first["warc"])
            check_records(v, ZipObjects(zf), first["warc"])

    def opened(ref: dict[str, Any]) -> BinaryIO:
        name = packed[ref["capture_id"]]["warc"]  # KeyError: not packed
        stream = zf.open(name)
        stream.seek(int(ref["offset"]))
        return cast(BinaryIO, stream)

    problems = [p for p in (revisit_problem(r, opened) for r in manifest.revisits) if p]
    v.add(
        f"revisits {manifest.capture_id}",
        not problems,
        "; ".join(problems)
        or f"{len(manifest.revisits)} revisit records resolve to originals in this package",
    )


def _required_entry(
    v: Verification, entry_heads: dict, work_id: str, event: str, files: list[str | None]
) -> None:
    """Every packaged capture and media must have its ledger entry here, and that
    entry must vouch for its manifest and WARC: otherwise nothing ties these
    files to the signed log (a re-signed package could leave the entry out, or
    pass off another capture's entry)."""
    if (work_id, event) not in entry_heads:
        v.add(
            f"ledger {work_id}",
            False,
            f"the package has no {event} entry of the ledger "
            "for it: its files are not tied to a signed head",
        )
        return
    vouched = entry_heads[(work_id, event)][1]
    loose = [f for f in files if f and f not in vouched]
    if loose:
        v.add(f"ledger {work_id}", False, f"its ledger entry does not vouch for {', '.join(loose)}")


def _entry(
    v: Verification,
    r: _Reader,
    e: dict[str, Any],
    objects: dict[str, str],
    head_times: dict[str, Any],
) -> tuple[str | None, str, set[str]] | None:
    """Check one packaged entry; (its capture id, its event, the package files it
    vouches for) as the signed entry itself says, or None if it is unreadable.
    The package's index describing the entry is not trusted for any of these."""
    index, path = e["index"], e["path"]
    data = r.read(path)
    try:
        entry = Entry.from_data(data or b"")
        if entry.index != index:
            raise ValueError(f"it says it is entry {entry.index}")
        if (entry.event.capture_id, entry.event.event) != (e["work_id"], e["event"]):
            raise ValueError(
                f"it is the {entry.event.event} entry of {entry.event.capture_id}, "
                f"not what the package index says ({e['event']} of {e['work_id']})"
            )
    except (ValueError, KeyError) as exc:
        v.add(f"ledger entry {index}", False, f"{path}: {exc}")
        return None
    vouched = {objects[o.key] for o in entry.event.objects if o.key in objects}
    found_as = (entry.event.capture_id, entry.event.event, vouched)
    if entry.event.event in STORED_EVENTS:
        problems = []
        for o in entry.event.objects:
            where = objects.get(o.key)
            found = r.digest(where) if where else None
            if where is None:
                problems.append(f"{o.key} is not in the package")
            elif found is None or found[0] != o.sha256:
                problems.append(
                    f"{where} ({o.key}): SHA-256 "
                    f"{found[0] if found else 'unreadable'}, the ledger says {o.sha256}"
                )
        v.add(
            f"ledger {entry.event.capture_id}",
            not problems,
            "; ".join(problems)
            or f"entry {index} ({path}) records {len(entry.event.objects)} object digests, "
            "equal to the files here",
        )
    if not e.get("proof"):
        stored = entry.event.event in STORED_EVENTS
        v.add(
            f"inclusion {index}",
            not stored,
            f"{path} is not yet in a signed head"
            + (
                " (export again after `warcflow ledger head`)"
                if stored
                else " (recorded after the last head)"
            ),
        )
        return found_as
    try:
        proof = json.loads(r.read(e["proof"]) or b"")
        if proof["head"] != e.get("head") or proof["head"] not in head_times:
            v.add(
                f"inclusion {index}",
                False,
                f"{e['proof']} is against {proof['head']}, "
                "which is not a head of this package whose signature verifies",
            )
            return found_as
        head = TreeHead.from_json(r.read(proof["head"]) or b"")
        leaf = merkle.leaf_hash(data or b"")
        path_hashes = [bytes.fromhex(p) for p in proof["audit_path"]]
        ok = (
            proof["index"] == index
            and proof["size"] == head.size
            and proof["leaf_hash"] == leaf.hex()
            and proof["root"] == head.root
            and merkle.verify_inclusion(
                leaf, index, head.size, path_hashes, bytes.fromhex(head.root)
            )
        )
        v.add(
            f"inclusion {index}",
            ok,
            f"{path} in {proof['head']} (size {head.size}, root {head.root[:16]}…): "
            f"{e['proof']} {'verifies' if ok else 'DOES NOT verify'}",
        )
    except (ValueError, KeyError, TypeError) as exc:
        v.add(f"inclusion {index}", False, f"{e['proof']}: unreadable proof or head ({exc})")
    return found_as


def _heads(
    v: Verification, r: _Reader, index: dict[str, Any], pinned: list[bytes], tsa_cas: list[bytes]
) -> dict[str, HeadTime]:
    """Check every head's signature, tokens, coverage and time; the times of the
    heads whose signature verifies, by path (only those can vouch for an entry).
    Without pins the package's own key and CAs are used, and ``v.unpinned`` says so."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pins = {}
    for pinned_pem in pinned:
        key = cast(Ed25519PublicKey, serialization.load_pem_public_key(pinned_pem))
        pins[key_id(key)] = pinned_pem
    keys = {k["key_id"]: k for k in index.get("keys", [])}
    times = {}
    for h in index.get("heads", []):
        name = f"head {h['size']}"
        data = r.read(h["path"]) or b""
        head = None
        try:
            head = TreeHead.from_json(data)
        except ValueError as exc:
            v.add(name, False, f"{h['path']}: {exc}")
        digest = hashlib.sha256(data).hexdigest()
        if not h.get("tokens"):
            v.add(f"tsa {name}", False, f"no RFC 3161 token for {h['path']}")
        stamped: dict[str, datetime] = {}
        for t in h.get("tokens", []):
            gen_time = _token(v, r, t, h, digest, tsa_cas)
            if gen_time is not None:
                stamped.setdefault(str(t["tsa"]), gen_time)
        if head is None:
            continue
        v.coverage[str(h["size"])] = sorted(stamped)
        v.add(
            f"coverage {name}",
            bool(stamped),
            f"stamped by {', '.join(sorted(stamped)) or 'no TSA whose token verifies'}",
        )
        info = keys.get(head.key_id)
        pem = r.read(info["path"]) if info else None
        if pins:
            source = "pinned key"
            if head.key_id not in pins:
                v.add(
                    name,
                    False,
                    f"{h['path']} is signed by key {head.key_id}, not by the "
                    "pinned key (--public-key, --trust)",
                )
                continue
            pem = pins[head.key_id]
        else:
            source = f"key included as {info['path']}, NOT pinned" if info else "no key included"
            v.unpinned.add(f"ledger key {head.key_id}")
        if pem is not None:
            v.fingerprints[head.key_id] = hashlib.sha256(pem).hexdigest()
        signed = pem is not None and verify_head(head, pem)
        side = r.read(h.get("signed", "")) if h.get("signed") else None
        problems = [] if signed else [f"the Ed25519 signature DOES NOT verify ({source})"]
        if side is not None and side != head.signing_input():
            problems.append(f"{h['signed']} is not the head's signing input")
        v.add(
            name,
            not problems,
            "; ".join(problems)
            or f"{h['path']} ({head.timestamp}) signed by key {head.key_id}, PEM SHA-256 "
            f"{v.fingerprints.get(head.key_id)} ({source})",
        )
        when = HeadTime(parse_iso(head.timestamp), stamped, v.max_skew)
        v.add(f"skew {name}", when.problem is None, when.problem or when.describe())
        if not problems:
            times[h["path"]] = when
    return times


def _token(
    v: Verification,
    r: _Reader,
    t: dict[str, Any],
    h: dict[str, Any],
    digest: str,
    tsa_cas: list[bytes],
) -> datetime | None:
    """Verify one token against the pinned CAs (else the package's, noted as
    unpinned); its genTime when it verifies."""
    name = f"tsa {t['tsa']} head {h['size']}"
    token = r.read(t["path"])
    cas: list[tuple[bytes | None, str]] = [(c, "pinned CA") for c in tsa_cas] or [
        (r.read(p), f"CA included as {p}, NOT pinned") for p in t.get("ca", [])
    ]
    reasons = []
    for ca, where in cas:
        if token is None or ca is None:
            continue
        try:
            stamped = verify_token(digest, token, ca)
        except TokenInvalid as exc:
            reasons.append(str(exc))
            continue
        if not tsa_cas:
            v.unpinned.add(f"TSA {t['tsa']}")
            v.fingerprints[f"tsa {t['tsa']}"] = hashlib.sha256(ca).hexdigest()
        v.add(
            name,
            True,
            f"{t['path']} over SHA-256 of {h['path']} verifies ({where}); "
            f"genTime {stamped:%Y-%m-%dT%H:%M:%SZ}",
        )
        return stamped
    v.add(name, False, f"{t['path']}: " + ("; ".join(reasons) or "token or CA missing"))
    return None
