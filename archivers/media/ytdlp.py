"""yt-dlp, fenced in: every HTTP request it makes goes through warcflow's fetcher.

``FencedYoutubeDL`` replaces yt-dlp's request handlers (urllib, requests,
curl_cffi, websockets) with one, ``WarcflowRH``, which sends each request with
``archivers.fetcher.Fetcher``. So yt-dlp's traffic — extractor API calls,
manifests, HLS/DASH segments, progressive downloads — obeys the same address
policy as pages (resolved once, checked, pinned; every redirect re-checked),
the same size and time limits, and is recorded byte for byte: the exchanges
end up as request/response records in the media capture's WARC, so the
original page's player replays.

Other ways out are closed, each where yt-dlp would open it:

- downloads run in yt-dlp's native downloaders only (``NATIVE_DOWNLOADERS``:
  progressive HTTP, HLS, DASH, ISM, F4M, whose every request is ``urlopen``,
  so ours). ``FencedYoutubeDL.dl`` refuses any other choice before it runs
  (ffmpeg for a live stream, rtmpdump, aria2c …), and yt-dlp's HLS downloader,
  which hands a stream to ffmpeg *by itself* when it meets an encryption it
  cannot undo (SAMPLE-AES, DRM) or a live stream, gets a stand-in for ffmpeg
  that refuses. AES-128 is decrypted natively (pycryptodomex is a
  dependency for exactly this), so key, playlist and segments are all fetched
  by the fetcher and recorded;
- every ffmpeg and ffprobe yt-dlp runs (merging audio and video, HLS fixups,
  probing) is ``archivers.media.ffmpeg.fenced_programs``: a wrapper that opens
  every input with ``-protocol_whitelist file,pipe``, so a downloaded "video"
  that is really a playlist naming URLs cannot make ffmpeg fetch them;
- no netrc, no ``exec`` post-processor, no cache directory, no JavaScript
  runtime (``js_runtimes``), no remote components, no plugins' handlers.

Limits of one download (``Recorder``): its responses' raw bytes, the bytes
they decode to (counted while decoding, so a gzip bomb stops before it
reaches yt-dlp or the disk) and its number of requests.

This is the one module that knows yt-dlp: its options (``download``,
``probe``), its info dict (``trim_info``), its extractor registry
(``extractor_recognises``) and its error wording (``capture_error``,
``extractor_verdict``).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import re
import threading
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yt_dlp.downloader.hls
from yt_dlp import YoutubeDL
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.dash import DashSegmentsFD
from yt_dlp.downloader.external import FFmpegFD
from yt_dlp.downloader.f4m import F4mFD
from yt_dlp.downloader.hls import HlsFD
from yt_dlp.downloader.http import HttpFD
from yt_dlp.downloader.ism import IsmFD
from yt_dlp.networking.common import RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError, TransportError

from archivers.errors import CaptureError, FetchUnavailable, LimitExceeded, Permanent, http_error
from archivers.media import ffmpeg
from archivers.net.cookies import SessionCookies
from archivers.net.fetcher import Fetcher
from archivers.net.holds import HostHeld
from archivers.net.recording import DecodedBudget, DecodingReader, Exchange, decoded_body
from archivers.urls import validate_url

log = logging.getLogger("warcflow.ytdlp")

INFO_FIELDS = (
    "id",
    "title",
    "fulltitle",
    "description",
    "uploader",
    "uploader_id",
    "uploader_url",
    "channel",
    "channel_id",
    "channel_url",
    "upload_date",
    "timestamp",
    "release_timestamp",
    "duration",
    "view_count",
    "like_count",
    "comment_count",
    "repost_count",
    "webpage_url",
    "original_url",
    "extractor",
    "extractor_key",
    "format_id",
    "format",
    "ext",
    "width",
    "height",
    "fps",
    "vcodec",
    "acodec",
    "tbr",
    "filesize",
    "thumbnail",
    "tags",
    "categories",
    "location",
    "is_live",
    "was_live",
    "availability",
    "age_limit",
)
FORMAT_FIELDS = (
    "format_id",
    "ext",
    "width",
    "height",
    "fps",
    "vcodec",
    "acodec",
    "tbr",
    "protocol",
    "filesize",
)


RECORDER_MEMORY = 128 * 1024 * 1024
"""Most bytes of one download's recorded responses held in memory; past it each
new response's spool moves to disk (a playlist of many tiny segments)."""


