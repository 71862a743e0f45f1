"""The audit of one capture: is it what was captured, when it says, and unchanged?

``audit_capture`` runs every check ``warcflow audit`` reports, each a named
``Check`` with ``ok`` and a detail that names the object and what differs:

- ``object <key>``: the object exists and its SHA-256 is the manifest's (the
  WARC, each media original and media WARC); on a mismatch the detail says
  which S3 versions exist (Object Lock keeps the original version);
- ``records <key>``: every WARC record's block and payload digests verify;
- ``ledger <id>``: the ledger has an entry for the capture (or media) and
  every object it records (WARC, manifest, index, media, poster, screenshot)
  re-hashes to the digest recorded;
- ``media <id>``: every media item the page manifest lists has its media
  manifest (a removed one is named);
- ``revisits <id>``: every requisite this capture wrote as a ``revisit``
  record (``archivers.warc.payloads``) resolves: the original record is where
  the manifest says, in the earlier capture's WARC, is a ``response`` whose
  payload re-hashes to the revisit's digest; and that WARC is the one the
  earlier capture's own ledger entry vouches for (``object <key>``);
- ``inclusion <id>``: that entry is in a signed tree head (RFC 9162 proof
  against the head's root) and the head's Ed25519 signature verifies; an
  entry no head covers *yet* is ``pending`` (the next head comes within
  ``WARCFLOW_LEDGER_HEAD_EVERY``), not a failure;
- ``tsa <name> head <size>``: each RFC 3161 token over the head verifies
  against the *configured* CA of its TSA (never one from the bucket);
- ``coverage head <size>``: which TSAs stamped it, and which configured ones
  have not yet (the ledger stamps it when they answer);
- ``skew head <size>``: the head's proof time is its earliest verified TSA
  genTime (``archivers.custody.anchor``); its signer's own time must be
  within ``WARCFLOW_LEDGER_MAX_SKEW`` of it, else the reason is ``skew``
  (a back-dated head); the detail shows both times and says which is proof;
- ``order``: submitted_at ≤ WARC-Date ≤ stored_at ≤ the first covering
  head's proof time (S3 keeps whole seconds: compared at that resolution);
- ``fixity``: the last fixity run found every object unchanged (none yet: ok);
- ``liveness``: never fails; says what the rechecks saw.

Invariant: the capture is ``ok`` only when every check is; it is ``pending``
when every check that is not ok is pending (all that is missing is the next
signed head), and ``failed`` as soon as one check does not hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO, Protocol

from archivers.clock import parse_iso
from archivers.custody import merkle
from archivers.custody.anchor import DEFAULT_MAX_SKEW, HeadTime
from archivers.custody.fixity import sha256_of
from archivers.custody.ledger import (
    Entry,
    capture_entries,
    coverage,
    covering_head_key,
    entry_key,
    read_leaf_hashes,
)
from archivers.custody.liveness import LivenessState, state_key
from archivers.custody.rfc3161 import TokenInvalid, verify_token
from archivers.custody.treehead import TreeHead, verify_head
from archivers.manifests.berkeley import items_of
from archivers.manifests.listing import list_captures, list_media
from archivers.manifests.manifest import (
    CAPTURE_METADATA_SCHEMA,
    STORED,
    Manifest,
    MediaManifest,
    read_metadata_record,
)
from archivers.store import layout
from archivers.store.base import ObjectStore

SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    pending: bool = False
    """Not ok only because something expected soon is not there yet."""


class Findings(Protocol):
    """Where checks are written: an audit's ``Report`` or ``warcflow verify``'s."""

    def add(self, name: str, ok: bool, detail: str) -> None: ...


class Openable(Protocol):
    """What a record check reads a WARC from: a store, or a package's members."""

    def open(self, key: str) -> BinaryIO: ...


