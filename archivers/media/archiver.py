"""Media capture: the video in a post, at full quality, stored once per content.

``MediaArchiver.capture`` is the media agent's work function (Kafka-free). For
one ``MediaRequest`` (found in a page capture, see ``archivers.discovery``):

1. If its manifest exists, it is done (``created=False``).
2. Download into a private temporary directory:
   - ``direct`` files with warcflow's fetcher;
   - ``stream`` (HLS/DASH) and ``extractor`` pages with the fenced yt-dlp
     (``archivers.ytdlp``): best quality, audio and video merged by remuxing,
     never re-encoded. Every HTTP exchange of either path is recorded.
3. ffprobe the file (container, codecs, duration, size, frame rate); refuse it
   past ``max_duration``. Hash it (SHA-256, streamed).
4. Store it content-addressed at ``media/sha256/<aa>/<digest>.<ext>`` unless
   that object exists already (another post carried the same clip), plus a
   JPEG poster and, when the original does not play in browsers, a derived MP4
   (remuxed or transcoded; method and command recorded), both named by the
   original's digest and made once.
5. Write the media WARC: the recorded exchanges as request/response records
   (so the page's own player replays), a ``resource`` record for a file that
   yt-dlp assembled, and a ``metadata`` record with ffprobe's facts and
   yt-dlp's info, pointing at the page's response record
   (``WARC-Refers-To``). When the clip was stored before, the response that
   carried it becomes a ``revisit`` record pointing at the first capture, so
   reposts do not store the bytes again.
6. Put the WARC if absent, then the manifest if absent (the commit point):
   the protocol page capture shares (``archivers.manifests.commit``).

Beside the poster and the derived copy, from the downloaded file: its
perceptual hashes (``archivers.media.perceptual``: vPDQ with centre-crop PDQ
of the same frames, Chromaprint of the audio), written into the media WARC
before its metadata record (a ``metadata`` record documenting the
derivation: tools, versions, parameters) and into the manifest
(``perceptual``). A derivation that fails is a problem noted there, never a
failed item.

Memory stays bounded whatever the file size: responses are spooled to disk as
they arrive, the file is hashed and uploaded in parts from disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archivers.clock import iso, iso_seconds, utc_now
from archivers.errors import (
    LimitExceeded,
    Permanent,
    http_error,
)
from archivers.extract.post import post_from_info
from archivers.manifests.commit import put_manifest, put_warc, read_manifest
from archivers.manifests.manifest import FAILED, STORED, MediaManifest
from archivers.media import ffmpeg, perceptual
from archivers.net.cookies import SessionCookies
from archivers.net.fetcher import Fetcher
from archivers.net.recording import DecodedBudget, DecodingReader, DigestingSpool, Exchange
from archivers.sessions.pool import SessionPool
from archivers.store import layout
from archivers.store.base import ObjectStore
from archivers.warc.cdxj import store_index
from archivers.warc.writer import WarcWriter, warcinfo_fields

log = logging.getLogger("warcflow.media")

MEDIA_METADATA_SCHEMA = "warcflow.media-metadata"


@dataclass(frozen=True)
class MediaSettings:
    """Limits of media capture. Bytes, seconds."""

    max_bytes: int = 4 * 1024**3
    max_duration: float = 4 * 3600.0
    max_requests: int = 5000
    """Most HTTP requests one yt-dlp download makes (API calls, playlists, keys,
    segments): a playlist of a million tiny segments is refused, not followed."""
    timeout: float = 1800.0
    per_page: int = 20
    derive: bool = True
    hashes: bool = True
    """Perceptual hashes (vPDQ, PDQ, Chromaprint) of every item (``archivers.media.perceptual``)."""


@dataclass(frozen=True)
class MediaRequest:
    media_id: str
    parent_capture_id: str
    page_url: str
    media_url: str
    kind: str
    found_by: str
    submitted_at: datetime
    parent_record_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    """The session that saw the page (its media are fetched with it while it is active)."""


@dataclass(frozen=True)
class MediaResult:
    manifest: MediaManifest
    created: bool


@dataclass
class _Download:
    path: Path
    exchanges: list[Exchange]
    info: dict[str, Any] | None
    started_at: datetime
    limits: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    session: dict[str, str] | None = None
    """The logged-in session that fetched it (``Session.public``), if any."""

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.close()


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _file_chunks(path: Path):
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


class MediaArchiver:
    def __init__(
        self,
        fetcher: Fetcher,
        store: ObjectStore,
        settings: MediaSettings,
        *,
        agent: dict[str, str],
        clock: Callable[[], datetime] = utc_now,
        workdir: Path | None = None,
        sessions: SessionPool | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.sessions = sessions
        """The logged-in sessions (``archivers.sessions``): media of a page is
        fetched with the session its page capture picks (the same key)."""
        self.store = store
        self.settings = settings
        self.agent = agent
        self.clock = clock
        self.workdir = workdir

    async def existing(self, request: MediaRequest) -> MediaManifest | None:
        return await read_manifest(
            self.store,
            layout.media_manifest_key(request.parent_capture_id, request.media_id),
            MediaManifest.from_json,
        )

    async def capture(self, request: MediaRequest) -> MediaResult:
        done = await self.existing(request)
        if done is not None:
            return MediaResult(done, created=False)
        if self.workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="warcflow-media-", dir=self.workdir) as tmp:
            workdir = Path(tmp)
            download = await self._download(request, workdir)
            try:
                return await self._store(request, download, workdir)
            finally:
                download.close()

    async def _download(self, request: MediaRequest, workdir: Path) -> _Download:
        """Fetch the media into ``workdir``: direct files by the fetcher, streams and
        pages by the fenced yt-dlp. Times itself in ``timings["download"]``."""
        t0 = time.perf_counter()
        # the media of a page are fetched as the page was: with its session (or,
        # if that one has expired since, another of the site's), or without one
        session = (
            await asyncio.to_thread(
                self.sessions.choose, request.page_url, prefer=request.session_id
            )
            if self.sessions and request.session_id
            else None
        )
        jar = session.jar() if session else None
        if request.kind == "direct":
            download = await self._direct(request, workdir, jar)
        else:
            download = await asyncio.to_thread(self._with_ytdlp, request, workdir, jar)
        download.timings["download"] = time.perf_counter() - t0
        download.session = session.public() if session else None
        return download

    async def rehearse(self, url: str) -> dict[str, Any]:
        """The extractor canary: download and probe ``url`` exactly as a capture
        would (the fenced yt-dlp for streams and pages it knows), store nothing.
        Facts of what came down, or a ``CaptureError`` saying why not."""
        from archivers.extract.media import media_kind
        from archivers.media.ytdlp import extractor_recognises

        kind = "extractor" if extractor_recognises(url) else media_kind(url)
        request = MediaRequest(
            media_id="canary",
            parent_capture_id="canary",
            page_url=url,
            media_url=url,
            kind=kind,
            found_by="canary",
            submitted_at=self.clock(),
        )
        if self.workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="warcflow-canary-", dir=self.workdir) as tmp:
            download = await self._download(request, Path(tmp))
            try:
                facts = await asyncio.to_thread(ffmpeg.probe, download.path)
                size = download.path.stat().st_size
            finally:
                download.close()
        return {
            "url": url,
            "kind": kind,
            "seconds": round(download.timings["download"], 3),
            "size": size,
            "duration": facts.duration,
            "container": facts.container,
            "video_codec": facts.video_codec,
        }

    async def record_failure(
        self,
        request: MediaRequest,
        *,
        reason: str,
        message: str,
        attempts: list[dict[str, str]] | None = None,
    ) -> MediaResult:
        done = await self.existing(request)
        if done is not None:
            return MediaResult(done, created=False)
        manifest = MediaManifest(
            **self._identity(request),
            status=FAILED,
            reason=reason,
            message=message,
            finished_at=iso(self.clock()),
            attempts=list(attempts or []),
        )
        return await self._put_manifest(request, manifest)

    def _identity(self, request: MediaRequest) -> dict[str, Any]:
        return {
            "media_id": request.media_id,
            "parent_capture_id": request.parent_capture_id,
            "page_url": request.page_url,
            "source_url": request.media_url,
            "kind": request.kind,
            "found_by": request.found_by,
            "submitted_at": iso(request.submitted_at),
            "request": dict(request.request),
            "provenance": dict(request.provenance),
            "agent": dict(self.agent),
        }

    # -- download ---------------------------------------------------------------

    async def _direct(
        self, request: MediaRequest, workdir: Path, jar: SessionCookies | None = None
    ) -> _Download:
        started = self.clock()
        chain = await self.fetcher.fetch_chain(
            request.media_url, referer=request.page_url, session=jar
        )
        download = _Download(workdir / "download.bin", chain, None, started)
        final = chain[-1]
        try:
            if final.response.truncated == "length":
                raise LimitExceeded(
                    f"{final.url} is larger than {self.settings.max_bytes} bytes",
                    reason="media_too_large",
                )
            if final.status >= 300:
                raise http_error(final.status, f"{final.url} answered HTTP {final.status}")
            # the limit holds for the decoded bytes, counted as they are decoded:
            # a gzip bomb stops here, not after filling the disk
            budget = DecodedBudget(
                self.settings.max_bytes,
                reason="media_too_large",
                what=f"the media at {final.url}",
            )
            reader = DecodingReader(
                final.response.body_chunks(),
                final.response.header("content-encoding") or "",
                budget=budget,
            )
            with open(download.path, "wb") as out:
                shutil.copyfileobj(io.BufferedReader(reader), out, 1024 * 1024)
        except BaseException:
            download.close()
            raise
        download.limits = [hit for e in chain for hit in e.limits_hit]
        return download

    async def availability(self, url: str) -> tuple[str, str] | None:
        """Ask yt-dlp (fenced, no download) for the video at ``url``: ``("gone",
        reason)`` when its extractor says the video was removed, else None
        (``archivers.media.ytdlp.extractor_verdict``; the recheck combines it)."""
        from archivers.media import ytdlp

        return ytdlp.extractor_verdict(await asyncio.to_thread(ytdlp.probe, self.fetcher, url))

    def _with_ytdlp(
        self, request: MediaRequest, workdir: Path, jar: SessionCookies | None = None
    ) -> _Download:
        from archivers.media import ytdlp

        started = self.clock()
        got = ytdlp.download(
            self.fetcher,
            request.media_url,
            workdir,
            max_bytes=self.settings.max_bytes,
            max_duration=self.settings.max_duration,
            max_requests=self.settings.max_requests,
            session=jar,
        )
        return _Download(got.path, got.exchanges, got.info, started)

    # -- store ------------------------------------------------------------------

    async def _store(
        self, request: MediaRequest, download: _Download, workdir: Path
    ) -> MediaResult:
        timings = download.timings
        mark = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            timings[name] = round(now - mark, 3)
            mark = now

        facts = await asyncio.to_thread(ffmpeg.probe, download.path)
        if facts.duration and facts.duration > self.settings.max_duration:
            raise LimitExceeded(
                f"the media lasts {facts.duration:.0f} s, over the limit of "
                f"{self.settings.max_duration:.0f} s",
                reason="media_too_long",
            )
        sha256, size = await asyncio.to_thread(_hash_file, download.path)
        if size > self.settings.max_bytes:
            raise LimitExceeded(
                f"the media is {size} bytes, over the limit of {self.settings.max_bytes}",
                reason="media_too_large",
            )
        ext = facts.ext()
        lap("probe_and_hash")
        media_key = layout.media_key(sha256, ext)
        seen_before = await asyncio.to_thread(self.store.head, media_key) is not None
        first_seen = await self._first_seen(sha256) if seen_before else None
        # Three things at once: the file's upload, poster/derived copy, and the
        # WARC's bulk (exchanges, merged file); the metadata record, which names
        # the poster and the derived copy, is written when they are done.
        upload = None
        if not seen_before:
            upload = asyncio.create_task(
                self._put_file(
                    media_key, download.path, layout.media_type(ext), sha256=sha256, size=size
                )
            )
        records = asyncio.create_task(
            asyncio.to_thread(self._write_records, request, download, sha256, ext, first_seen)
        )
        try:
            poster_key, derived, findings = await asyncio.gather(
                self._poster(download.path, facts, sha256, workdir),
                self._derived(download.path, facts, sha256, workdir, first_seen),
                self._findings(download.path, facts, workdir),
            )
        finally:
            writer, carrier, payload_record = await records
            if upload is not None:
                await upload  # the WARC is never stored before the file it describes
        spool = writer.out
        timings["download"] = round(timings["download"], 3)
        hashes: dict[str, Any] | None = None
        if findings is not None and payload_record is not None:
            hashes = perceptual.write_records(
                writer,
                findings,
                source_uri=request.media_url,
                source_record_id=payload_record,
                source_sha256=sha256,
                date=self.clock(),
            )
        meta = {
            "schema": MEDIA_METADATA_SCHEMA,
            **self._identity(request),
            "session": download.session,
            "status": STORED,
            "sha256": sha256,
            "size": size,
            "key": media_key,
            "ext": ext,
            "deduplicated": seen_before,
            **facts.to_dict(),
            "poster_key": poster_key,
            "derived": derived,
            "info": download.info or {},
            "fetched_at": iso(
                download.exchanges[0].started_at if download.exchanges else download.started_at
            ),
            "finished_at": iso(self.clock()),
            "exchanges": len(download.exchanges),
            "limits_hit": download.limits,
            "timings": timings,
            "post": post_from_info(download.info),
            "perceptual": hashes,
        }
        writer.write_metadata(
            request.media_url, meta, self.clock(), refers_to=request.parent_record_id
        )
        lap("poster_warc_and_media_upload")
        try:
            warc_key = layout.warc_key(request.media_id)
            commit = await put_warc(self.store, warc_key, spool, MEDIA_METADATA_SCHEMA)
            stored, stored_now = commit.stored, commit.ours
            if commit.meta is not None:  # an earlier attempt's WARC counts, and its record
                meta = commit.meta
            await store_index(
                self.store,
                layout.index_key(request.media_id),
                warc_key,
                writer.index_entries if stored_now else None,
            )
            if stored_now and carrier is not None:
                await self._put_json(
                    layout.first_seen_key(sha256),
                    {
                        "sha256": sha256,
                        "size": size,
                        "key": media_key,
                        "ext": ext,
                        "media_id": request.media_id,
                        "warc_key": warc_key,
                        **carrier,
                        "poster_key": poster_key,
                        "derived": derived,
                    },
                )
        finally:
            spool.close()
        lap("warc_upload")
        manifest = MediaManifest.from_dict(
            {
                **meta,
                "warc_key": warc_key,
                "warc_sha256": stored.sha256 or spool.sha256,
                "warc_size": stored.size,
                "warc_version_id": stored.version_id,
                "stored_at": iso_seconds(stored.last_modified),
            }
        )
        return await self._put_manifest(request, manifest)

    async def _findings(
        self, path: Path, facts: ffmpeg.MediaFacts, workdir: Path
    ) -> perceptual.Derived | None:
        """Perceptual hashes of the file, in a thread (its own child processes:
        vPDQ, ffmpeg); None when the settings turn them off."""
        if not self.settings.hashes:
            return None
        return await asyncio.to_thread(perceptual.derive_video, path, facts, workdir)

    async def _first_seen(self, sha256: str) -> dict[str, Any] | None:
        try:
            return json.loads(
                await asyncio.to_thread(self.store.get_bytes, layout.first_seen_key(sha256))
            )
        except (KeyError, ValueError):
            return None

    async def _poster(self, path: Path, facts, sha256: str, workdir: Path) -> str | None:
        if not facts.has_video:
            return None
        key = layout.poster_key(sha256)
        if await asyncio.to_thread(self.store.head, key) is not None:
            return key
        out = workdir / "poster.jpg"
        try:
            await asyncio.to_thread(ffmpeg.poster, path, facts, out)
        except Permanent as exc:
            log.warning("no poster for %s: %s", sha256, exc)
            return None
        await self._put_file(key, out, "image/jpeg")
        return key

    async def _derived(
        self, path: Path, facts, sha256: str, workdir: Path, first_seen: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        if not self.settings.derive or facts.browser_playable():
            return None
        if first_seen and first_seen.get("derived"):
            return first_seen["derived"]
        out = workdir / "derived.mp4"
        method, command = await asyncio.to_thread(ffmpeg.derive_playable, path, facts, out)
        derived_facts = await asyncio.to_thread(ffmpeg.probe, out)
        digest, size = await asyncio.to_thread(_hash_file, out)
        key = layout.derived_key(sha256)
        await self._put_file(key, out, "video/mp4")
        return {
            "key": key,
            "sha256": digest,
            "size": size,
            "method": method,
            "command": [Path(command[0]).name, *command[1:]],
            "derived_from": sha256,
            "container": derived_facts.container,
            "video_codec": derived_facts.video_codec,
            "audio_codec": derived_facts.audio_codec,
        }

    async def _put_file(
        self,
        key: str,
        path: Path,
        content_type: str,
        *,
        sha256: str | None = None,
        size: int | None = None,
    ) -> None:
        if sha256 is None or size is None:
            sha256, size = await asyncio.to_thread(_hash_file, path)
        assert sha256 is not None and size is not None
        with open(path, "rb") as handle:
            await asyncio.to_thread(
                self.store.put_new, key, handle, size=size, sha256=sha256, content_type=content_type
            )

    async def _put_json(self, key: str, doc: dict[str, Any]) -> None:
        body = json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")
        await asyncio.to_thread(
            self.store.put_new,
            key,
            io.BytesIO(body),
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            content_type="application/json",
        )

    def _write_records(
        self,
        request: MediaRequest,
        download: _Download,
        sha256: str,
        ext: str,
        first_seen: dict[str, Any] | None,
    ):
        """Write the media WARC up to its metadata record; return (writer, where the
        payload first lives in it or None, the id of the record that stands for the
        payload in this WARC: its response, revisit or resource record, or None)."""
        spool = DigestingSpool()
        writer = WarcWriter(spool, layout.warc_key(request.media_id).rsplit("/", 1)[-1])
        writer.write_warcinfo(
            warcinfo_fields(
                self.agent,
                part_of=request.parent_capture_id,
                description=f"warcflow media capture of {request.media_url} "
                f"found in {request.page_url}",
            ),
            download.started_at,
        )
        carrier = None
        payload_record = None
        for exchange in download.exchanges:
            carries = exchange.response.payload_sha256 == sha256 and 200 <= exchange.status < 300
            if carries and first_seen and first_seen.get("target_uri"):
                _request_id, revisit_id = writer.write_revisit(
                    exchange,
                    refers_to_uri=first_seen["target_uri"],
                    refers_to_date=first_seen["warc_date"],
                )
                payload_record = payload_record or revisit_id
                continue
            _request_id, response_id = writer.write_exchange(exchange)
            if carries:
                payload_record = payload_record or response_id
            if carries and carrier is None:
                carrier = {
                    "target_uri": exchange.url,
                    "warc_date": iso(exchange.started_at),
                    "record_id": response_id,
                }
        if carrier is None and first_seen is None:
            # yt-dlp assembled the file (HLS/DASH merge): keep it whole, as made.
            uri = f"urn:sha256:{sha256}"
            date = self.clock()
            size = download.path.stat().st_size
            record_id = writer.write_resource(
                uri,
                _file_chunks(download.path),
                size,
                sha256,
                content_type=layout.media_type(ext),
                date=date,
            )
            carrier = {"target_uri": uri, "warc_date": iso(date), "record_id": record_id}
            payload_record = record_id
        return writer, carrier, payload_record

    async def _put_manifest(self, request: MediaRequest, manifest: MediaManifest) -> MediaResult:
        counted, created = await put_manifest(
            self.store,
            layout.media_manifest_key(request.parent_capture_id, request.media_id),
            manifest,
            MediaManifest.from_json,
        )
        return MediaResult(counted, created)
