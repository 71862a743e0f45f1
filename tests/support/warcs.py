"""WARCs checked by validators that are not warcio: JWAT and gowarc (infra/warcvalidators.py).

- ``assert_valid(paths)``: every file by both, each record's block digest and each
  payload digest recomputed; fails naming the file, the record and what differs;
- ``one_byte_changed(src, dst)``: a copy with one byte of one record's payload
  changed, and its gzip member recompressed, so only the digests can tell;
- ``stored_warcs(home)``: every WARC in the S3 server's data directory of a test
  stack, except those a test changed on purpose (``tampered``). The session's
  ``stack`` fixture validates them all at its end (tests/conftest.py): every WARC
  the integration and browser tests made warcflow write — page, media, browser.
"""

from __future__ import annotations

import functools
import os
import zlib
from pathlib import Path

from infra.warcvalidators import FileReport, Validators
from warcflow.settings import load_settings

TAMPERED: set[Path] = set()
TAMPERED_KEYS: set[tuple[str, str]] = set()
"""Stored WARC files a test changed behind warcflow's back on purpose (resolved paths)."""


@functools.cache
def validators() -> Validators:
    cache = load_settings(dict(os.environ)).services.cache
    return Validators(cache, lambda message: print(message, flush=True))


def check(paths: list[Path]) -> list[FileReport]:
    return validators().validate(paths)


def assert_valid(paths: list[Path]) -> list[FileReport]:
    """Both validators accept every file, having checked every record's block digest."""
    assert paths, "no WARC to validate"
    reports = check(paths)
    bad = [r for r in reports if not r.ok or r.block_digests != r.records]
    assert not bad, "WARC validation failed:\n" + "\n".join(r.summary() for r in bad)
    return reports


def tampered(path: Path) -> None:
    """Say that a test changed this stored WARC on purpose (the sweep leaves it out)."""
    TAMPERED.add(path.resolve())


def overwritten(bucket: str, key: str) -> None:
    """Say that a test put other bytes under the WARC key ``key`` of ``bucket`` on
    purpose (a newer version; the sweep reads the newest and leaves this one out)."""
    TAMPERED_KEYS.add((bucket, key))


def stored_warcs(home: Path) -> list[Path]:
    data = home / "s3" / "data"
    found = [
        p
        for p in sorted(data.glob("*/**/*.warc.gz"))
        if not any(part.startswith(".") for part in p.relative_to(data).parts)
    ]
    return [
        p
        for p in found
        if p.resolve() not in TAMPERED
        and (p.relative_to(data).parts[0], "/".join(p.relative_to(data).parts[1:]))
        not in TAMPERED_KEYS
    ]


def _members(data: bytes) -> list[bytes]:
    """The decompressed gzip members of a WARC, one per record."""
    out = []
    while data:
        inflater = zlib.decompressobj(31)
        out.append(inflater.decompress(data))
        data = inflater.unused_data
    return out


def one_byte_changed(src: Path, dst: Path, kind: bytes = b"response") -> str:
    """Copy ``src`` to ``dst`` with one payload byte of its first ``kind`` record with
    a payload changed, the member re-gzipped (still a valid gzip file). Returns the
    record's target URI."""
    members = _members(src.read_bytes())
    for i, member in enumerate(members):
        head, _, block = member.partition(b"\r\n\r\n")
        if f"WARC-Type: {kind.decode()}\r\n".encode() not in head + b"\r\n":
            continue
        body = block[:-4]  # the record ends with \r\n\r\n
        payload_at = body.find(b"\r\n\r\n") + 4 if kind in (b"response", b"request") else 0
        if len(body) - payload_at < 2:
            continue
        at = payload_at + (len(body) - payload_at) // 2
        changed = bytearray(member)
        changed[len(head) + 4 + at] ^= 0x01
        members[i] = bytes(changed)
        uri = next(
            line.split(b": ", 1)[1]
            for line in head.split(b"\r\n")
            if line.startswith(b"WARC-Target-URI: ")
        )
        dst.write_bytes(b"".join(_gzip(m) for m in members))
        return uri.decode()
    raise AssertionError(f"{src} has no {kind.decode()} record with a payload")


def _gzip(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
    return deflater.compress(data) + deflater.flush()