@dataclass
class Report:
    capture_id: str
    url: str
    checks: list[Check] = field(default_factory=list)
    items: dict[str, bool] = field(default_factory=dict)
    liveness: dict[str, Any] | None = None
    custody: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
        """``ok``, ``pending`` (only pending checks are not ok) or ``failed``."""
        if self.ok:
            return "ok"
        return "pending" if all(c.ok or c.pending for c in self.checks) else "failed"

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def add_pending(self, name: str, detail: str) -> None:
        """A check that cannot hold yet, only because what it needs is still to come."""
        self.checks.append(Check(name, False, detail, pending=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "checks": [asdict(c) for c in self.checks],
            "items": self.items,
            "liveness": self.liveness,
            "custody": self.custody,
        }


@dataclass
class Trust:
    """What the audit trusts: the head-signing public keys (PEM by key id) and the
    TSA CA certificates (PEM by TSA name), from the configuration (the signer's
    own key file, WARCFLOW_TSA, WARCFLOW_TRUST, --public-key) and nothing else:
    a key or CA in the bucket is never trusted, as anyone who can write the
    bucket could have put it there (review F8). ``max_skew``: seconds a head's
    signer time may be from its earliest TSA time."""

    public_keys: dict[str, bytes] = field(default_factory=dict)
    tsa_cas: dict[str, bytes] = field(default_factory=dict)
    max_skew: float = DEFAULT_MAX_SKEW


class LeafCache:
    """Leaf hashes read once per audit run (all captures share them)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._hashes: list[bytes] | None = None

    @property
    def hashes(self) -> list[bytes]:
        if self._hashes is None:
            self._hashes = list(read_leaf_hashes(self.store))
        return self._hashes


def _versions_note(store: ObjectStore, key: str) -> str:
    versions = store.versions(key)
    if len(versions) <= 1:
        return ""
    kinds = ", ".join(
        f"{v['version_id']} ({'delete marker' if v['delete_marker'] else v['size']})"
        f" at {v['last_modified']:%Y-%m-%dT%H:%M:%SZ}"
        for v in versions
    )
    return f"; versions newest first: {kinds} (earlier versions are kept under Object Lock)"


def check_object(report: Report, store: ObjectStore, key: str, expected: str) -> None:
    actual = sha256_of(store, key)
    if actual is None:
        report.add(f"object {key}", False, "missing" + _versions_note(store, key))
    elif actual != expected:
        report.add(
            f"object {key}",
            False,
            f"SHA-256 is {actual}, the manifest says {expected}" + _versions_note(store, key),
        )
    else:
        report.add(f"object {key}", True, f"sha256 {actual}")


def check_object_exists(report: Report, store: ObjectStore, key: str) -> None:
    head = store.head(key)
    report.add(
        f"object {key}",
        head is not None,
        f"sha256 {head.sha256}" if head else "missing" + _versions_note(store, key),
    )


def check_records(report: Findings, store: Openable, key: str) -> list[str]:
    """Verify every record digest of a WARC; return its WARC-Dates.

    Each record's block is read in 1 MiB steps as stored (``raw_stream``: the
    digests cover those bytes; no content coding is undone), so memory stays
    bounded by the step whatever a record holds (review F10: one 400 MiB record
    took the reader to 849 MiB)."""
    from warcio.archiveiterator import ArchiveIterator

    dates, problems, count = [], [], 0
    try:
        stream = store.open(key)
    except KeyError:
        return []
    try:
        for record in ArchiveIterator(stream, check_digests=True):
            count += 1
            while record.raw_stream.read(1024 * 1024):
                pass
            dates.append(record.rec_headers.get_header("WARC-Date"))
            if record.digest_checker.passed is False:
                problems.append(
                    f"record {count} ({record.rec_headers.get_header('WARC-Type')} "
                    f"{record.rec_headers.get_header('WARC-Target-URI')}): "
                    + "; ".join(record.digest_checker.problems)
                )
    except Exception as exc:  # noqa: BLE001 - a damaged gzip member or header
        problems.append(f"unreadable after record {count}: {exc}")
    finally:
        stream.close()
    report.add(
        f"records {key}",
        not problems,
        "; ".join(problems) if problems else f"{count} record digests verify",
    )
    return dates


def revisit_problem(
    revisit: dict[str, Any], opened: Callable[[dict[str, Any]], BinaryIO]
) -> str | None:
    """What is wrong with one revisit of a manifest's ``revisits``, or None when its
    original resolves: ``opened(refers_to)`` gives a stream starting at the
    original's gzip member (in the store, or in an export package), which must
    hold a ``response`` with the recorded id whose payload re-hashes to the
    revisit's digest. The one rule audit and verify share."""
    from warcio.archiveiterator import ArchiveIterator

    ref = revisit.get("refers_to") or {}
    where = f"{revisit.get('url')} → {ref.get('warc_key')}@{ref.get('offset')}"
    try:
        stream = opened(ref)
    except (KeyError, TypeError, ValueError):
        return f"{where}: the original is not there"
    try:
        record = next(iter(ArchiveIterator(stream, check_digests=True)), None)
        if record is not None:
            while record.raw_stream.read(1024 * 1024):
                pass
    except Exception as exc:  # noqa: BLE001 - a damaged member
        return f"{where}: unreadable ({exc})"
    finally:
        stream.close()
    if record is None or record.rec_type != "response":
        return f"{where}: not a response record"
    head = record.rec_headers
    if head.get_header("WARC-Record-ID") != ref.get("record_id"):
        return f"{where}: holds {head.get_header('WARC-Record-ID')}, not {ref.get('record_id')}"
    if head.get_header("WARC-Payload-Digest") != f"sha256:{revisit.get('sha256')}":
        return f"{where}: its payload digest is not the revisit's"
    if record.digest_checker.passed is False:
        return f"{where}: " + "; ".join(record.digest_checker.problems)
    return None


