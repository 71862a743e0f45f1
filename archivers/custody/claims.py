"""Checking what a custody event claims against the store, before the ledger keeps it.

The ledger is signed, time-stamped and locked: what it records cannot be taken
back. A message on ``warcflow.custody`` is only a claim, whoever sent it (review
F2: a forged "fixity mismatch" of an intact object was written into the ledger
as fact). So the ledger stage appends an event only when what it says about
stored objects holds now (``problem`` returns why not, and the message is
dead-lettered with that reason):

- ``capture`` / ``media``: the manifest the event names (``detail.manifest_key``)
  is in the store and is that capture's (or media's); every object it lists
  exists at the version it names, with that size and SHA-256 (the server's
  checksum of that version, else the bytes re-hashed); and each digest the
  manifest itself states for an object agrees with the claim;
- ``fixity``: the capture's manifest is present; every object the event
  reports is one of the capture's (``fixity.expected_objects``, the very rule
  the fixity run uses) and its ``expected`` digest is that rule's; an object
  reported ``mismatch``, ``missing`` or ``unreadable`` is re-read to the end
  now, and the claim is false if it hashes to the expected digest; an object
  reported ``ok`` must have that digest (server checksum, else re-hashed) —
  so a real change behind warcflow's back is recorded, and a false one is not;
- ``recheck``, ``export``, ``download``: they state what a recheck, an export or
  a viewer saw, nothing the store holds; they are recorded as attributed
  statements (``who``), not proven ones.

Invariant: ``problem(store, event)`` is None exactly when every checkable claim
of ``event`` holds against the store at the time of the call.
"""

from __future__ import annotations

import hashlib
from typing import Any

from archivers.custody.fixity import expected_objects
from archivers.custody.ledger import CustodyEvent, ObjectDigest
from archivers.manifests.manifest import Manifest, MediaManifest
from archivers.store import layout
from archivers.store.base import ObjectStore

BAD_STATUSES = ("mismatch", "missing", "unreadable")


def _hash(store: ObjectStore, key: str, version_id: str | None = None) -> str | None:
    """SHA-256 of the bytes of ``key`` (at ``version_id``), read to the end; None if absent."""
    try:
        stream = store.open(key, version_id=version_id)
    except KeyError:
        return None
    digest = hashlib.sha256()
    try:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    except Exception:  # noqa: BLE001 - cannot be read to the end: not the recorded bytes
        return None
    finally:
        stream.close()
    return digest.hexdigest()


def _digest(store: ObjectStore, key: str, version_id: str | None = None) -> str | None:
    """The server's SHA-256 of ``key`` (at ``version_id``), else the bytes hashed."""
    head = store.head(key, version_id)
    if head is None:
        return None
    return head.sha256 or _hash(store, key, version_id)


def problem(store: ObjectStore, event: CustodyEvent) -> str | None:
    """Why ``event`` must not be recorded, or None when its claims hold."""
    if event.event in ("capture", "media"):
        return _stored(store, event)
    if event.event == "fixity":
        return _fixity(store, event)
    return None


def _object(store: ObjectStore, o: ObjectDigest) -> str | None:
    head = store.head(o.key, o.version_id)
    if head is None:
        where = f" version {o.version_id}" if o.version_id else ""
        return f"{o.key}{where} is not in the store"
    sha = head.sha256 or _hash(store, o.key, o.version_id)
    if sha != o.sha256:
        return f"{o.key} has SHA-256 {sha} in the store, the event claims {o.sha256}"
    if head.size != o.size:
        return f"{o.key} has {head.size} bytes in the store, the event claims {o.size}"
    return None


def _stored(store: ObjectStore, event: CustodyEvent) -> str | None:
    mkey = event.detail.get("manifest_key")
    if not isinstance(mkey, str) or not mkey:
        return "the event names no manifest"
    try:
        raw = store.get_bytes(mkey)
    except KeyError:
        return f"its manifest {mkey} is not in the store"
    try:
        if event.event == "media":
            mm = MediaManifest.from_json(raw)
            own, named = (
                mm.media_id,
                {mm.key: mm.sha256, mm.warc_key: mm.warc_sha256},
            )
        else:
            m = Manifest.from_json(raw)
            own, named = m.capture_id, {m.warc_key: m.sha256}
    except ValueError as exc:
        return f"its manifest {mkey} is not readable: {exc}"
    if str(own).upper() != str(event.capture_id).upper():
        return f"{mkey} is the manifest of {own}, not of {event.capture_id}"
    claimed = {o.key: o.sha256 for o in event.objects}
    for o in event.objects:
        wrong = _object(store, o)
        if wrong:
            return wrong
    for key, sha in named.items():
        if key and sha and key in claimed and claimed[key] != sha:
            return f"{mkey} says {key} has SHA-256 {sha}, the event claims {claimed[key]}"
    return None


def _fixity(store: ObjectStore, event: CustodyEvent) -> str | None:
    if not event.capture_id or not event.url:
        return "a fixity event names no capture"
    try:
        mkey = layout.manifest_key(event.url, event.capture_id)
        manifest = Manifest.from_json(store.get_bytes(mkey))
    except (KeyError, ValueError) as exc:
        return f"the manifest of capture {event.capture_id} is not in the store ({exc})"
    expected = expected_objects(store, manifest).objects
    reported: list[dict[str, Any]] = list(event.detail.get("objects") or [])
    if event.detail.get("ok") is not all(
        isinstance(o, dict) and o.get("status") == "ok" for o in reported
    ):
        return "its ok flag does not follow from the object statuses it reports"
    for o in reported:
        if not isinstance(o, dict):
            return "a fixity result that is not an object"
        key, status = str(o.get("key")), o.get("status")
        if key not in expected:
            if status == "unreadable":
                continue  # a manifest or ledger entry that could not be parsed: named as such
            return f"{key} is not an object of capture {event.capture_id}"
        if o.get("expected") != expected[key]:
            return (
                f"{key}: the event expects {o.get('expected')}, the ledger and manifests "
                f"record {expected[key]}"
            )
        if status in BAD_STATUSES:
            if _hash(store, key) == expected[key]:
                return (
                    f"{key} is reported {status}, but it reads back whole with the "
                    f"recorded SHA-256 {expected[key]}"
                )
        elif status == "ok":
            found = _digest(store, key)
            if found != expected[key]:
                return f"{key} is reported ok, but the store has SHA-256 {found}"
        else:
            return f"{key}: unknown fixity status {status!r}"
    return None
