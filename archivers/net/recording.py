"""A recorded HTTP response: the exact bytes received, spooled, hashed as they stream.

``RecordedResponse`` is written to while the bytes arrive and read afterwards by
the WARC writer. It keeps at most ``SPOOL_MEMORY`` bytes in memory and spills
to a temporary file beyond that, so a large response never sits whole in RAM.

Digests, as ``warcio check`` and wget compute them:
- block digest: SHA-256 of every byte of the HTTP message as received
  (status line, headers, body with its transfer framing);
- payload digest: SHA-256 of the bytes after the header block's blank line.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO
from urllib.parse import urljoin

from archivers.errors import LimitExceeded
from archivers.net.tlsinfo import TLSInfo

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SPOOL_MEMORY = 1024 * 1024
"""Bytes of a spool kept in memory before it moves to a temporary file."""


class DigestingSpool:
    """Append-only byte spool that hashes what it is given (SHA-256)."""

    def __init__(self) -> None:
        self._file: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # type: ignore[assignment]
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._sha256.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def chunks(
        self, start: int = 0, size: int = 64 * 1024, stop: int | None = None
    ) -> Iterator[bytes]:
        """Re-read the spooled bytes from ``start`` (up to ``stop``, else to the
        end); the spool stays appendable."""
        self._file.seek(start)
        left = (self.size if stop is None else stop) - start
        while left > 0:
            data = self._file.read(min(size, left))
            if not data:
                break
            left -= len(data)
            yield data
        self._file.seek(0, 2)

    def read_range(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (small ranges: headers)."""
        self._file.seek(start)
        data = self._file.read(length)
        self._file.seek(0, 2)
        return data

    def spill(self) -> None:
        """Move the bytes held in memory to the temporary file (memory stays bounded
        when many spools are kept at once)."""
        rollover = getattr(self._file, "rollover", None)
        if rollover is not None:
            rollover()

    def fileobj(self) -> BinaryIO:
        """The underlying file, rewound, for a reader that takes a file (boto3)."""
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._file.close()