def check_revisits(report: Report, store: ObjectStore, manifest: Manifest) -> None:
    """The ``revisits`` check of the module docstring (nothing when there are none)."""
    if not manifest.revisits:
        return
    for capture_id, key in sorted(manifest.originals().items()):
        vouched = next(
            (
                o.sha256
                for e in capture_entries(store, capture_id)
                if e.event.event == "capture"
                for o in e.event.objects
                if o.key == key
            ),
            None,
        )
        if vouched is None:
            # its capture is committed before any revisit names it (archivers.warc.
            # payloads); its ledger entry follows through the custody feed
            report.add_pending(
                f"object {key}",
                f"the original of this capture's revisits; no ledger entry of {capture_id} "
                "vouches for it yet",
            )
        else:
            check_object(report, store, key, vouched)

    def opened(ref: dict[str, Any]) -> BinaryIO:
        start, length = int(ref["offset"]), int(ref["length"])
        return store.open(str(ref["warc_key"]), byte_range=(start, start + length - 1))

    problems = [p for p in (revisit_problem(r, opened) for r in manifest.revisits) if p]
    report.add(
        f"revisits {manifest.capture_id}",
        not problems,
        "; ".join(problems)
        or f"{len(manifest.revisits)} revisit records resolve to their stored originals "
        f"in {len(manifest.originals())} earlier capture(s)",
    )


def _ledger_entry(entries: list[Entry], kind: str) -> Entry | None:
    found = [e for e in entries if e.event.event == kind]
    return found[0] if found else None


def check_ledger(
    report: Report,
    store: ObjectStore,
    work_id: str,
    kind: str,
    current: dict[str, str],
    leaves: LeafCache,
    trust: Trust,
) -> HeadTime | None:
    """The ledger entry for ``work_id`` matches ``current`` digests and is in a
    signed, stamped head. The covering head's time (for the ordering check), or None."""
    entries = capture_entries(store, work_id)
    entry = _ledger_entry(entries, kind)
    if entry is None:
        report.add(
            f"ledger {work_id}",
            False,
            "no ledger entry for it (the custody feed has not recorded it yet, or it was removed)",
        )
        return None
    recorded = {o.key: o.sha256 for o in entry.event.objects}
    now = {key: current.get(key) or sha256_of(store, key) or "missing" for key in recorded}
    now.update(current)
    differs = [
        f"{key}: ledger {recorded.get(key)}, now {sha}"
        for key, sha in now.items()
        if recorded.get(key) != sha
    ]
    report.add(
        f"ledger {work_id}",
        not differs,
        "; ".join(differs)
        if differs
        else f"entry {entry.index} records {len(recorded)} object digests, as stored now "
        "(each re-hashed)",
    )
    stored_entry = store.get_bytes(entry_key(entry.index))
    head_key = covering_head_key(store, entry.index)
    if head_key is None:
        report.add_pending(
            f"inclusion {work_id}",
            f"pending: entry {entry.index} is not yet covered by a "
            "signed head (heads are published every WARCFLOW_LEDGER_HEAD_EVERY seconds; "
            "`warcflow ledger head` publishes one now, `warcflow audit --wait` waits for it)",
        )
        return None
    head_bytes = store.get_bytes(head_key)
    head = TreeHead.from_json(head_bytes)
    hashes = leaves.hashes
    if head.size > len(hashes):
        report.add(
            f"inclusion {work_id}",
            False,
            f"head {head.size} is larger than the log ({len(hashes)} entries): entries are missing",
        )
        return None
    leaf = merkle.leaf_hash(stored_entry)
    proof = merkle.inclusion_proof(hashes, entry.index, head.size)
    included = (
        stored_entry == entry.data
        and hashes[entry.index] == leaf
        and merkle.root(hashes[: head.size]).hex() == head.root
        and merkle.verify_inclusion(leaf, entry.index, head.size, proof, bytes.fromhex(head.root))
    )
    pem = trust.public_keys.get(head.key_id)
    signed = pem is not None and verify_head(head, pem)
    report.add(
        f"inclusion {work_id}",
        included and signed,
        f"entry {entry.index} in head {head.size} (root {head.root[:16]}…, "
        f"{head.timestamp}); proof {'verifies' if included else 'DOES NOT verify'}; "
        + (
            f"signature by {head.key_id[:16]}… {'verifies' if signed else 'DOES NOT verify'}"
            " (trusted key)"
            if pem is not None
            else f"key {head.key_id} is not a trusted one (pin it: WARCFLOW_TRUST or "
            "--public-key; a key in the bucket is not trusted)"
        ),
    )
    return check_head_time(report, store, head, hashlib.sha256(head_bytes).hexdigest(), trust)


