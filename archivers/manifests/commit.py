"""The idempotent commit of a capture attempt: one protocol for pages and media.

Every capture (a page, a media item) ends the same way, whatever happened
before it, so that a message delivered twice, or an attempt that died half
way, leaves exactly one outcome:

1. ``read_manifest``: if the capture's manifest exists, the capture is done.
2. ``put_warc``: put the WARC if absent. If an earlier attempt stored one and
   died before its manifest, the stored WARC is the one that counts: its own
   ``metadata`` record is read back (``WarcCommit.meta``) and ours is dropped.
3. ``put_manifest``: put the manifest if absent (the commit point); if another
   attempt won the race, its manifest is the one returned.

Invariant: for one manifest key there is at most one manifest, and a
``stored`` manifest describes the WARC object that is under its WARC key.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from archivers.errors import StoreUnavailable
from archivers.manifests.manifest import read_metadata_record
from archivers.net.recording import DigestingSpool
from archivers.store.base import ObjectStore, StoredObject


class _Manifest(Protocol):
    def to_json(self) -> bytes: ...


M = TypeVar("M", bound=_Manifest)


@dataclass(frozen=True)
class WarcCommit:
    """What step 2 found. ``meta`` is None when our spool is what got stored, else
    the stored WARC's metadata record (an earlier attempt's), which wins."""

    stored: StoredObject
    meta: dict[str, Any] | None

    @property
    def ours(self) -> bool:
        return self.meta is None


async def read_manifest(store: ObjectStore, key: str, parse: Callable[[bytes], M]) -> M | None:
    """The manifest under ``key``, or None if there is none yet (step 1)."""
    try:
        data = await asyncio.to_thread(store.get_bytes, key)
    except KeyError:
        return None
    return parse(data)


async def put_warc(store: ObjectStore, key: str, spool: DigestingSpool, schema: str) -> WarcCommit:
    """Step 2: store ``spool`` under ``key`` unless a WARC is there; then the server's
    facts, and (if the stored WARC is an earlier attempt's) its ``schema`` metadata."""
    stored = await asyncio.to_thread(
        store.put_if_absent,
        key,
        spool.fileobj(),
        size=spool.size,
        sha256=spool.sha256,
        content_type="application/warc",
    )
    if stored is not None:
        return WarcCommit(stored, None)
    # An earlier attempt stored this capture's WARC and died before its
    # manifest: the stored WARC is the one that counts, ours is dropped.
    stored = await asyncio.to_thread(store.head, key)
    if stored is None:
        raise StoreUnavailable(f"{key} exists but cannot be read", reason="store_inconsistent")
    return WarcCommit(stored, await asyncio.to_thread(stored_metadata, store, key, schema))


def stored_metadata(store: ObjectStore, key: str, schema: str) -> dict[str, Any]:
    """The ``schema`` metadata record of the WARC stored under ``key`` (blocking)."""
    with store.open(key) as stream:
        meta = read_metadata_record(stream, schema)
    if meta is None:
        raise StoreUnavailable(f"{key} has no {schema} record", reason="store_inconsistent")
    return meta


async def put_manifest(
    store: ObjectStore, key: str, manifest: M, parse: Callable[[bytes], M]
) -> tuple[M, bool]:
    """Step 3, the commit point: (the manifest that counts, whether it is ours)."""
    body = manifest.to_json()
    created = await asyncio.to_thread(
        store.put_new,
        key,
        io.BytesIO(body),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        content_type="application/json",
    )
    if not created:
        existing = await read_manifest(store, key, parse)
        if existing is not None:
            return existing, False
    return manifest, True