class Recorder:
    """Collects what the fenced yt-dlp did: exchanges, and refusals by the fetcher.

    ``max_bytes`` caps the raw bytes of all responses together (an HLS stream is
    many small responses; the per-response limit alone would not bound it) and,
    through ``decoded``, the bytes they decode to; ``max_requests`` caps how
    many requests the download makes. Each limit raises ``LimitExceeded`` and
    is kept as the download's refusal (its reason is the capture's).
    """

    def __init__(self, max_bytes: int | None = None, max_requests: int | None = None) -> None:
        self.exchanges: list[Exchange] = []
        self.refusals: list[CaptureError] = []
        self.max_bytes = max_bytes
        self.max_requests = max_requests
        self.total = 0
        self.requests = 0
        self.in_memory = 0
        self.decoded = (
            DecodedBudget(
                max_bytes,
                reason="media_too_large",
                what="the media's responses",
                on_exceeded=self.refuse,
            )
            if max_bytes is not None
            else None
        )
        self._lock = threading.Lock()

    def start(self, url: str) -> None:
        """Count a request about to be sent; LimitExceeded past ``max_requests``."""
        with self._lock:
            self.requests += 1
            over = self.max_requests is not None and self.requests > self.max_requests
        if over:
            error = LimitExceeded(
                f"the media needs more than {self.max_requests} requests ({url} would be the next)",
                reason="media_too_many_requests",
            )
            self.refuse(error)
            raise error

    def add(self, exchange: Exchange) -> None:
        """Keep ``exchange``; LimitExceeded once the byte budget is spent."""
        with self._lock:
            self.exchanges.append(exchange)
            self.total += exchange.response.raw.size
            self.in_memory += exchange.response.raw.size
            spill = self.in_memory > RECORDER_MEMORY
            over = self.max_bytes is not None and self.total > self.max_bytes
        if spill:
            exchange.response.spill()
        if over:
            error = LimitExceeded(
                f"the media's responses exceed {self.max_bytes} bytes", reason="media_too_large"
            )
            self.refuse(error)
            raise error

    def refuse(self, error: CaptureError) -> None:
        with self._lock:
            self.refusals.append(error)

    def manifest(self, url: str) -> str:
        """The text of the last recorded response for ``url`` (a playlist), or ""."""
        for exchange in reversed(self.exchanges):
            if exchange.url == url:
                return decoded_body(exchange.response, 1024 * 1024).decode("utf-8", "replace")
        return ""

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.close()


class _CookieResponse:
    """Just enough of an ``http.client`` response for ``CookieJar.extract_cookies``."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._message = Message()
        for name, value in headers:
            self._message[name] = value

    def info(self) -> Message:
        return self._message


class WarcflowRH(RequestHandler):
    """yt-dlp request handler sending through ``Fetcher`` and recording every exchange."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()

    fetcher: Fetcher
    recorder: Recorder
    session: SessionCookies | None = None

    def _check_extensions(self, extensions):
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing", "impersonate"):
            extensions.pop(name, None)

    def _send(self, request):
        data = request.data
        if data is None:
            body = b""
        elif isinstance(data, bytes):
            body = data
        elif hasattr(data, "read"):
            body = data.read()
        else:
            body = b"".join(data)
        method = (request.method or ("POST" if body else "GET")).upper()
        url = request.url
        headers = self._get_headers(request)
        headers.setdefault("Accept-Encoding", "gzip, deflate")
        jar = self._get_cookiejar(request)
        for _hop in range(self.fetcher.settings.max_redirects + 1):
            probe = urllib.request.Request(url, method=method)  # noqa: S310 - for the cookie jar, never opened
            jar.add_cookie_header(probe)
            sent = {k: v for k, v in headers.items() if k.lower() != "cookie"}
            if probe.get_header("Cookie"):
                sent["Cookie"] = probe.get_header("Cookie")
            try:
                self.recorder.start(url)
            except LimitExceeded as exc:
                raise RequestError(str(exc)) from None
            try:
                # a loop of this thread's own: the worker's connection gate
                # belongs to the worker's loop (media concurrency bounds these)
                exchange = asyncio.run(
                    self.fetcher.request(
                        url,
                        method=method,
                        headers=list(sent.items()),
                        body=body,
                        gated=False,
                        session=self.session,
                    )
                )
            except Permanent as exc:
                self.recorder.refuse(exc)
                raise RequestError(f"warcflow refused {url}: {exc}") from None
            except CaptureError as exc:
                if isinstance(exc, HostHeld):  # the download's outcome: retried at the hold's end
                    self.recorder.refuse(exc)
                raise TransportError(f"{url}: {exc}") from None
            try:
                self.recorder.add(exchange)
            except LimitExceeded as exc:
                raise RequestError(str(exc)) from None
            jar.extract_cookies(
                _CookieResponse(exchange.response.headers),
                urllib.request.Request(url, method=method),  # noqa: S310 - never opened
            )
            if exchange.response.truncated:
                error = LimitExceeded(
                    f"{url}: response cut at the media size limit", reason="media_too_large"
                )
                self.recorder.refuse(error)
                raise RequestError(str(error))
            target = exchange.redirect_target()
            if target is None:
                break
            try:
                validate_url(target)
            except CaptureError as exc:
                self.recorder.refuse(exc)
                raise RequestError(f"redirect to a refused URL: {exc}") from None
            if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                method, body = "GET", b""
            url = target
        else:
            raise HTTPError(self._response(exchange, url), redirect_loop=True)
        response = self._response(exchange, url)
        if not 200 <= exchange.status < 300:
            raise HTTPError(response)
        return response

    def _response(self, exchange: Exchange, url: str) -> Response:
        recorded = exchange.response
        encoding = recorded.header("content-encoding") or ""
        headers: dict[str, str] = {}
        for name, value in recorded.headers:
            if encoding and name.lower() in ("content-encoding", "content-length"):
                continue  # the body handed to yt-dlp is decoded
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        # decoded bytes are counted against the download's budget as they are
        # decoded: yt-dlp's max_filesize sees only Content-Length, dropped here
        fp = io.BufferedReader(
            DecodingReader(recorded.body_chunks(), encoding, budget=self.recorder.decoded)
        )
        return Response(fp, url, headers, status=exchange.status, reason=recorded.reason or None)


