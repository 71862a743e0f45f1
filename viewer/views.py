"""The objects the viewer's API and ``warcflow captures --json`` print, and replay links.

One function builds a capture object from a manifest and its media manifests,
so the CLI and ``GET /api/captures`` return the same thing (docs/formats.md),
each with a ``replay_url``.
"""

from __future__ import annotations

from typing import Any

from archivers.errors import InvalidURL
from archivers.manifests.manifest import Manifest, MediaManifest
from archivers.urls import validate_url
from archivers.warc.cdxj import timestamp14


def replay_url(
    replay_base: str, collection: str, url: str, when: str | None, *, original: bool = False
) -> str:
    """pywb URL replaying ``url`` as captured at ``when`` (a WARC date), framed: pywb's
    banner around the page, for people.

    ``original=True`` gives the ``id_`` form: the archived bytes as they were
    served, not rewritten.
    """
    stamp = timestamp14(when) if when else ""
    return f"{replay_base}/{collection}/{stamp}{'id_' if original else ''}/{url}"


def memento_url(replay_base: str, collection: str, url: str, when: str) -> str:
    """The URI-M of the capture of ``url`` at ``when``: pywb's unframed ``mp_`` replay,
    whose body is the archived page itself (links rewritten to stay in the archive)
    and whose headers carry ``Memento-Datetime`` — what Memento clients get."""
    return f"{replay_base}/{collection}/{timestamp14(when)}mp_/{url}"


def capture_object(
    manifest: dict[str, Any] | Manifest,
    media: list[dict[str, Any]] | list[MediaManifest],
    replay_base: str,
    collection: str,
) -> dict[str, Any]:
    m = manifest if isinstance(manifest, Manifest) else Manifest.from_dict(manifest)
    out = m.summary()
    out["replay_url"] = (
        replay_url(replay_base, collection, m.final_url or m.url, m.fetched_at)
        if m.warc_key
        else None
    )
    out["media"] = [media_object(item) for item in media]
    return out


def media_object(manifest: dict[str, Any] | MediaManifest) -> dict[str, Any]:
    m = manifest if isinstance(manifest, MediaManifest) else MediaManifest.from_dict(manifest)
    return m.summary()


def checked_url(url: str) -> str:
    """``url`` if warcflow can capture it; HTTP 400 saying why not otherwise."""
    from fastapi import HTTPException

    try:
        validate_url(url)
    except InvalidURL as exc:
        raise HTTPException(400, f"not a URL warcflow captures: {exc}") from None
    return url
