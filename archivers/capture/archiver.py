"""The capture protocol: request in, WARC + manifest in the store, idempotently.

``PageArchiver.capture`` is the work function the capture agent calls; it knows
nothing of Kafka. For one ``CaptureRequest`` (whose ``capture_id`` is
deterministic, see ``archivers.keys``):

1. If the manifest exists, the capture is done: return it (``created=False``).
2. Fetch the page and its requisites; write a gzip WARC/1.1 to a spool:
   ``warcinfo``, per exchange ``request`` + ``response`` (for each TLS hop of
   the page itself, then a ``metadata`` record of that connection's
   certificate chain, ``urn:warcflow:tls:<url>``), then a ``metadata``
   record holding everything the manifest needs except the store's facts.
3. Put the WARC if absent. If it was already there (an earlier attempt stored
   it, then died), the stored WARC wins: the manifest is rebuilt from it.
4. Put the manifest if absent; if another attempt won, return that one.

Steps 1, 3 and 4 are the commit protocol page and media capture share
(``archivers.manifests.commit``).

Outcome by the page's final HTTP status: 2xx/3xx → ``stored``; 4xx (not 408,
425 or 429) → WARC kept as evidence, manifest ``failed`` with reason
``http_<code>``; 5xx, 408, 425, 429 (``archivers.errors.retryable_status``) and
network trouble → ``Retryable`` raised, nothing stored.
Refusals before any byte is fetched (policy, invalid URL) raise ``Permanent``;
the agent then calls ``record_failure`` so the URL's timeline shows the attempt.

Mode (``archivers.modes``): the request's ``mode`` and the site rules choose
``static`` (``capture_page``) or ``browser`` (``capture_in_browser``: the
browser's requests are the requisites, and a full-page PNG is written as a
``resource`` record after the exchanges and stored under
``layout.screenshot_key``). A browser capture asked for explicitly on a worker
without a browser fails ``browser_unavailable``; one chosen by a site rule is
made statically, and ``limits_hit`` says so. The screenshot object in S3 is
always the one in the WARC that counts (re-extracted from a WARC an earlier
attempt stored).

Invariant: for a capture id there is at most one manifest, and a ``stored``
manifest's ``sha256``/``size`` are those of the WARC object under ``warc_key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archivers.capture.browser import SCREENSHOT_URN, Browser, BrowserCapture, capture_in_browser
from archivers.capture.modes import AUTO, BROWSER, STATIC, choose_mode
from archivers.capture.static import PARSE_LIMIT, PageCapture, capture_page
from archivers.clock import iso, iso_seconds, utc_now
from archivers.errors import (
    InvalidURL,
    Permanent,
    Retryable,
    StoreUnavailable,
    http_error,
    retryable_status,
)
from archivers.extract import budget
from archivers.extract.media import FoundMedia, choose
from archivers.manifests.berkeley import items
from archivers.manifests.commit import put_manifest, put_warc, read_manifest
from archivers.manifests.manifest import (
    CAPTURE_METADATA_SCHEMA,
    FAILED,
    STORED,
    Manifest,
    manifest_from_metadata,
)
from archivers.manifests.outcome import outcome_fields, page_wall
from archivers.net.fetcher import Fetcher
from archivers.net.recording import DigestingSpool, content_type, decoded_body
from archivers.sessions.pool import SessionPool
from archivers.sessions.vault import Session
from archivers.store import layout
from archivers.store.base import ObjectStore
from archivers.urls import canonical_url, surt
from archivers.warc.cdxj import IndexEntry, store_index
from archivers.warc.payloads import PayloadIndex, PayloadRef, eligible, payload_size, scope_of
from archivers.warc.writer import TLS_URN, WarcWriter, warcinfo_fields

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture and where the request came from.

    ``provenance`` names the source message (topic, partition, offset,
    timestamp); ``request`` carries the submitter's request id, source, tags,
    note, operator, case id and purpose. Both are copied verbatim into the WARC
    metadata and manifest.
    """

    capture_id: str
    url: str
    submitted_at: datetime
    request: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    mode: str = AUTO
    """The mode asked for: ``static``, ``browser`` or ``auto`` (``archivers.modes``)."""


@dataclass(frozen=True)
class CaptureResult:
    manifest: Manifest
    created: bool