NATIVE_DOWNLOADERS = (HttpFD, HlsFD, DashSegmentsFD, IsmFD, F4mFD)
"""yt-dlp's downloaders that fetch through ``YoutubeDL.urlopen`` only (so
through ``WarcflowRH``); every other one runs a program that fetches by itself."""


class FencedYoutubeDL(YoutubeDL):
    """A YoutubeDL whose only request handler is ``WarcflowRH`` and whose downloads
    run in ``NATIVE_DOWNLOADERS`` only."""

    _warcflow_fenced = True

    def __init__(
        self,
        params: dict,
        *,
        fetcher: Fetcher,
        recorder: Recorder,
        session: SessionCookies | None = None,
    ) -> None:
        self._warcflow = (fetcher, recorder, session)
        super().__init__(params)

    @functools.cached_property
    def _request_director(self):
        director = self.build_request_director([WarcflowRH])
        handler = director.handlers[WarcflowRH.RH_KEY]
        handler.fetcher, handler.recorder, handler.session = self._warcflow
        return director

    def dl(self, name, info, subtitle=False, test=False):
        """Refuse, before it starts, a download yt-dlp would give to a program."""
        if info.get("url"):
            chosen = get_suitable_downloader(info, self.params, to_stdout=(name == "-"))
            if chosen not in NATIVE_DOWNLOADERS:
                refuse_external(self, info, getattr(chosen, "__name__", str(chosen)))
        return super().dl(name, info, subtitle, test)


def refuse_external(ydl: Any, info: dict[str, Any], program: str) -> None:
    """Raise (and record) why a download would have left the fence."""
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        error: CaptureError = Permanent(
            "a live stream: warcflow captures recorded media only (yt-dlp would hand "
            "a live stream to ffmpeg, which fetches by itself)",
            reason="live_stream",
        )
    else:
        recorder = recorder_of(ydl)
        method = (
            _key_method(recorder.manifest(info["url"])) if recorder and info.get("url") else None
        )
        error = Permanent(
            f"the stream is encrypted with {method}, which warcflow cannot decrypt itself "
            f"(yt-dlp would hand it to {program}, which fetches by itself)"
            if method
            else f"yt-dlp would hand this download to {program}, which fetches by "
            "itself: refused (only yt-dlp's native downloaders run inside the fence)",
            reason="stream_unsupported",
        )
    recorder = recorder_of(ydl)
    if recorder is not None:
        recorder.refuse(error)
    raise error


def _key_method(playlist: str) -> str | None:
    """The first key method of an HLS playlist other than NONE and AES-128 (read
    line by line: the playlist is the page author's, no regex runs over it)."""
    for line in playlist.splitlines():
        if line.startswith(("#EXT-X-KEY:", "#EXT-X-SESSION-KEY:")):
            for attribute in line.split(":", 1)[1].split(","):
                name, _, value = attribute.partition("=")
                if name.strip() == "METHOD" and value.strip() not in ("NONE", "AES-128"):
                    return value.strip()[:40]
    return None


def recorder_of(ydl: Any) -> Recorder | None:
    fenced = getattr(ydl, "_warcflow", None)
    return fenced[1] if fenced else None


