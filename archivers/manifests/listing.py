"""Reading the captures of a URL back from the store (the manifests)."""

from __future__ import annotations

from archivers.manifests.manifest import Manifest, MediaManifest
from archivers.store import layout
from archivers.store.base import ObjectStore


def list_captures(store: ObjectStore, url: str, *, limit: int | None = None) -> list[Manifest]:
    """Manifests of ``url`` newest first (by submission time, which the keys sort by).

    A manifest that cannot be parsed is skipped here; ``warcflow audit`` reports it.
    """
    found = sorted(store.list_keys(layout.manifest_prefix(url)), reverse=True)
    out = []
    for key in found[:limit] if limit else found:
        try:
            out.append(Manifest.from_json(store.get_bytes(key)))
        except (ValueError, KeyError):
            continue
    return out


def list_media(store: ObjectStore, capture_id: str) -> list[MediaManifest]:
    """Media manifests of one page capture, in media-id order."""
    out = []
    for key in sorted(store.list_keys(layout.media_manifest_prefix(capture_id))):
        try:
            out.append(MediaManifest.from_json(store.get_bytes(key)))
        except (ValueError, KeyError):
            continue
    return out


def media_object_key(store: ObjectStore, sha256: str) -> str | None:
    """Key of the stored original with this digest (whatever its extension), or None."""
    derived = (".poster.jpg", ".derived.mp4", ".json")
    for key in store.list_keys(layout.media_prefix(sha256)):
        if not key.endswith(derived):
            return key
    return None