def check_head_time(
    report: Report, store: ObjectStore, head: TreeHead, digest: str, trust: Trust
) -> HeadTime:
    """Verify each token of ``head`` against the configured CA of its TSA; report
    coverage and the head's time (``skew head <size>``); return that time."""
    stamped = {}
    found = coverage(store, head.size)
    if not found:
        report.add(f"tsa head {head.size}", False, "no RFC 3161 token for the head")
    for name, token_key in sorted(found.items()):
        ca = trust.tsa_cas.get(name)
        try:
            if ca is None:
                raise TokenInvalid(
                    "this TSA is not configured here (WARCFLOW_TSA, WARCFLOW_TRUST): its "
                    "token is not counted (a CA in the bucket is not trusted)"
                )
            stamped[name] = verify_token(digest, store.get_bytes(token_key), ca)
            report.add(
                f"tsa {name} head {head.size}",
                True,
                f"token verifies (configured CA); genTime {stamped[name]:%Y-%m-%dT%H:%M:%SZ}",
            )
        except TokenInvalid as exc:
            report.add(f"tsa {name} head {head.size}", False, f"{token_key}: {exc}")
    missing = sorted(set(trust.tsa_cas) - set(found))
    report.add(
        f"coverage head {head.size}",
        bool(stamped),
        f"stamped by {', '.join(sorted(found)) or 'no TSA'}"
        + (f"; not (yet) by {', '.join(missing)} (stamped when it answers)" if missing else ""),
    )
    when = HeadTime(parse_iso(head.timestamp), stamped, trust.max_skew)
    report.add(f"skew head {head.size}", when.problem is None, when.problem or when.describe())
    return when


def check_order(
    report: Findings,
    name: str,
    submitted: str | None,
    dates: list[str],
    stored: str | None,
    head: HeadTime | None,
) -> None:
    """submitted ≤ every WARC-Date ≤ stored (second) ≤ the covering head's proof time
    (its earliest trusted TSA genTime, never the signer's own time)."""
    problems = []
    sub = parse_iso(submitted) if submitted else None
    warc = sorted(parse_iso(d) for d in dates if d)
    st = parse_iso(stored) if stored else None
    if sub and warc and warc[0] < sub:
        problems.append(f"WARC-Date {warc[0].isoformat()} is before submission {submitted}")
    if st and warc and warc[-1].replace(microsecond=0) > st:
        problems.append(f"WARC-Date {warc[-1].isoformat()} is after storage {stored}")
    bound = head.anchor if head else None
    if head is not None and bound is None:
        problems.append(f"no trusted TSA time bounds it ({head.describe()})")
    if st and bound and st > bound:
        problems.append(f"stored {stored} after the covering head's TSA time {bound.isoformat()}")
    report.add(
        f"order {name}",
        not problems,
        "; ".join(problems)
        or f"submitted {submitted} ≤ WARC-Date {warc[0].isoformat() if warc else '?'}"
        f"…{warc[-1].isoformat() if warc else '?'} ≤ stored {stored}"
        + (f" ≤ head's {head.describe()}" if head and bound else ""),
    )