class _RefusedFFmpegFD(FFmpegFD):
    """What yt-dlp's HLS downloader gets when it reaches for ffmpeg by itself (an
    encryption it cannot undo, a live stream): a refusal, never a process."""

    def real_download(self, filename, info_dict):
        refuse_external(self.ydl, info_dict, "ffmpeg")


# HlsFD builds FFmpegFD(...) inside its own real_download, past every choice a
# YoutubeDL makes; no YoutubeDL in warcflow may let ffmpeg fetch, so the name
# it looks up is the refusal (checked by tests/unit/test_media_fence.py).
yt_dlp.downloader.hls.FFmpegFD = _RefusedFFmpegFD


def version() -> str:
    """The yt-dlp version in use (recorded with every capture)."""
    from yt_dlp.version import __version__

    return str(__version__)


@dataclass
class Downloaded:
    """What ``download`` brought: the file yt-dlp wrote, every exchange, the trimmed info."""

    path: Path
    exchanges: list[Exchange]
    info: dict[str, Any]


def download(
    fetcher: Fetcher,
    url: str,
    workdir: Path,
    *,
    max_bytes: int,
    max_duration: float,
    max_requests: int | None = None,
    session: SessionCookies | None = None,
) -> Downloaded:
    """Download the best-quality media of ``url`` into ``workdir`` with the fenced
    yt-dlp (blocking), with ``session``'s cookies where they apply (added by the
    fetcher, withheld from every recorded exchange). Raises ``CaptureError``
    saying why not (``capture_error``)."""
    recorder = Recorder(max_bytes, max_requests)

    def duration_filter(info, *, incomplete=False):
        duration = info.get("duration")
        if duration and duration > max_duration:
            return f"duration {duration:.0f} s is over the limit of {max_duration:.0f} s"
        return None

    params = {
        "format": "bestvideo*+bestaudio/best",
        "merge_output_format": "mp4/mkv",
        "outtmpl": {"default": "media.%(ext)s"},
        "paths": {"home": str(workdir), "temp": str(workdir)},
        "noplaylist": True,
        "playlist_items": "1",
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "no_color": True,
        "logger": _Logger(),
        "cachedir": False,
        "usenetrc": False,
        "netrc_cmd": None,
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        "ffmpeg_location": str(ffmpeg.fenced_programs(workdir / ".fence")),
        "js_runtimes": {},
        "remote_components": set(),
        "max_filesize": max_bytes,
        "match_filter": duration_filter,
        "socket_timeout": fetcher.settings.read_timeout,
        "retries": 2,
        "fragment_retries": 3,
        "extractor_retries": 1,
        "concurrent_fragment_downloads": 4,
        "check_formats": False,
        "writethumbnail": False,
        "writeinfojson": False,
        "writesubtitles": False,
    }
    try:
        with FencedYoutubeDL(params, fetcher=fetcher, recorder=recorder, session=session) as ydl:
            info = ydl.extract_info(url, download=True)
            info = ydl.sanitize_info(info) if info else {}
    except Exception as exc:  # noqa: BLE001 - yt-dlp raises many kinds
        recorder.close()
        raise capture_error(exc, recorder) from None
    files = [
        Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")
    ]
    if not files or not files[0].exists():
        recorder.close()
        if recorder.refusals:
            raise recorder.refusals[0]
        duration = info.get("duration")
        if duration and duration > max_duration:
            raise LimitExceeded(
                f"the media lasts {duration:.0f} s, over the limit of {max_duration:.0f} s",
                reason="media_too_long",
            )
        raise Permanent("yt-dlp found no media to download (too large, or none)", reason="no_media")
    return Downloaded(files[0], recorder.exchanges, trim_info(info))


def probe(fetcher: Fetcher, url: str) -> str | None:
    """Ask the fenced yt-dlp about ``url`` without downloading (blocking): None if
    it finds a video, else its error message (``extractor_verdict`` reads it)."""
    recorder = Recorder(1024 * 1024)
    params = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "no_color": True,
        "logger": _Logger(),
        "cachedir": False,
        "usenetrc": False,
        "noplaylist": True,
        "playlist_items": "1",
        "skip_download": True,
        "js_runtimes": {},
        "remote_components": set(),
        "socket_timeout": fetcher.settings.read_timeout,
        "extractor_retries": 1,
    }
    try:
        with FencedYoutubeDL(params, fetcher=fetcher, recorder=recorder) as ydl:
            ydl.extract_info(url, download=False)
        return None
    except Exception as exc:  # noqa: BLE001 - yt-dlp raises many kinds; its words matter
        return str(exc)
    finally:
        recorder.close()