class PageArchiver:
    """Captures pages into an ``ObjectStore``. Safe to call concurrently."""

    def __init__(
        self,
        fetcher: Fetcher,
        store: ObjectStore,
        *,
        agent: dict[str, str],
        clock: Callable[[], datetime] = utc_now,
        recognises: Callable[[str], bool] | None = None,
        browser: Browser | None = None,
        browser_sites: tuple[str, ...] = (),
        media_limit: int = 20,
        sessions: SessionPool | None = None,
        payloads: PayloadIndex | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.payloads = payloads
        """The shared payload index (``archivers.warc.payloads``); None: every
        requisite is stored in full."""
        self.sessions = sessions
        """The logged-in sessions (``archivers.sessions``); None: captures are anonymous."""
        self.store = store
        self.agent = agent
        self.clock = clock
        self.recognises = recognises
        """Whether a yt-dlp extractor claims a URL (``archivers.media.ytdlp.
        extractor_recognises``, handed in by the wiring); None: media are not
        looked for."""
        self.browser = browser
        self.browser_sites = browser_sites
        self.media_limit = media_limit
        """Most media items taken from one page (a browser capture's media
        requests count towards it too)."""

    def mode_for(self, request: CaptureRequest) -> str:
        """``static`` or ``browser``: what ``capture`` will do for ``request``."""
        mode = choose_mode(request.mode, request.url, self.browser_sites)
        if mode == BROWSER and self.browser is None and request.mode != BROWSER:
            return STATIC
        return mode

    async def existing(self, request: CaptureRequest) -> Manifest | None:
        return await read_manifest(
            self.store, layout.manifest_key(request.url, request.capture_id), Manifest.from_json
        )

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        done = await self.existing(request)
        if done is not None:
            return CaptureResult(done, created=False)
        mode = self.mode_for(request)
        # the vault's files are read and its state written off the loop
        session, session_record = await asyncio.to_thread(self._session_for, request)
        jar = session.jar() if session else None
        if mode == BROWSER:
            if self.browser is None:
                raise Permanent(
                    "a browser capture was asked for, but this worker has no browser "
                    "(WARCFLOW_BROWSER_EXECUTABLE)",
                    reason="browser_unavailable",
                )
            page: PageCapture = await capture_in_browser(
                self.browser, self.fetcher, request.url, jar
            )
        else:
            page = await capture_page(self.fetcher, request.url, jar)
            if choose_mode(request.mode, request.url, self.browser_sites) == BROWSER:
                page.limits_hit.append(
                    "a site rule (WARCFLOW_BROWSER_SITES) asks for the "
                    "browser, but this worker has none: captured statically"
                )
        screenshot = page.screenshot if isinstance(page, BrowserCapture) else None
        try:
            status = page.final.status
            if session is not None:
                await self._check_session(session, request, page)
            if retryable_status(status):
                raise http_error(
                    status, f"{page.final.url} answered HTTP {status} {page.final.response.reason}"
                )
            found, post, text = await self._inspect(page)
            scope = scope_of(request.request.get("case_id"), (session_record or {}).get("id"))
            known = await self._known_payloads(page, scope)
            spool, meta, entries, fresh = await asyncio.to_thread(
                self._write_warc,
                request,
                page,
                found,
                post,
                mode,
                session_record,
                known,
                text,
            )
        finally:
            page.close()
        try:
            result, ours = await self._store(request, spool, meta, entries, screenshot)
        finally:
            spool.close()
        if fresh and self.payloads is not None and result.created and ours:
            if result.manifest.status == STORED and result.manifest.warc_key:
                # only now that its capture is committed: no revisit may name a
                # record that no stored manifest (nor, after it, ledger entry) vouches for
                index = self.payloads
                await asyncio.gather(
                    *(asyncio.to_thread(index.publish, ref, scope) for ref in fresh)
                )
        return result

    async def _known_payloads(self, page: PageCapture, scope: str) -> dict[str, PayloadRef]:
        """The requisites of ``page`` an earlier capture of ``scope`` stored, by
        payload digest (looked up concurrently; the index's cache answers most)."""
        if self.payloads is None:
            return {}
        index = self.payloads
        digests = sorted(
            {e.response.payload_sha256 for e in page.exchanges if eligible(e, page.chain)}
        )
        refs = await asyncio.gather(*(asyncio.to_thread(index.lookup, d, scope) for d in digests))
        return {d: ref for d, ref in zip(digests, refs, strict=True) if ref is not None}

    def _session_for(self, request: CaptureRequest) -> tuple[Session | None, dict | None]:
        """(the session this capture uses, what its record says about sessions)."""
        if self.sessions is None:
            return None, None
        session = self.sessions.choose(request.url)
        if session is not None:
            return session, session.public()
        unavailable = self.sessions.unavailable(request.url)
        if not unavailable:
            return None, None
        site = self.sessions.for_site(request.url)[0].site
        return None, {"id": None, "site": site, "handle": None, "unavailable": unavailable}

    async def _check_session(
        self, session: Session, request: CaptureRequest, page: PageCapture
    ) -> None:
        """A capture made with a session that met a login wall or a challenge — or
        a page far smaller than the site's usual post seen with a session
        (``smaller_than_usual``) — marks the session and is tried again
        (``Retryable``): with another session, or without one once none is left
        (then its outcome says ``login_wall``). A page that passes is noted as
        the site's usual size.
        When a second session meets the same wall at the same URL, the wall is
        the page's (a post nobody may see): it is stored as it is, and no more
        sessions are marked."""
        assert self.sessions is not None
        vault = self.sessions.vault
        wall, measured = await asyncio.to_thread(page_wall, page.final, vault.usual_sizes)
        if measured is not None:
            await asyncio.to_thread(vault.note_size, *measured)
        if wall is None:
            return
        state, why = wall
        if await asyncio.to_thread(self.sessions.walled_before, request.url, session):
            return
        await asyncio.to_thread(self.sessions.expire, session, state, why)
        raise Retryable(
            f"session {session.session_id} ({session.handle}) of {session.site} is {state}: "
            f"{why}; the capture is tried again with another session, or none",
            reason=f"session_{state}",
        )

    async def record_failure(
        self,
        request: CaptureRequest,
        *,
        reason: str,
        message: str,
        attempts: list[dict[str, str]] | None = None,
    ) -> CaptureResult:
        """Store a ``failed`` manifest (no WARC) so the attempt is on the URL's timeline."""
        done = await self.existing(request)
        if done is not None:
            return CaptureResult(done, created=False)
        manifest = Manifest(
            **self._identity(request),
            status=FAILED,
            reason=reason,
            message=message,
            finished_at=iso(self.clock()),
            attempts=list(attempts or []),
            items=items(html=False, media=False),
            mode=self.mode_for(request),
            **outcome_fields({"status": FAILED, "reason": reason}),
        )
        return await self._put_manifest(request, manifest)

    def _identity(self, request: CaptureRequest) -> dict[str, Any]:
        try:
            canonical = canonical_url(request.url)
            key = surt(request.url)
        except InvalidURL:
            canonical, key = None, ""
        return {
            "capture_id": request.capture_id,
            "url": request.url,
            "canonical_url": canonical,
            "surt": key,
            "submitted_at": iso(request.submitted_at),
            "request": dict(request.request),
            "provenance": dict(request.provenance),
            "agent": dict(self.agent),
        }

    async def _inspect(
        self, page: PageCapture
    ) -> tuple[list[FoundMedia], dict[str, Any] | None, str | None]:
        """(media found in the final page, the post's identity as the page states
        it, the page's readable text); nothing for an error page or a response
        that is not HTML. The parse runs in a parser process under its budget
        (``archivers.extract.budget``), whose refusal goes to ``limits_hit``;
        decoding and yt-dlp's verdicts run in a thread. Nothing here holds the loop."""
        final = page.final
        if final.status >= 400 or content_type(final.response) not in HTML_TYPES:
            return [], None, None
        if isinstance(page, BrowserCapture):
            # the rendered DOM holds what scripts added; the requests, what they loaded
            html = page.dom[:PARSE_LIMIT] if page.dom else ""
        else:
            html = await asyncio.to_thread(
                lambda: decoded_body(final.response, PARSE_LIMIT).decode("utf-8", "replace")
            )
        found: list[FoundMedia] = []
        post = text = None
        if html:
            parsed = await budget.pool().run(
                "archivers.extract.page:inspect",
                html,
                final.url,
                self.recognises is not None,
                what=f"the page {final.url}",
            )
            if parsed.over_budget:
                page.limits_hit.append(parsed.over_budget)
            else:
                refs, post, text = parsed.value
                if refs is not None and self.recognises is not None:
                    found = await asyncio.to_thread(
                        choose, refs, final.url, recognises=self.recognises, limit=self.media_limit
                    )
        if isinstance(page, BrowserCapture) and self.recognises is not None:
            known = {item.url for item in found}
            extra = [item for item in page.media_requests if item.url not in known]
            found = (found + extra)[: self.media_limit]
        return found, post, text

    def _write_warc(
        self,
        request: CaptureRequest,
        page: PageCapture,
        found: list[FoundMedia],
        post: dict[str, Any] | None,
        mode: str = STATIC,
        session: dict[str, Any] | None = None,
        known: dict[str, PayloadRef] | None = None,
        text: str | None = None,
    ) -> tuple[DigestingSpool, dict[str, Any], list[IndexEntry], list[PayloadRef]]:
        """The capture's WARC in a spool, its metadata, its CDXJ entries, and the
        full records of requisites the payload index may learn once it is stored.

        A requisite in ``known`` (an earlier capture's original) becomes a
        revisit record naming it; ``meta["revisits"]`` lists each, so audit,
        fixity and export find the originals without reading the WARC."""
        known = known or {}
        spool = DigestingSpool()
        warc_key = layout.warc_key(request.capture_id)
        filename = warc_key.rsplit("/", 1)[-1]
        writer = WarcWriter(spool, filename)
        writer.write_warcinfo(
            warcinfo_fields(
                self.agent,
                part_of=request.capture_id,
                description=f"warcflow capture of {request.url}",
            ),
            page.started_at,
        )
        final_response_id = None
        revisits: list[dict[str, Any]] = []
        fresh: dict[str, PayloadRef] = {}
        for exchange in page.exchanges:
            digest = exchange.response.payload_sha256
            dedupable = self.payloads is not None and eligible(exchange, page.chain)
            original = known.get(digest) if dedupable else None
            if original is not None:
                _request_id, response_id = writer.write_revisit(
                    exchange, refers_to_uri=original.target_uri, refers_to_date=original.warc_date
                )
                revisits.append(
                    {
                        "url": exchange.url,
                        "sha256": digest,
                        "size": payload_size(exchange),
                        "record_id": response_id,
                        "refers_to": original.to_dict(),
                    }
                )
                continue
            _request_id, response_id = writer.write_exchange(exchange)
            if dedupable and digest not in fresh:
                entry = writer.index_entries[-1]
                fresh[digest] = PayloadRef(
                    sha256=digest,
                    size=payload_size(exchange),
                    target_uri=exchange.url,
                    warc_date=iso(exchange.started_at),
                    capture_id=request.capture_id,
                    warc_key=warc_key,
                    record_id=response_id,
                    offset=entry.offset,
                    length=entry.length,
                )
            if exchange is page.final:
                final_response_id = response_id
            if exchange.tls is not None and any(exchange is hop for hop in page.chain):
                # the page's own connections (each redirect hop has one):
                # the chain they showed, tied to the response they carried
                writer.write_metadata(
                    exchange.url,
                    exchange.tls.document(exchange.url, exchange.ip, exchange.port),
                    exchange.started_at,
                    response_id,
                    urn=TLS_URN,
                )
        screenshot = self._write_screenshot(writer, page, final_response_id)
        status = page.final.status
        failed = status >= 400
        meta = {
            "schema": CAPTURE_METADATA_SCHEMA,
            **self._identity(request),
            "status": FAILED if failed else STORED,
            "reason": f"http_{status}" if failed else None,
            "message": (
                f"the page answered HTTP {status} {page.final.response.reason}" if failed else None
            ),
            "final_url": page.final.url,
            "http_status": status,
            "redirects": [exchange.url for exchange in page.chain],
            "fetched_at": iso(page.chain[0].started_at),
            "finished_at": iso(page.finished_at or self.clock()),
            "requisites": {"fetched": len(page.requisites), "failed": len(page.requisite_failures)},
            "requisite_failures": page.requisite_failures,
            "limits_hit": page.limits_hit,
            "exchanges": [
                {
                    "url": e.url,
                    "ip": e.ip,
                    "status": e.status,
                    "bytes": e.response.raw.size,
                    "seconds": round(e.elapsed, 6),
                    "truncated": e.response.truncated,
                }
                for e in page.exchanges
            ],
            "page_record_id": final_response_id,
            "revisits": revisits,
            "network": {
                "local_address": page.final.local_address,
                "remote_address": page.final.remote_address,
                # through a session's proxy: local_address is this end of the
                # connection to the proxy, remote_address the origin's checked one
                **({"proxy": page.final.proxy} if page.final.proxy else {}),
            },
            "tls": page.final.tls.summary() if page.final.tls else None,
            "post": post,
            "page_text": text or None,
            "items": items(
                html=not failed and content_type(page.final.response) in HTML_TYPES,
                media=bool(found),
                screenshot=bool(screenshot),
            ),
            "media": [
                {**item.to_dict(), "media_id": layout.media_id(request.capture_id, item.url)}
                for item in found
            ],
            "mode": mode,
            "screenshot_key": layout.screenshot_key(request.capture_id) if screenshot else None,
            "screenshot": screenshot,
            "session": session,
        }
        meta.update(outcome_fields(meta))
        writer.write_metadata(page.final.url, meta, self.clock(), final_response_id)
        return spool, meta, writer.index_entries, list(fresh.values())

    @staticmethod
    def _write_screenshot(
        writer: WarcWriter, page: PageCapture, final_response_id: str | None
    ) -> dict[str, Any]:
        """The screenshot's ``resource`` record; its facts for the metadata ({} if none)."""
        if not isinstance(page, BrowserCapture) or not page.screenshot:
            return {}
        png = page.screenshot
        digest = hashlib.sha256(png).hexdigest()
        uri = SCREENSHOT_URN + page.final.url
        taken_at = page.screenshot_at or page.finished_at or page.started_at
        record_id = writer.write_resource(
            uri,
            [png],
            len(png),
            digest,
            content_type="image/png",
            date=taken_at,
            concurrent_to=final_response_id,
        )
        width, height = page.screenshot_size or (None, None)
        return {
            "url": page.final.url,
            "taken_at": iso(taken_at),
            "sha256": digest,
            "size": len(png),
            "width": width,
            "height": height,
            "content_type": "image/png",
            "warc_uri": uri,
            "record_id": record_id,
        }

    async def _store(
        self,
        request: CaptureRequest,
        spool: DigestingSpool,
        meta: dict[str, Any],
        entries: list[IndexEntry] | None,
        screenshot: bytes | None = None,
    ) -> tuple[CaptureResult, bool]:
        """Steps 3 and 4 (the module docstring); and whether our spool is the stored
        WARC (then, with our manifest the one that counts, the caller publishes
        its new originals)."""
        key = layout.warc_key(request.capture_id)
        commit = await put_warc(self.store, key, spool, CAPTURE_METADATA_SCHEMA)
        stored = commit.stored
        if commit.meta is not None:  # an earlier attempt's WARC counts, and its record
            meta, entries = commit.meta, None
            screenshot = None  # the stored WARC's own screenshot counts, not ours
        if meta.get("screenshot_key"):
            await asyncio.to_thread(self._put_screenshot, key, meta, screenshot)
        await store_index(self.store, layout.index_key(request.capture_id), key, entries)
        manifest = manifest_from_metadata(
            meta,
            warc_key=key,
            sha256=stored.sha256 or spool.sha256,
            size=stored.size,
            stored_at=iso_seconds(stored.last_modified),
            version_id=stored.version_id,
        )
        result = await self._put_manifest(request, manifest)
        return result, commit.ours

    def _put_screenshot(self, warc_key: str, meta: dict[str, Any], png: bytes | None) -> None:
        """Store the screenshot object unless there; ``png`` None: take it from the WARC."""
        target = meta["screenshot_key"]
        if self.store.head(target) is not None:
            return
        if png is None:
            png = self._screenshot_from_warc(warc_key, meta["screenshot"].get("record_id"))
        self.store.put_new(
            target,
            io.BytesIO(png),
            size=len(png),
            sha256=hashlib.sha256(png).hexdigest(),
            content_type="image/png",
        )

    def _screenshot_from_warc(self, warc_key: str, record_id: str | None) -> bytes:
        from warcio.archiveiterator import ArchiveIterator

        with self.store.open(warc_key) as stream:
            for record in ArchiveIterator(stream):
                if (
                    record.rec_type == "resource"
                    and record.rec_headers.get_header("WARC-Record-ID") == record_id
                ):
                    return record.content_stream().read()
        raise StoreUnavailable(
            f"{warc_key} has no screenshot record {record_id}", reason="store_inconsistent"
        )

    async def _put_manifest(self, request: CaptureRequest, manifest: Manifest) -> CaptureResult:
        counted, created = await put_manifest(
            self.store,
            layout.manifest_key(request.url, request.capture_id),
            manifest,
            Manifest.from_json,
        )
        return CaptureResult(counted, created)