def audit_capture(
    store: ObjectStore,
    manifest: Manifest,
    *,
    trust: Trust | None = None,
    leaves: LeafCache | None = None,
) -> Report:
    trust = trust or Trust()
    leaves = leaves or LeafCache(store)
    report = Report(manifest.capture_id, manifest.url)
    mkey = layout.manifest_key(manifest.url, manifest.capture_id)
    current = {mkey: sha256_of(store, mkey) or "missing"}
    dates: list[str] = []
    if manifest.status == STORED and manifest.warc_key and manifest.sha256:
        check_object(report, store, manifest.warc_key, manifest.sha256)
        dates = check_records(report, store, manifest.warc_key)
        current[manifest.warc_key] = sha256_of(store, manifest.warc_key) or "missing"
        check_revisits(report, store, manifest)
    head_time = check_ledger(report, store, manifest.capture_id, "capture", current, leaves, trust)
    if manifest.status == STORED:
        check_order(
            report, manifest.capture_id, manifest.submitted_at, dates, manifest.stored_at, head_time
        )
    media_items = list_media(store, manifest.capture_id)
    for media in media_items:
        audit_media(report, store, media, leaves, trust)
    have = {m.media_id for m in media_items}
    for item in manifest.media:
        if item.get("media_id") and item["media_id"] not in have:
            report.add(
                f"media {item['media_id']}",
                False,
                f"found in the page ({item.get('url')}) but there is no readable media "
                "manifest: not captured yet, or removed",
            )
    check_fixity(report, store, manifest.capture_id)
    report.liveness = liveness_of(store, manifest.url)
    report.add("liveness", True, describe_liveness(report.liveness))
    report.items = {
        **items_of(asdict(manifest)),
        # at audit time "media" means stored, not just found
        "media": any(m.status == STORED for m in media_items),
    }
    if manifest.screenshot_key:
        check_object_exists(report, store, manifest.screenshot_key)
    report.custody = [e.doc() for e in capture_entries(store, manifest.capture_id)]
    return report


def audit_media(
    report: Report, store: ObjectStore, media: MediaManifest, leaves: LeafCache, trust: Trust
) -> None:
    mkey = layout.media_manifest_key(media.parent_capture_id, media.media_id)
    current = {mkey: sha256_of(store, mkey) or "missing"}
    dates: list[str] = []
    if media.status == STORED:
        if media.key and media.sha256:
            check_object(report, store, media.key, media.sha256)
            current[media.key] = sha256_of(store, media.key) or "missing"
        if media.warc_key and media.warc_sha256:
            check_object(report, store, media.warc_key, media.warc_sha256)
            dates = check_records(report, store, media.warc_key)
            current[media.warc_key] = sha256_of(store, media.warc_key) or "missing"
    head_time = check_ledger(report, store, media.media_id, "media", current, leaves, trust)
    if media.status == STORED:
        check_order(report, media.media_id, media.submitted_at, dates, media.stored_at, head_time)


def check_fixity(report: Report, store: ObjectStore, capture_id: str) -> None:
    runs = [e for e in capture_entries(store, capture_id) if e.event.event == "fixity"]
    if not runs:
        report.add("fixity", True, "no fixity run yet")
        return
    last = runs[-1]
    bad = [o for o in last.event.detail.get("objects", []) if o.get("status") != "ok"]
    report.add(
        "fixity",
        not bad,
        f"last run {last.event.at}: "
        + (
            "; ".join(f"{o['key']} {o['status']}" for o in bad)
            if bad
            else f"{len(last.event.detail.get('objects', []))} objects unchanged"
        ),
    )


def liveness_of(store: ObjectStore, url: str) -> dict[str, Any] | None:
    try:
        return LivenessState.from_json(store.get_bytes(state_key(url))).summary()
    except (KeyError, ValueError):
        return None


def describe_liveness(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "not rechecked yet"
    text = f"original {summary['state']} ({summary['checks']} checks)"
    if summary.get("last_seen_alive"):
        text += f"; last seen alive {summary['last_seen_alive']}"
    if summary.get("first_seen_gone"):
        text += f"; first seen gone {summary['first_seen_gone']}"
    return text


def find_manifests(store, target: str) -> list[Manifest]:
    """Captures of a URL, newest first, or the one capture with this id."""
    if not layout.is_capture_id(target):
        return list_captures(store, target)
    entries = capture_entries(store, target)
    url = next((e.event.url for e in entries if e.event.url), None)
    if url is None:
        try:
            meta = read_metadata_record(
                store.open(layout.warc_key(target)), CAPTURE_METADATA_SCHEMA
            )
            url = meta.get("url") if meta else None
        except KeyError:
            return []
    if url is None:
        return []
    try:
        return [Manifest.from_json(store.get_bytes(layout.manifest_key(url, target)))]
    except (KeyError, ValueError):
        return []


def lost_capture(store, target: str) -> Report | None:
    """A capture the ledger records but whose manifest is gone or unreadable: a
    failed audit naming it (deleting evidence must not look like "no capture")."""
    if not layout.is_capture_id(target):
        return None
    entries = [e for e in capture_entries(store, target) if e.event.event in ("capture", "media")]
    if not entries:
        return None
    report = Report(target.upper(), entries[0].event.url or "?")
    manifest_key = entries[0].event.detail.get("manifest_key") or "its manifest"
    report.add(
        "manifest",
        False,
        f"the ledger records this capture (entry {entries[0].index}) "
        f"but {manifest_key} is missing or unreadable",
    )
    return report
