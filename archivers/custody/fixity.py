"""Fixity: re-hash stored objects and compare with what was recorded at capture.

What is checked, per page capture (stored or failed: a "deleted" page's WARC
is evidence too): every object its ledger entries record — the WARC, the
manifest, the CDXJ index, the screenshot; for each of its media, the original,
the poster, the derived copy, the media WARC and the media manifest — and
every object its manifests name (the WARC, each media original and media
WARC), whether or not the custody feed has recorded them yet. The expected
SHA-256 is the ledger's where it has one (signed, in a Merkle log), else the
manifest's. Fixity therefore notices bytes that rot or change behind our
back, a manifest rewritten after it was recorded included; a manifest
rewritten together with its objects *before* the ledger saw them is
``warcflow audit``'s to catch (it checks the manifest against the ledger and
every WARC record's digest).

``run`` also re-hashes the ledger's own entries against the leaf hashes of
its tiles (an edited entry no longer matches its tile, which the signed
heads commit to).

Each object is ``ok``, ``mismatch`` (with the digest found), ``missing`` or
``unreadable`` (it could not be read to the end); a manifest or ledger entry
that cannot be parsed is ``unreadable`` too, counted and named, never skipped
in silence. Objects are streamed (bounded memory). Results go into the ledger
as ``fixity`` custody events, one per capture; ``warcflow audit`` shows the
last one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from archivers.custody.ledger import (
    TILE,
    CustodyEvent,
    Entry,
    ObjectDigest,
    entry_index_of,
    entry_key,
)
from archivers.custody.merkle import leaf_hash
from archivers.errors import StoreUnavailable
from archivers.manifests.manifest import STORED, Manifest, MediaManifest
from archivers.store import layout
from archivers.store.base import ObjectStore

STATUSES = ("ok", "mismatch", "missing", "unreadable")


class Unreadable(Exception):
    """An object exists but could not be read to the end."""


@dataclass(frozen=True)
class ObjectFixity:
    key: str
    expected: str
    actual: str | None
    status: str  # ok | mismatch | missing | unreadable
    detail: str = ""


def sha256_of(store: ObjectStore, key: str) -> str | None:
    """SHA-256 of the object's current bytes, streamed; None if there is none."""
    try:
        stream = store.open(key)
    except KeyError:
        return None
    digest = hashlib.sha256()
    try:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    finally:
        stream.close()
    return digest.hexdigest()


def rehash(store: ObjectStore, key: str) -> str | None:
    """``sha256_of``, with a read that breaks off as ``Unreadable`` (a store
    outage is raised as it is: the whole run is worth doing again later)."""
    try:
        return sha256_of(store, key)
    except StoreUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any break-off of the stream: say so, go on
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None


def object_digest(store: ObjectStore, key: str) -> ObjectDigest | None:
    """What the server holds under ``key`` now: size, version and SHA-256 (the
    server's recorded one, else hashed here); None if there is no such object."""
    head = store.head(key)
    if head is None:
        return None
    sha256 = head.sha256 or sha256_of(store, key)
    if sha256 is None:
        return None
    return ObjectDigest(key, sha256, head.size, head.version_id)


@dataclass
class Expected:
    """What one capture's objects should hash to, and what could not be read."""

    objects: dict[str, str] = field(default_factory=dict)
    problems: list[ObjectFixity] = field(default_factory=list)
    """Manifests and ledger entries that could not be read (or are gone)."""

    def add(self, key: str | None, sha256: str | None, *, over: bool = False) -> None:
        if key and sha256 and (over or key not in self.objects):
            self.objects[key] = sha256


def recorded(store: ObjectStore, work_id: str, expected: Expected) -> None:
    """Add the objects the ledger entry of ``work_id`` (``stored:<id>``) records."""
    index = entry_index_of(store, f"stored:{work_id}")
    if index is None:
        return  # not recorded (yet): the manifests say what to expect
    key = entry_key(index)
    try:
        entry = Entry.from_data(store.get_bytes(key))
    except KeyError:
        expected.problems.append(
            ObjectFixity(key, "", None, "missing", f"the ledger entry of {work_id}")
        )
        return
    except ValueError as exc:
        expected.problems.append(
            ObjectFixity(key, "", None, "unreadable", f"the ledger entry of {work_id}: {exc}")
        )
        return
    for obj in entry.event.objects:
        expected.add(obj.key, obj.sha256, over=True)  # the ledger's word wins


def expected_objects(store: ObjectStore, manifest: Manifest) -> Expected:
    """Every object a page capture's manifests and ledger entries vouch for."""
    expected = Expected()
    if manifest.warc_key and manifest.sha256:
        expected.add(manifest.warc_key, manifest.sha256)
    recorded(store, manifest.capture_id, expected)
    media_ids = {str(m["media_id"]).upper() for m in manifest.media if m.get("media_id")}
    for key in sorted(store.list_keys(layout.media_manifest_prefix(manifest.capture_id))):
        try:
            media = MediaManifest.from_json(store.get_bytes(key))
        except KeyError:
            continue
        except ValueError as exc:
            expected.problems.append(ObjectFixity(key, "", None, "unreadable", str(exc)))
            continue
        media_ids.add(media.media_id.upper())
        if media.status == STORED:
            expected.add(media.key, media.sha256)
            expected.add(media.warc_key, media.warc_sha256)
    for media_id in sorted(media_ids):
        recorded(store, media_id, expected)
    for capture_id in sorted(manifest.originals()):
        # the WARCs holding the originals of this capture's revisit records, as
        # their own capture's ledger entry vouches for them
        recorded(store, capture_id, expected)
    return expected


