"""The evidence files the viewer serves: WARCs, screenshots, media, posters, derived copies.

    /capture/{id}/warc  /capture/{id}/screenshot  /media/{sha256}
    /media/{sha256}/derived  /media/{sha256}/poster

Each is streamed from the store in chunks (never whole in memory), with
single-range requests for video seeking, ``Last-Modified`` and a ``Digest``
header of the stored object (the server's checksum). A capture's WARC is
served in the version its manifest recorded, so an overwrite (a newer
version) is not what a download gets. A download of evidence (a WARC or a media
original, from byte 0) needs an account and is a custody event (``record``)
whose ``who`` is that account (``NAME (viewer)``); ``downloader`` says which
account it is, or answers the request itself (no account, past the rate limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import format_datetime

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from archivers.clock import iso, utc_now
from archivers.custody.ledger import CustodyEvent, ObjectDigest
from archivers.manifests.listing import media_object_key
from archivers.store import layout
from archivers.store.base import ObjectStore, b64_digest

CHUNK = 1024 * 1024
"""Bytes read from the store per chunk of a response."""


def add_routes(
    app: FastAPI,
    store: ObjectStore,
    record: Callable[[CustodyEvent], None],
    warc_version: Callable[[str], str | None] = lambda capture_id: None,
    downloader: Callable[[Request], str | Response] = lambda request: "anonymous",
) -> None:
    """The file routes of the viewer app (see the module docstring).
    ``warc_version``: the S3 version of a capture's WARC its manifest recorded
    (None: not known), which the download serves; ``downloader(request)``: the
    account name a download is recorded as, or a response refusing it."""

    @app.get("/capture/{capture_id}/warc", summary="Download the WARC of a capture")
    def download_warc(capture_id: str, request: Request):
        if not layout.is_capture_id(capture_id):
            raise HTTPException(404, "not a capture id")
        account = downloader(request)
        if isinstance(account, Response):
            return account
        key = layout.warc_key(capture_id)
        version = warc_version(capture_id)
        response = _stream(
            store,
            key,
            request,
            "application/warc",
            attachment=f"{capture_id.upper()}.warc.gz",
            version_id=version,
        )
        downloaded(request, account, capture_id.upper(), key, version)
        return response

    @app.get(
        "/capture/{capture_id}/screenshot",
        summary="The screenshot of a browser capture",
        description="The full-page PNG taken when the page was captured (also a "
        "`resource` record in the capture's WARC). Served as image/png "
        "with a policy that lets nothing in it run.",
    )
    def screenshot(capture_id: str, request: Request):
        if not layout.is_capture_id(capture_id):
            raise HTTPException(404, "not a capture id")
        response = _stream(store, layout.screenshot_key(capture_id), request, "image/png")
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return response

    @app.get("/media/{sha256}", summary="The stored original media file (Range supported)")
    def media_file(sha256: str, request: Request):
        _check_digest(sha256)
        account = downloader(request)
        if isinstance(account, Response):
            return account
        key = _media_key(store, sha256)
        response = _stream(store, key, request, layout.media_type(key), expect_sha256=sha256)
        downloaded(request, account, None, key, digest=sha256)
        return response

    def downloaded(
        request: Request,
        account: str,
        capture_id: str | None,
        key: str,
        version_id: str | None = None,
        digest: str | None = None,
    ) -> None:
        """A custody event for a download of evidence; a player's later range
        requests (not from byte 0) are the same viewing, not recorded again.
        The object's digest is the server's checksum, or where the server keeps
        none (a multipart upload) ``digest``, the one the object is named by."""
        if is_seek(request.headers.get("range", "")):
            return
        head = store.head(key, version_id)
        at = iso(utc_now())
        record(
            CustodyEvent(
                event="download",
                event_id=f"download:{key}:{at}",
                at=at,
                who=f"{account} (viewer)",
                capture_id=capture_id,
                url=None,
                objects=(
                    ObjectDigest(key, head.sha256 or digest or "", head.size, head.version_id),
                )
                if head
                else (),
                detail={"path": request.url.path},
            )
        )

    @app.get("/media/{sha256}/derived", summary="The browser-playable copy, if one was made")
    def media_derived(sha256: str, request: Request):
        _check_digest(sha256)
        return _stream(store, layout.derived_key(sha256), request, "video/mp4")

    @app.get("/media/{sha256}/poster", summary="The poster frame (JPEG)")
    def media_poster(sha256: str, request: Request):
        _check_digest(sha256)
        return _stream(store, layout.poster_key(sha256), request, "image/jpeg")


def _check_digest(sha256: str) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise HTTPException(404, "not a SHA-256 digest")


def _media_key(store, sha256: str) -> str:
    _check_digest(sha256)
    key = media_object_key(store, sha256)
    if key is None:
        raise HTTPException(404, f"no media file sha256:{sha256}")
    return key


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def is_seek(range_header: str) -> bool:
    """Whether a request's ``Range`` is a player's seek inside a viewing already
    recorded: a range that starts after byte 0. Decided on the range as
    ``_stream`` serves it (one rule), so ``bytes=00-`` or a suffix range
    ``bytes=-N`` (which may cover the whole file) are downloads like any other."""
    wanted = _RANGE.match(range_header.strip())
    return bool(wanted and wanted.group(1) and int(wanted.group(1)) > 0)


def _stream(
    store,
    key: str,
    request: Request,
    content_type: str,
    *,
    attachment: str | None = None,
    version_id: str | None = None,
    expect_sha256: str | None = None,
) -> Response:
    """An S3 object (its version ``version_id`` if given) as an HTTP response, with
    single-range requests (video seeking). ``Digest`` is the server's checksum.

    ``expect_sha256``: the digest the object is named by (a media original's key
    is its SHA-256). When the server's checksum says otherwise — a newer version
    written over it behind warcflow's back — nothing is served (409): a download
    of evidence is the bytes the manifest recorded or nothing."""
    head = store.head(key, version_id)
    if head is None:
        raise HTTPException(
            404, f"nothing stored at {key}" + (f" version {version_id}" if version_id else "")
        )
    if expect_sha256 and head.sha256 and head.sha256 != expect_sha256:
        raise HTTPException(
            409,
            f"{key} no longer holds sha256:{expect_sha256} (the server's checksum is "
            f"sha256:{head.sha256}); it was changed after it was stored: run "
            "`warcflow fixity` and see the custody ledger",
        )
    size = head.size
    headers = {
        "Accept-Ranges": "bytes",
        "Last-Modified": format_datetime(head.last_modified, usegmt=True),
    }
    if head.sha256:
        headers["Digest"] = f"sha-256={b64_digest(head.sha256)}"
    if attachment:
        headers["Content-Disposition"] = f'attachment; filename="{attachment}"'
    wanted = _RANGE.match(request.headers.get("range", "").strip())
    if wanted and size:
        first, last = wanted.groups()
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end or start >= size:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        body = store.open(key, (start, end), version_id=version_id)
        return StreamingResponse(
            _chunks(body), status_code=206, media_type=content_type, headers=headers
        )
    headers["Content-Length"] = str(size)
    return StreamingResponse(
        _chunks(store.open(key, version_id=version_id)), media_type=content_type, headers=headers
    )


def _chunks(body):
    try:
        while chunk := body.read(CHUNK):
            yield chunk
    finally:
        body.close()
