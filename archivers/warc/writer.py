"""WARC/1.1 writer: one gzip member per record, SHA-256 digests, streamed.

warcio's writer re-serialises HTTP headers from its parsed form; evidence needs
the bytes exactly as received, so records are written here from the recorded
spools and only *read* with warcio. The output is a ``DigestingSpool``, so the
file's own SHA-256 and size are known the moment the last record is written,
without reading it back.

Record conventions (documented in docs/formats.md):
- ``WARC-Date`` is when the request was sent, UTC, microseconds;
- digests are ``sha256:<hex>`` (what ``sha256sum`` prints); the payload digest
  covers the bytes after the HTTP header block as received, which is what
  ``warcio check`` verifies;
- request records point to their response with ``WARC-Concurrent-To``;
- every record after the first names the file's ``warcinfo`` record;
- ``WARC-Refers-To`` only where WARC 1.1 (section 5.11) allows it: on
  ``metadata`` and ``revisit`` records, never on ``resource``, ``response``,
  ``request`` or ``warcinfo``; a ``resource`` made during a capture (the
  screenshot) names the capture's response with ``WARC-Concurrent-To``
  instead (section 5.7 allows that on any record but warcinfo, conversion and
  continuation). Independent validators (JWAT, gowarc) hold every file to this
  (tests/support/warcvalidators.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from collections.abc import Iterable
from datetime import datetime

from archivers.clock import iso
from archivers.net.recording import DigestingSpool, Exchange
from archivers.warc.cdxj import IndexEntry, mime_of, sha1_digest

WARC_VERSION = "WARC/1.1"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
LARGE_BLOCK = 1024 * 1024
"""Blocks at least this big get a compression level chosen by sniffing their
first 64 KiB: media does not compress, and deflating it anyway would make gzip
the bottleneck of a large capture (see ``_level``)."""
METADATA_URN = "urn:warcflow:metadata:"
"""Prefix of the target URI of warcflow's metadata records; the described URL follows."""
TLS_URN = "urn:warcflow:tls:"
"""Prefix of the target URI of the metadata record holding a connection's TLS facts."""


def _level(first: bytes, length: int) -> int:
    """gzip level for a block: 6 when small; for large blocks 1 if a sample
    compresses by at least 5 %, else 0 (stored deflate blocks: still a valid
    gzip member, at memcpy speed)."""
    if length < LARGE_BLOCK:
        return 6
    sample = first[:65536]
    if not sample:
        return 1
    return 1 if len(zlib.compress(sample, 1)) < 0.95 * len(sample) else 0


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warcinfo_fields(agent: dict[str, str], *, part_of: str, description: str) -> dict[str, str]:
    """The ``warcinfo`` record's fields of every warcflow WARC: the software that
    wrote it (``agent``'s name and version), the format, and what it is part of."""
    return {
        "software": f"{agent.get('name', 'warcflow')}/{agent.get('version', '?')}",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "isPartOf": part_of,
        "description": description,
    }


