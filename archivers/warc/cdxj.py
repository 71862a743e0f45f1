"""CDXJ index lines for a WARC, in pywb's format, so any pywb can replay it.

One line per replayable record (``response``, ``revisit``, ``resource``):

    <SURT key> <14-digit timestamp> {"url", "mime", "status", "digest",
                                     "length", "offset", "filename"}

The key is the IA-style SURT that pywb itself computes for a lookup
(``surt.surt``, lower-cased), not warcflow's case-preserving grouping key;
``filename`` is the WARC's S3 key, so pywb finds the record at
``archive_paths`` + filename, by a range request of ``length`` bytes from
``offset``. A reader that knows the WARC's recorded S3 version (the
viewer's catalog, from the manifest) pins the line to it: ``pinned`` makes the
filename ``<key>?versionId=<id>``, and the replay's loader reads that version
(``filename_version`` splits it again), so an overwrite is never replayed.
``WarcWriter`` records offsets as it writes (``index_entries``);
``cdxj_from_warc`` reads them back from a stored WARC, for recovery and
rebuilds. Both give the same lines for the same file (tested).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import parse_qs, quote

import surt as surtlib

INDEXED = ("response", "revisit", "resource")


@dataclass(frozen=True)
class IndexEntry:
    """Where one record sits in a WARC file, and what pywb needs to know of it."""

    url: str
    warc_date: str
    rec_type: str
    mime: str
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


def pinned(cdx_line: str, version_id: str | None) -> str:
    """``cdx_line`` with its filename naming ``version_id`` (unchanged if None)."""
    if not version_id:
        return cdx_line
    key, timestamp, rest = cdx_line.split(" ", 2)
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
    fields = {"url": entry.url, "mime": entry.mime}
    if entry.status:
        fields["status"] = entry.status
    if entry.digest:
        fields["digest"] = entry.digest
    fields.update(length=str(entry.length), offset=str(entry.offset), filename=filename)
    return f"{cdx_key(entry.url)} {timestamp14(entry.warc_date)} {json.dumps(fields)}"


def cdxj(entries: Iterable[IndexEntry], filename: str) -> bytes:
    """Sorted CDXJ text (UTF-8) for the replayable entries of one WARC file."""
    lines = sorted(line(e, filename) for e in entries if e.rec_type in INDEXED)
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _mime(content_type: str | None) -> str:
    return (content_type or "unk").split(";")[0].strip().lower() or "unk"


def cdxj_from_warc(stream: BinaryIO, filename: str) -> bytes:
    """Index a stored WARC by reading it (the slow path: recovery, rebuild)."""
    from warcio.archiveiterator import ArchiveIterator

    entries = []
    iterator = ArchiveIterator(stream)
    for record in iterator:
        if record.rec_type not in INDEXED:
            continue
        headers = record.rec_headers
        if record.rec_type == "revisit":
            mime, status = "warc/revisit", None
            if record.http_headers:
                status = record.http_headers.get_statuscode()
        elif record.rec_type == "response" and record.http_headers:
            mime = _mime(record.http_headers.get_header("Content-Type"))
            status = record.http_headers.get_statuscode()
        else:
            mime, status = _mime(headers.get_header("Content-Type")), None
        iterator.read_to_end(record)
        entries.append(
            IndexEntry(
                headers.get_header("WARC-Target-URI"),
                headers.get_header("WARC-Date"),
                record.rec_type,
                mime,
                status,
                headers.get_header("WARC-Payload-Digest"),
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
