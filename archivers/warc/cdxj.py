"""CDXJ index lines for a WARC, as webrecorder's ``cdxj-indexer`` writes them, so any
pywb (or ReplayWeb.page, in a WACZ) can replay from them.

One line per record of the types the indexer indexes by default
(``response``, ``revisit``, ``resource``, ``metadata``; a ``resource`` or
``metadata`` record whose Content-Type is ``application/warc-fields`` is left
out, as it does):

    <SURT key> <14-digit timestamp> {"url", "mime", "status", "digest",
                                     "length", "offset", "filename"}

- the key is the IA-style SURT (``surt.surt``), which pywb also computes for a
  lookup; a ``urn:`` target URI (warcflow's metadata and screenshot records)
  is its own key, so it never shadows the page it describes;
- ``mime``: ``warc/revisit`` for a revisit; the HTTP Content-Type for a
  response, the WARC Content-Type otherwise, cut at the first ``;`` or space
  and left as written (absent when there is none);
- ``status`` for responses and revisits with an HTTP header;
- ``digest`` is the record's ``WARC-Payload-Digest`` as written (warcflow's
  ``sha256:<hex>``). A record without one — warcflow's ``metadata`` records,
  whose block digest is their only digest — gets what the indexer computes
  for it, warcio's default: ``sha1:<base32>`` of the payload (here, the
  block). It is only the index's dedup key for that line, never evidence: the
  evidence is the record's own SHA-256 block digest;
- ``length``/``offset``: the record's gzip member in the file;
- ``filename``: the name the reader resolves: the WARC's S3 key for the
  replay index (pywb reads ``archive_paths`` + filename by range), the file
  name relative to ``archive/`` in a WACZ.

A reader that knows the WARC's recorded S3 version (the
viewer's catalog, from the manifest) pins the line to it: ``pinned`` makes the
filename ``<key>?versionId=<id>``, and the replay's loader reads that version
(``filename_version`` splits it again), so an overwrite is never replayed.
``WarcWriter`` records offsets as it writes (``index_entries``);
``cdxj_from_warc`` reads them back from a stored WARC, for recovery and
rebuilds. Both give the same lines for the same file, and so does
``cdxj-indexer --sort`` (tests/unit/test_cdxj.py, tests/e2e/test_interop.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import parse_qs, quote

import surt as surtlib

INDEXED = ("response", "revisit", "resource", "metadata")
WARC_FIELDS = "application/warc-fields"
_MIME_END = re.compile(r"[;\s]")


@dataclass(frozen=True)
class IndexEntry:
    """Where one record sits in a WARC file, and what pywb needs to know of it."""

    url: str
    warc_date: str
    rec_type: str
    mime: str | None
    status: str | None
    digest: str | None
    offset: int
    length: int


def timestamp14(warc_date: str) -> str:
    """``2026-11-25T10:43:13.819042Z`` → ``20261125104313``."""
    return "".join(c for c in warc_date if c.isdigit())[:14]


def cdx_key(url: str) -> str:
    """The lookup key pywb computes for ``url``."""
    return surtlib.surt(url)


def mime_of(content_type: str | None) -> str | None:
    """A Content-Type as the index gives it: up to the first ``;`` or space."""
    if content_type is None:
        return None
    return _MIME_END.split(content_type, maxsplit=1)[0].strip()


def indexed(rec_type: str, content_type: str | None) -> bool:
    """Does a record of this type and WARC Content-Type get an index line?"""
    if rec_type not in INDEXED:
        return False
    return not (rec_type in ("resource", "metadata") and content_type == WARC_FIELDS)


def computed_digest(hasher) -> str:
    """The digest the indexer gives a record without ``WARC-Payload-Digest``
    (warcio's default): ``sha1:<base32>``; ``hasher`` is a finished ``hashlib.sha1``."""
    return "sha1:" + base64.b32encode(hasher.digest()).decode("ascii")


def sha1_digest(data: bytes) -> str:
    return computed_digest(hashlib.sha1(data, usedforsecurity=False))


FILENAME_FIELD = '"filename": "'
"""How ``line`` writes the filename field: an unescaped quote before and after
``filename`` and ``": "`` between, which no JSON string value can hold."""


def pinned(cdx_line: str, version_id: str | None) -> str:
    """``cdx_line`` with its filename naming ``version_id`` (unchanged if None).

    A line as ``line`` writes it (one filename field, no escape in its value)
    is edited as text, the value swapped in place; any other is decoded and
    written again. Both give the same fields (the viewer pins every line it
    indexes: decoding each was a quarter of its catch-up)."""
    if not version_id:
        return cdx_line
    key, timestamp, rest = cdx_line.split(" ", 2)
    start = rest.find(FILENAME_FIELD)
    if start >= 0 and rest.count(FILENAME_FIELD) == 1:
        start += len(FILENAME_FIELD)
        end = rest.find('"', start)
        value = rest[start:end]
        if end > 0 and "\\" not in value:
            base = value.partition("?")[0]
            pin = f"{base}?versionId={quote(version_id, safe='')}"
            return f"{key} {timestamp} {rest[:start]}{pin}{rest[end:]}"
    fields = json.loads(rest)
    base, _version = filename_version(fields["filename"])
    fields["filename"] = f"{base}?versionId={quote(version_id, safe='')}"
    return f"{key} {timestamp} {json.dumps(fields)}"


def filename_version(filename: str) -> tuple[str, str | None]:
    """A (possibly pinned) filename → (S3 key, version id or None)."""
    base, sep, query = filename.partition("?")
    if not sep:
        return filename, None
    return base, parse_qs(query).get("versionId", [None])[0]


def line(entry: IndexEntry, filename: str) -> str:
    fields = {"url": entry.url}
    if entry.mime is not None:
        fields["mime"] = entry.mime
    if entry.status:
        fields["status"] = entry.status
    if entry.digest:
        fields["digest"] = entry.digest
    fields.update(length=str(entry.length), offset=str(entry.offset), filename=filename)
    return f"{cdx_key(entry.url)} {timestamp14(entry.warc_date)} {json.dumps(fields)}"


def cdxj(entries: Iterable[IndexEntry], filename: str) -> bytes:
    """Sorted CDXJ text (UTF-8) for the indexed entries of one WARC file."""
    lines = sorted(line(e, filename) for e in entries if e.rec_type in INDEXED)
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def cdxj_from_warc(stream: BinaryIO, filename: str) -> bytes:
    """Index a stored WARC by reading it (the slow path: recovery, rebuild, export)."""
    from warcio.archiveiterator import ArchiveIterator

    entries = []
    iterator = ArchiveIterator(stream)
    for record in iterator:
        headers = record.rec_headers
        if not indexed(record.rec_type, headers.get_header("Content-Type")):
            continue
        http = record.http_headers if record.rec_type in ("response", "revisit") else None
        mime: str | None
        if record.rec_type == "revisit":
            mime = "warc/revisit"
        elif record.rec_type == "response":
            mime = mime_of(http.get_header("Content-Type")) if http else None
        else:
            mime = mime_of(headers.get_header("Content-Type"))
        status = http.get_statuscode() if http else None
        digest = headers.get_header("WARC-Payload-Digest")
        if not digest:
            hasher = hashlib.sha1(usedforsecurity=False)
            while chunk := record.raw_stream.read(1 << 16):
                hasher.update(chunk)
            digest = computed_digest(hasher)
        iterator.read_to_end(record)
        entries.append(
            IndexEntry(
                headers.get_header("WARC-Target-URI"),
                headers.get_header("WARC-Date"),
                record.rec_type,
                mime,
                status,
                digest,
                iterator.get_record_offset(),
                iterator.get_record_length(),
            )
        )
    return cdxj(entries, filename)


async def store_index(
    store, index_key: str, warc_key: str, entries: list[IndexEntry] | None
) -> None:
    """Put the CDXJ of ``warc_key`` at ``index_key`` unless it is there already.

    ``entries`` are the writer's (the fast path); None means the WARC was
    written by an earlier attempt, so it is read back and indexed.
    """
    import asyncio
    import hashlib
    import io

    if entries is None:
        if await asyncio.to_thread(store.head, index_key) is not None:
            return  # indexed by the attempt that wrote the WARC: do not read it again

        def read() -> bytes:
            with store.open(warc_key) as stream:
                return cdxj_from_warc(stream, warc_key)

        data = await asyncio.to_thread(read)
    else:
        data = cdxj(entries, warc_key)
    await asyncio.to_thread(
        store.put_new,
        index_key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/cdxj",
    )


def page_digest(index: bytes, url: str) -> str | None:
    """The payload SHA-256 (hex) of ``url``'s 200 response in a CDXJ ``index``, or None."""
    wanted = cdx_key(url)
    for line in index.decode("utf-8", "replace").splitlines():
        key, _, rest = line.partition(" ")
        if key != wanted:
            continue
        fields = json.loads(rest.partition(" ")[2])
        if str(fields.get("status")) == "200" and fields.get("digest"):
            return str(fields["digest"]).removeprefix("sha256:")
    return None