class RecordedResponse:
    """The raw bytes of one HTTP response plus what was parsed from them.

    Invariants once the response is read: ``raw.size == header_size + payload_size``;
    ``raw.sha256`` is the block digest; ``payload_sha256`` covers
    ``raw[header_size:]``. The body with transfer framing removed (still
    content-encoded) is ``body_chunks()``: the raw payload itself unless the
    response was chunked, when it is kept separately in ``entity`` (so an
    unchunked video is on disk once, not twice).
    """

    def __init__(self) -> None:
        self.raw = DigestingSpool()
        self.entity = DigestingSpool()
        self.status = 0
        self.reason = ""
        self.http_version = "1.1"
        self.headers: list[tuple[str, str]] = []
        self.trailers: list[tuple[str, str]] = []
        """The fields of a chunked response's trailer section, as parsed (in the raw
        bytes they are the end of the payload, after the last chunk)."""
        self.header_size: int | None = None
        self.chunked = False
        self.truncated: str | None = None
        self._head = bytearray()
        self._payload_sha256 = hashlib.sha256()

    def feed_raw(self, data: bytes) -> None:
        """Record bytes as they came off the connection."""
        self.raw.write(data)
        if self.header_size is not None:
            self._payload_sha256.update(data)
            return
        start = len(self._head)
        self._head += data
        end = _header_end(self._head, max(0, start - 3))
        if end is not None:
            self.header_size = end
            self._payload_sha256.update(bytes(self._head[end:]))
            self._head = bytearray()

    def drop_tail(self, count: int) -> None:
        """Forget the last ``count`` raw bytes (read past the end of the message)."""
        if count <= 0:
            return
        keep = self.raw.size - count
        kept = DigestingSpool()
        pending = keep
        for chunk in self.raw.chunks():
            kept.write(chunk[:pending])
            pending -= min(pending, len(chunk))
            if pending == 0:
                break
        self.raw.close()
        self.raw = kept
        self._payload_sha256 = hashlib.sha256()
        if self.header_size is not None:
            for chunk in self.raw.chunks(self.header_size):
                self._payload_sha256.update(chunk)

    def replace_head(self, head: bytes, headers: list[tuple[str, str]], end: int) -> None:
        """Put ``head`` in place of the recorded bytes before ``end`` (the header
        blocks, blank lines included) and ``headers`` in place of the parsed
        ones; the body stays as received (withholding a session's cookies)."""
        if self.header_size is None:
            return
        self._splice(head, end, self.raw.size, b"")
        self.header_size = len(head)
        self.headers = headers
        self._digest_payload()  # the same bytes, unless ``head`` took in 1xx blocks

    def replace_trailer(self, section: bytes, trailers: list[tuple[str, str]], start: int) -> None:
        """Put ``section`` in place of the recorded bytes from ``start`` to the end
        (a chunked response's trailer section, its blank line included) and
        ``trailers`` in place of the parsed fields. The head, the chunks and so
        the entity stay as received; the payload digest is computed again."""
        if self.header_size is None or start < self.header_size:
            return
        self._splice(b"", 0, start, section)
        self.trailers = trailers
        self._digest_payload()

    def _splice(self, head: bytes, end: int, start: int, tail: bytes) -> None:
        """The raw bytes become ``head + raw[end:start] + tail``, streamed into a
        new spool: memory stays bounded, the block digest and size follow."""
        kept = DigestingSpool()
        kept.write(head)
        for chunk in self.raw.chunks(end, stop=start):
            kept.write(chunk)
        kept.write(tail)
        self.raw.close()
        self.raw = kept

    def _digest_payload(self) -> None:
        self._payload_sha256 = hashlib.sha256()
        for chunk in self.raw.chunks(self.header_size or 0):
            self._payload_sha256.update(chunk)

    def body_chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """The entity body (transfer framing removed, content coding kept)."""
        if self.chunked:
            return self.entity.chunks(0, size)
        return self.raw.chunks(self.header_size or self.raw.size, size)

    def read_body(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of ``body_chunks()``, for parsing small documents."""
        out = bytearray()
        for chunk in self.body_chunks():
            out += chunk[: limit - len(out)]
            if len(out) >= limit:
                break
        return bytes(out)

    def spill(self) -> None:
        """Move this response's spools from memory to disk."""
        self.raw.spill()
        self.entity.spill()

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    @property
    def payload_sha256(self) -> str:
        return self._payload_sha256.hexdigest()

    @property
    def payload_size(self) -> int:
        return self.raw.size - (self.header_size or self.raw.size)

    def close(self) -> None:
        self.raw.close()
        self.entity.close()


def _header_end(buf: bytearray, start: int) -> int | None:
    """Offset just past the blank line ending the header block, or None yet."""
    candidates = []
    crlf = buf.find(b"\n\r\n", start)
    if crlf >= 0:
        candidates.append(crlf + 3)
    lf = buf.find(b"\n\n", start)
    if lf >= 0:
        candidates.append(lf + 2)
    return min(candidates) if candidates else None


DECODE_STEP = 256 * 1024
"""Most decoded bytes one inflate step produces: a 64 KiB chunk of a gzip bomb
inflates to about 64 MiB at once unless the output of each step is capped."""


class DecodedBudget:
    """How many decoded bytes a set of bodies may still produce (thread-safe).

    One budget can be shared by many readers (all the responses of one yt-dlp
    download), so a stream of many small bombs is bounded as one. Spending past
    the limit raises ``LimitExceeded`` (``reason``) *before* the bytes are
    handed on, so nothing beyond the limit reaches a caller, a file or a disk;
    ``on_exceeded`` is told first (the media recorder keeps the refusal).
    """

    def __init__(
        self,
        limit: int,
        *,
        reason: str = "too_large",
        what: str = "the decoded body",
        on_exceeded: Callable[[LimitExceeded], None] | None = None,
    ) -> None:
        self.limit = limit
        self.spent = 0
        self.reason = reason
        self.what = what
        self.on_exceeded = on_exceeded
        self._lock = threading.Lock()

    def spend(self, count: int) -> None:
        with self._lock:
            self.spent += count
            over = self.spent > self.limit
        if over:
            error = LimitExceeded(
                f"{self.what} decodes to more than {self.limit} bytes", reason=self.reason
            )
            if self.on_exceeded is not None:
                self.on_exceeded(error)
            raise error


class DecodingReader(io.RawIOBase):
    """A file over body chunks, undoing gzip/deflate on the fly (bounded memory).

    Each inflate step yields at most ``DECODE_STEP`` bytes (the rest of the
    input waits in ``unconsumed_tail``), so memory stays bounded whatever the
    ratio; with a ``budget`` every decoded byte is counted before it is handed
    out, and reading past the budget raises ``LimitExceeded``. Reads of any size
    cost O(size): the current chunk is consumed through an offset, never
    re-sliced (callers such as yt-dlp read in small blocks).
    """

    def __init__(
        self, chunks: Iterator[bytes], encoding: str, *, budget: DecodedBudget | None = None
    ) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0
        self._budget = budget
        encoding = encoding.strip().lower()
        self._inflate = (
            zlib.decompressobj(47)
            if encoding in ("gzip", "x-gzip")
            else zlib.decompressobj(15)
            if encoding == "deflate"
            else None
        )
        self._coded = self._inflate is not None

    def readable(self) -> bool:
        return True

    def _refill(self) -> bool:
        """Put the next decoded bytes in the buffer; False at the end."""
        if self._inflate is None:
            if self._coded:
                return False
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buffer = chunk
        elif self._inflate.unconsumed_tail:
            self._buffer = self._inflate.decompress(self._inflate.unconsumed_tail, DECODE_STEP)
        else:
            chunk = next(self._chunks, None)
            if chunk is None:
                # all input given and drained step by step: what is left is at
                # most the inflater's window, never the bomb
                self._buffer, self._inflate = self._inflate.flush(), None
            else:
                self._buffer = self._inflate.decompress(chunk, DECODE_STEP)
        self._offset = 0
        if self._budget is not None and self._buffer:
            self._budget.spend(len(self._buffer))
        return True

    def readinto(self, target) -> int:
        while self._offset >= len(self._buffer):
            if not self._refill():
                return 0
        n = min(len(target), len(self._buffer) - self._offset)
        target[:n] = memoryview(self._buffer)[self._offset : self._offset + n]
        self._offset += n
        return n


@dataclass
class Exchange:
    """One HTTP request and its recorded response.

    ``started_at`` is when the request was sent (the WARC-Date of both
    records); ``ip`` is the address actually connected to.
    """

    url: str
    ip: str
    port: int
    started_at: datetime
    request_bytes: bytes
    response: RecordedResponse
    elapsed: float
    limits_hit: list[str] = field(default_factory=list)
    method: str = "GET"
    local_address: str | None = None
    """``ip:port`` this end of the connection had (the outgoing address), if known."""
    tls: TLSInfo | None = None
    """The TLS facts of this exchange's own connection (https only)."""
    proxy: str | None = None
    """``host:port`` of the session's proxy the connection was tunnelled through
    (``archivers.net.proxy``), None for a direct one: then ``local_address`` is
    this end of the connection to the proxy, ``ip`` still the origin's."""

    @property
    def remote_address(self) -> str:
        return address(self.ip, self.port)

    @property
    def status(self) -> int:
        return self.response.status

    def redirect_target(self) -> str | None:
        """Absolute URL of the Location header of a redirect, else None."""
        location = self.response.header("location")
        if self.status in REDIRECT_STATUSES and location:
            return urljoin(self.url, location.strip())
        return None

    def close(self) -> None:
        self.response.close()


def decoded_body(response: RecordedResponse, limit: int) -> bytes:
    """The entity body with gzip/deflate undone, at most ``limit`` bytes."""
    data = response.read_body(limit)
    encoding = (response.header("content-encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 47 if encoding != "deflate" else 15
        try:
            return zlib.decompressobj(wbits).decompress(data, limit)
        except zlib.error:
            try:
                return zlib.decompressobj(-15).decompress(data, limit)
            except zlib.error:
                return b""
    return data


def content_type(response: RecordedResponse) -> str:
    return (response.header("content-type") or "").split(";")[0].strip().lower()


def address(ip: str, port: int) -> str:
    """``ip:port``, IPv6 in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
