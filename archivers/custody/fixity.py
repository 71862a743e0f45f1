"""Fixity: re-hash stored objects and compare with what was recorded at capture.

The expected SHA-256 of each object comes from its capture's manifest (the
WARC, the media original and the media WARC). Fixity therefore notices bytes
that rot or change behind the manifests' back; a manifest rewritten together
with its object is ``warcflow audit``'s to catch (it checks every object and
the manifest against the ledger). ``check_capture`` streams each object (bounded memory) and
says, per object, ``ok``, ``mismatch`` (with the digest found) or ``missing``.
Results go into the ledger as ``fixity`` custody events; ``warcflow audit``
shows the last one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from archivers.custody.ledger import CustodyEvent, ObjectDigest
from archivers.manifests.listing import list_media
from archivers.manifests.manifest import STORED, Manifest
from archivers.store.base import ObjectStore


@dataclass(frozen=True)
class ObjectFixity:
    key: str
    expected: str
    actual: str | None
    status: str  # ok | mismatch | missing


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


def expected_objects(store: ObjectStore, manifest: Manifest) -> list[tuple[str, str]]:
    """(key, sha256) of every object a stored capture's manifests vouch for."""
    found = []
    if manifest.status == STORED and manifest.warc_key and manifest.sha256:
        found.append((manifest.warc_key, manifest.sha256))
    for media in list_media(store, manifest.capture_id):
        if media.status != STORED:
            continue
        if media.key and media.sha256:
            found.append((media.key, media.sha256))
        if media.warc_key and media.warc_sha256:
            found.append((media.warc_key, media.warc_sha256))
    return found


def check_capture(store: ObjectStore, manifest: Manifest) -> list[ObjectFixity]:
    out = []
    for key, expected in expected_objects(store, manifest):
        actual = sha256_of(store, key)
        status = "missing" if actual is None else "ok" if actual == expected else "mismatch"
        out.append(ObjectFixity(key, expected, actual, status))
    return out


def all_manifests(store: ObjectStore) -> Iterator[Manifest]:
    """Every readable page manifest in the bucket (unreadable ones: audit's business)."""
    for key in store.list_keys("manifests/"):
        try:
            yield Manifest.from_json(store.get_bytes(key))
        except (KeyError, ValueError):
            continue


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


def run(store: ObjectStore, emit, *, who: str, clock, only: str | None = None) -> dict:
    """Check every stored capture (or the one with id ``only``), emitting one
    fixity custody event per capture; totals of objects by status."""
    from archivers.clock import iso

    totals: dict[str, Any] = {"captures": 0, "ok": 0, "mismatch": 0, "missing": 0, "failed": []}
    for manifest in all_manifests(store):
        if manifest.status != STORED or (only and manifest.capture_id != only):
            continue
        results = check_capture(store, manifest)
        emit(fixity_event(manifest, results, iso(clock()), who))
        totals["captures"] += 1
        for result in results:
            totals[result.status] += 1
            if result.status != "ok":
                totals["failed"].append({"capture_id": manifest.capture_id, **asdict(result)})
    return totals