def trim_info(info: dict[str, Any]) -> dict[str, Any]:
    """The evidence-relevant part of yt-dlp's info dict (no signed URLs, no headers)."""
    out = {k: info[k] for k in INFO_FIELDS if info.get(k) is not None}
    formats = info.get("formats") or []
    out["formats"] = [{k: f[k] for k in FORMAT_FIELDS if f.get(k) is not None} for f in formats]
    return out


class _Logger:
    def debug(self, message: str) -> None:
        if message.startswith("[debug] "):
            log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.info("yt-dlp: %s", message)


def capture_error(exc: Exception, recorder: Recorder) -> CaptureError:
    """Map what yt-dlp raised onto the capture error tree."""
    if recorder.refusals:
        return recorder.refusals[0]
    text = str(exc)
    lowered = text.lower()
    status = re.search(r"http error (\d{3})", lowered)
    if status:
        return http_error(int(status.group(1)), f"yt-dlp: {text}")
    if "unsupported url" in lowered:
        return Permanent(f"yt-dlp: {text}", reason="unsupported_url")
    if REMOVED.search(text) or NOT_DOWNLOADABLE.search(text):
        return Permanent(f"yt-dlp: {text}", reason="media_unavailable")
    return FetchUnavailable(f"yt-dlp: {text}", reason="ytdlp_error")


REMOVED = re.compile(
    r"video unavailable|this video (is|has been) (no longer available|removed|deleted)"
    r"|removed by the uploader|account (has been )?(terminated|suspended)|private video"
    r"|this (post|tweet|video) (is|was) (deleted|unavailable|no longer available)"
    r"|content (isn't|is not) available|no longer available|has been removed"
    r"|this video is unavailable",
    re.IGNORECASE,
)
"""What yt-dlp's extractors say of a removed video (their error messages): the
one list, for the media capture's failure reason and the recheck's verdict."""

NOT_DOWNLOADABLE = re.compile(r"not available|deleted", re.IGNORECASE)
"""Further wording that makes a download permanently impossible (a format or
file the site does not offer), without saying the post was removed."""


def extractor_verdict(error: str | None) -> tuple[str, str] | None:
    """(state, reason) from yt-dlp's attempt at a platform URL: None when it found
    the video (the page check stands), ``gone`` when its error says removed."""
    if error is None:
        return None
    match = REMOVED.search(error)
    if match:
        return "gone", f"yt-dlp: {match.group(0)}"
    return None


@functools.lru_cache(maxsize=1)
def _extractors():
    from yt_dlp.extractor import gen_extractor_classes

    return [ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic" and ie.working()]


@functools.lru_cache(maxsize=1)
def _url_patterns() -> list[tuple[Any, tuple | None]]:
    """Each extractor with its ``_VALID_URL`` compiled for partial matching, or
    None for those that decide in their own ``suitable`` (always asked)."""
    import regex

    out = []
    for ie in _extractors():
        valid = ie._VALID_URL
        if "suitable" in ie.__dict__ or not valid:
            out.append((ie, None if valid is not False else ()))
            continue
        try:
            out.append(
                (
                    ie,
                    tuple(
                        regex.compile(p)
                        for p in (valid if isinstance(valid, (list, tuple)) else [valid])
                    ),
                )
            )
        except Exception:  # noqa: BLE001 - a pattern the regex module reads differently
            out.append((ie, None))
    return out


@functools.lru_cache(maxsize=1024)
def _candidates(origin: str) -> tuple[Any, ...]:
    """The extractors that could claim some URL starting with ``origin``.

    yt-dlp's URL patterns are anchored at the start, so a pattern that cannot
    match even a prefix of ``scheme://host[:port]`` cannot match any URL of that
    origin (the ``regex`` module's partial matching decides that). About 1 in 20
    extractors remain for a typical host; asking all 1,600 for every page cost
    a capture worker a fifth of its CPU.
    """
    return tuple(
        ie
        for ie, patterns in _url_patterns()
        if patterns is None or any(p.match(origin, partial=True) for p in patterns)
    )


@functools.lru_cache(maxsize=4096)
def extractor_recognises(url: str) -> bool:
    """True if a specific (non-generic) yt-dlp extractor claims ``url``."""
    parts = urlsplit(url)
    cut = len(parts.scheme) + 3
    # the URL's own first characters, so the filter sees exactly what the patterns will
    origin = url[: cut + len(parts.netloc)] if url[cut - 3 : cut] == "://" else ""
    return any(ie.suitable(url) for ie in _candidates(origin))