def check_capture(
    store: ObjectStore, manifest: Manifest, hashed: dict[str, str | None] | None = None
) -> list[ObjectFixity]:
    """Re-hash every object the capture's manifests and entries vouch for.
    ``hashed`` keeps one run's digests of the objects not the capture's own (the
    originals its revisit records name, media stored once): an object several
    captures vouch for is read once a run."""
    expected = expected_objects(store, manifest)
    out = list(expected.problems)
    hashed = {} if hashed is None else hashed
    for key, sha in sorted(expected.objects.items()):
        try:
            if key in hashed:
                actual = hashed[key]
            else:
                actual = rehash(store, key)
                if manifest.capture_id.upper() not in key.upper():
                    hashed[key] = actual
        except Unreadable as exc:
            out.append(ObjectFixity(key, sha, None, "unreadable", str(exc)))
            continue
        status = "missing" if actual is None else "ok" if actual == sha else "mismatch"
        out.append(ObjectFixity(key, sha, actual, status))
    return out


def manifests(store: ObjectStore) -> Iterator[tuple[str, Manifest | None, str]]:
    """(key, manifest or None, why not) for every page manifest in the bucket."""
    for key in store.list_keys("manifests/"):
        try:
            yield key, Manifest.from_json(store.get_bytes(key)), ""
        except KeyError:
            continue  # deleted since it was listed
        except ValueError as exc:
            yield key, None, str(exc)


def all_manifests(store: ObjectStore) -> Iterator[Manifest]:
    """Every readable page manifest in the bucket (``manifests`` names the others)."""
    for _key, manifest, _why in manifests(store):
        if manifest is not None:
            yield manifest


def check_ledger_entries(store: ObjectStore) -> list[ObjectFixity]:
    """Every ledger entry inside a tile re-hashed against the tile's leaf hash;
    the problems (an entry after the tiles is checked by every load of the log)."""
    problems = []
    for tile in store.list_keys("ledger/tiles/"):
        k = int(tile.rsplit("/", 1)[1].split(".")[0])
        try:
            hashes = store.get_bytes(tile)
        except KeyError:
            continue
        for i in range(min(TILE, len(hashes) // 32)):
            key = entry_key(k * TILE + i)
            try:
                data = store.get_bytes(key)
            except KeyError:
                problems.append(
                    ObjectFixity(key, hashes[i * 32 : i * 32 + 32].hex(), None, "missing")
                )
                continue
            want = hashes[i * 32 : (i + 1) * 32]
            got = leaf_hash(data)
            if got != want:
                problems.append(ObjectFixity(key, want.hex(), got.hex(), "mismatch", "leaf hash"))
    return problems


def summary(results: list[ObjectFixity]) -> dict:
    return {"ok": all(r.status == "ok" for r in results), "objects": [asdict(r) for r in results]}


def fixity_event(
    manifest: Manifest, results: list[ObjectFixity], at: str, who: str
) -> CustodyEvent:
    """The custody event recording one capture's fixity check."""
    return CustodyEvent(
        event="fixity",
        event_id=f"fixity:{manifest.capture_id}:{at}",
        at=at,
        who=who,
        capture_id=manifest.capture_id,
        url=manifest.url,
        detail=summary(results),
    )


def run(
    store: ObjectStore,
    emit: Callable[[CustodyEvent], Any],
    *,
    who: str,
    clock,
    only: str | None = None,
) -> dict:
    """Check every capture (or the one with id ``only``), emitting one fixity
    custody event per capture, then the ledger's entries; totals of objects by
    status, every object that is not ``ok`` (``failed``), and the manifests that
    could not be read (``unreadable_manifests``)."""
    from archivers.clock import iso

    totals: dict[str, Any] = {
        "captures": 0,
        "objects": 0,
        **{status: 0 for status in STATUSES},
        "failed": [],
        "unreadable_manifests": [],
        "ledger_entries_checked": 0,
    }
    hashed: dict[str, str | None] = {}
    for key, manifest, why in manifests(store):
        if manifest is None:
            if not only:
                totals["unreadable"] += 1
                totals["unreadable_manifests"].append({"key": key, "detail": why})
            continue
        if only and manifest.capture_id != only.upper():
            continue
        results = check_capture(store, manifest, hashed)
        emit(fixity_event(manifest, results, iso(clock()), who))
        totals["captures"] += 1
        for result in results:
            totals["objects"] += 1
            totals[result.status] += 1
            if result.status != "ok":
                totals["failed"].append({"capture_id": manifest.capture_id, **asdict(result)})
    if not only:
        size = sum(1 for _ in store.list_keys("ledger/tiles/")) * TILE
        for result in check_ledger_entries(store):
            totals[result.status] += 1
            totals["failed"].append({"capture_id": None, **asdict(result)})
        totals["ledger_entries_checked"] = size
    return totals
