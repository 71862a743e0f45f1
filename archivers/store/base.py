"""Object storage: the interface every backend implements, and its value types.

Writes are "put if absent" (``If-None-Match: *``) with a SHA-256 checksum the
server verifies, so a redelivered message can never replace a stored capture
and a corrupted upload is refused. What a store says about an object's
digest (``StoredObject.sha256``) is the server's own checksum, never a
client-set metadata field: anyone who may write can set metadata. Reads can
name the version a manifest recorded, so an overwrite (a newer version of the
key) is not what replay and downloads serve. Some servers check the condition before
the write rather than atomically; the capture protocol does not rest on it
alone (see ``archivers.manifests.commit``).

Backends: ``archivers.store.s3.S3Store`` (any S3-compatible server, boto3) and
``archivers.store.memory.MemoryStore`` (the in-package fake for unit tests of
one module). A new backend is one module here implementing ``ObjectStore``,
plus one line in ``warcflow.wiring.store`` choosing it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

_MiB = 1024 * 1024


@dataclass(frozen=True)
class StoreSettings:
    """Where captures are stored. ``endpoint`` empty means AWS itself."""

    endpoint: str = "http://127.0.0.1:9000"
    bucket: str = "warcflow"
    access_key: str = ""
    """Empty: boto3's own chain (AWS_* variables, ~/.aws, an instance role)."""
    secret_key: str = field(default="", repr=False)
    region: str = "us-east-1"
    multipart_threshold: int = 64 * _MiB
    part_size: int = 16 * _MiB
    lock_mode: str = ""
    """The bucket's default retention mode: ``GOVERNANCE``, ``COMPLIANCE`` or
    empty (none). Set on the bucket by the admin (``S3Store.ensure_retention``);
    the server applies it to every new version, so writers send no lock
    headers and need no right to set retention."""
    lock_days: int = 3650

    def default_retention(self) -> dict[str, Any] | None:
        """The bucket's default retention rule, as S3 spells it; None: no lock."""
        if not self.lock_mode:
            return None
        return {"DefaultRetention": {"Mode": self.lock_mode, "Days": self.lock_days}}


@dataclass(frozen=True)
class StoredObject:
    """What the server says about a stored object. ``last_modified`` is UTC-aware.

    ``sha256`` is the server's checksum of the whole object (hex), verified by
    the server when the object was written; None where the server has none
    (an object uploaded in parts has only a checksum of its parts' checksums):
    then whoever needs the digest hashes the bytes (``custody.fixity``).
    """

    key: str
    size: int
    last_modified: datetime
    sha256: str | None = None
    version_id: str | None = None


class ObjectStore(Protocol):
    bucket: str

    def put_new(
        self, key: str, body: BinaryIO, *, size: int, sha256: str, content_type: str
    ) -> bool:
        """Store ``body`` under ``key`` unless the key exists; False if it existed.

        One request for a small object: no read-back. The server checks the
        SHA-256 on the way in, so a True means these exact bytes are stored.
        """

    def put_if_absent(
        self, key: str, body: BinaryIO, *, size: int, sha256: str, content_type: str
    ) -> StoredObject | None:
        """``put_new`` then the server's facts about the object (its time of
        storage, for the audit trail); None if the key existed."""

    def head(self, key: str, version_id: str | None = None) -> StoredObject | None:
        """Facts about ``key`` (its latest version, or ``version_id``), or None if
        there is no such object or version."""

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """Whole content of a small object (manifests); KeyError if absent."""

    def open(
        self,
        key: str,
        byte_range: tuple[int, int] | None = None,
        version_id: str | None = None,
    ) -> BinaryIO:
        """A readable stream of the object (bytes ``start..end`` inclusive if given;
        the version ``version_id`` if given, else the latest); KeyError if absent."""

    def put_state(self, key: str, data: bytes, *, content_type: str = "application/json") -> None:
        """Overwrite ``key`` with ``data``: mutable state (liveness), never evidence."""

    def versions(self, key: str) -> list[dict]:
        """Every stored version of ``key``, newest first (empty without versioning)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` in lexical order."""


def b64_digest(hex_digest: str) -> str:
    """A hex SHA-256 as the base64 the S3 checksum headers carry."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