class WarcWriter:
    """Appends records to ``out``. Not thread-safe; one writer per WARC file."""

    def __init__(self, out: DigestingSpool, filename: str) -> None:
        self.out = out
        self.filename = filename
        self.warcinfo_id: str | None = None
        self.records = 0
        self.index_entries: list[IndexEntry] = []

    def write_record(
        self,
        warc_type: str,
        headers: list[tuple[str, str]],
        block: Iterable[bytes],
        length: int,
        block_sha256: str,
        *,
        content_type: str,
        date: datetime,
        record_id: str | None = None,
        index: tuple[str | None, str | None] | None = None,
        index_digest: str | None = None,
    ) -> str:
        """Write one record; return its WARC-Record-ID.

        ``block`` must yield exactly ``length`` bytes whose SHA-256 is
        ``block_sha256``; the writer trusts the caller (the spools computed it).
        ``index`` is the record's (mime, status) for its CDXJ line, None for a
        record the index leaves out; the line's digest is the record's
        ``WARC-Payload-Digest``, else ``index_digest`` (archivers.warc.cdxj).
        """
        record_id = record_id or new_record_id()
        offset = self.out.size
        head = [
            ("WARC-Type", warc_type),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", iso(date)),
        ]
        if self.warcinfo_id and warc_type != "warcinfo":
            head.append(("WARC-Warcinfo-ID", self.warcinfo_id))
        head += headers
        head += [
            ("WARC-Block-Digest", f"sha256:{block_sha256}"),
            ("Content-Type", content_type),
            ("Content-Length", str(length)),
        ]
        text = WARC_VERSION + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head) + "\r\n"
        chunks = iter(block)
        first = next(chunks, b"")
        gz = zlib.compressobj(_level(first, length), zlib.DEFLATED, 31)
        self.out.write(gz.compress(text.encode("utf-8")))
        written = len(first)
        self.out.write(gz.compress(first))
        for chunk in chunks:
            written += len(chunk)
            self.out.write(gz.compress(chunk))
        if written != length:
            raise ValueError(f"record block was {written} bytes, announced {length}")
        self.out.write(gz.compress(b"\r\n\r\n"))
        self.out.write(gz.flush())
        self.records += 1
        if index is not None:
            uri = dict(headers).get("WARC-Target-URI", "")
            digest = dict(headers).get("WARC-Payload-Digest") or index_digest
            self.index_entries.append(
                IndexEntry(
                    uri,
                    iso(date),
                    warc_type,
                    index[0],
                    index[1],
                    digest,
                    offset,
                    self.out.size - offset,
                )
            )
        return record_id

    def write_warcinfo(self, fields: dict[str, str], date: datetime) -> str:
        body = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v).encode("utf-8")
        record_id = self.write_record(
            "warcinfo",
            [("WARC-Filename", self.filename)],
            [body],
            len(body),
            hashlib.sha256(body).hexdigest(),
            content_type="application/warc-fields",
            date=date,
        )
        self.warcinfo_id = record_id
        return record_id

    def _write_request(self, exchange: Exchange, response_id: str) -> str:
        request = exchange.request_bytes
        _head, _, body = request.partition(b"\r\n\r\n")
        return self.write_record(
            "request",
            [
                ("WARC-Target-URI", exchange.url),
                ("WARC-Concurrent-To", response_id),
                ("WARC-IP-Address", exchange.ip),
                ("WARC-Payload-Digest", f"sha256:{hashlib.sha256(body).hexdigest()}"),
            ],
            [request],
            len(request),
            hashlib.sha256(request).hexdigest(),
            content_type="application/http;msgtype=request",
            date=exchange.started_at,
        )

    def write_exchange(self, exchange: Exchange) -> tuple[str, str]:
        """Write the request and response records of ``exchange``; return their ids."""
        response = exchange.response
        response_id = new_record_id()
        request_id = self._write_request(exchange, response_id)
        response_headers = [
            ("WARC-Target-URI", exchange.url),
            ("WARC-Concurrent-To", request_id),
            ("WARC-IP-Address", exchange.ip),
            ("WARC-Payload-Digest", f"sha256:{response.payload_sha256}"),
        ]
        if response.truncated:
            response_headers.append(("WARC-Truncated", response.truncated))
        self.write_record(
            "response",
            response_headers,
            response.raw.chunks(),
            response.raw.size,
            response.raw.sha256,
            content_type="application/http;msgtype=response",
            date=exchange.started_at,
            record_id=response_id,
            index=(mime_of(response.header("content-type")), str(response.status)),
        )
        return request_id, response_id

    def write_revisit(
        self, exchange: Exchange, *, refers_to_uri: str, refers_to_date: str
    ) -> tuple[str, str]:
        """Request record plus a ``revisit`` record (identical payload digest) in
        place of the response: the HTTP header block only, pointing at the
        earlier capture that holds the same payload. Returns (request id, revisit id)."""
        response = exchange.response
        revisit_id = new_record_id()
        request_id = self._write_request(exchange, revisit_id)
        head = response.raw.read_range(0, response.header_size or 0)
        self.write_record(
            "revisit",
            [
                ("WARC-Target-URI", exchange.url),
                ("WARC-Concurrent-To", request_id),
                ("WARC-IP-Address", exchange.ip),
                ("WARC-Profile", REVISIT_PROFILE),
                ("WARC-Refers-To-Target-URI", refers_to_uri),
                ("WARC-Refers-To-Date", refers_to_date),
                ("WARC-Payload-Digest", f"sha256:{response.payload_sha256}"),
            ],
            [head],
            len(head),
            hashlib.sha256(head).hexdigest(),
            content_type="application/http;msgtype=response",
            date=exchange.started_at,
            record_id=revisit_id,
            index=("warc/revisit", str(response.status)),
        )
        return request_id, revisit_id

    def write_resource(
        self,
        uri: str,
        chunks: Iterable[bytes],
        length: int,
        sha256: str,
        *,
        content_type: str,
        date: datetime,
        concurrent_to: str | None = None,
    ) -> str:
        """A ``resource`` record: a file warcflow made (a merged stream, a screenshot).

        ``concurrent_to`` names a record of the same capture event (the page's
        response, for its screenshot); a resource may not carry ``WARC-Refers-To``.
        """
        headers = [("WARC-Target-URI", uri), ("WARC-Payload-Digest", f"sha256:{sha256}")]
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        return self.write_record(
            "resource",
            headers,
            chunks,
            length,
            sha256,
            content_type=content_type,
            date=date,
            index=(mime_of(content_type), None),
        )

    def write_metadata(
        self,
        uri: str,
        document: dict,
        date: datetime,
        concurrent_to: str | None = None,
        refers_to: str | None = None,
        *,
        urn: str = METADATA_URN,
    ) -> str:
        """A ``metadata`` record about ``uri`` whose block is ``document`` as JSON (UTF-8).

        Its ``WARC-Target-URI`` is ``urn:warcflow:metadata:<uri>``, not ``uri``
        itself (as Browsertrix does with ``urn:pageinfo:``): pywb's indexer
        indexes metadata records that are not ``application/warc-fields``, and
        at the same second it would replay this JSON in place of the page.
        ``urn`` is the prefix (``TLS_URN`` for a connection's TLS facts). It is
        indexed as cdxj-indexer indexes it (under that urn key, with the digest
        the indexer computes: it has no payload digest of its own).
        """
        body = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
        headers = [("WARC-Target-URI", urn + uri)]
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        if refers_to:
            headers.append(("WARC-Refers-To", refers_to))
        return self.write_record(
            "metadata",
            headers,
            [body],
            len(body),
            hashlib.sha256(body).hexdigest(),
            content_type="application/json",
            date=date,
            index=(mime_of("application/json"), None),
            index_digest=sha1_digest(body),
        )
