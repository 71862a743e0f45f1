"""Reading the captures of a URL back from the store (the manifests)."""

from __future__ import annotations

from archivers import keys
from archivers.manifest import Manifest
from archivers.store import ObjectStore


def list_captures(store: ObjectStore, url: str, *, limit: int | None = None) -> list[Manifest]:
    """Manifests of ``url`` newest first (by submission time, which the keys sort by).

    A manifest that cannot be parsed is skipped here; ``warcflow audit`` reports it.
    """
    found = sorted(store.list_keys(keys.manifest_prefix(url)), reverse=True)
    out = []
    for key in found[:limit] if limit else found:
        try:
            out.append(Manifest.from_json(store.get_bytes(key)))
        except (ValueError, KeyError):
            continue
    return out
