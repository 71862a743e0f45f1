"""Object storage: a small interface, the boto3 implementation, an in-package fake.

Writes are "put if absent" (``If-None-Match: *``) with a SHA-256 checksum the
server verifies, so a redelivered message can never replace a stored capture
and a corrupted upload is refused. Some servers check the condition before
the write rather than atomically; the capture protocol does not rest on it
alone (see ``archivers.capture``).

Objects larger than ``multipart_threshold`` go up in parts read from the spool
one at a time, so memory stays bounded by the part size.

Errors map onto the capture error tree: unreachable server, timeouts, 5xx,
throttling and misconfiguration (no bucket, bad keys) are ``StoreUnavailable``
(retry, then the dead-letter topic, from where an operator can replay once it
is fixed); a refused request is ``StoreRefused``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterator, Protocol

from archivers.clock import utc_now
from archivers.errors import StoreRefused, StoreUnavailable

_MiB = 1024 * 1024


@dataclass(frozen=True)
class StoreSettings:
    """Where captures are stored. ``endpoint`` empty means AWS itself."""

    endpoint: str = "http://127.0.0.1:9000"
    bucket: str = "warcflow"
    access_key: str = "warcflow"
    secret_key: str = "warcflow-local-secret"
    region: str = "us-east-1"
    multipart_threshold: int = 64 * _MiB
    part_size: int = 16 * _MiB
    lock_mode: str = ""
    """Object Lock mode for every write-once object: ``GOVERNANCE``,
    ``COMPLIANCE`` or empty (none). Needs a bucket made with Object Lock."""
    lock_days: int = 3650

    def retention(self) -> dict[str, object]:
        """The put arguments that lock a new object until now + ``lock_days``."""
        if not self.lock_mode:
            return {}
        return {"ObjectLockMode": self.lock_mode,
                "ObjectLockRetainUntilDate": utc_now() + timedelta(days=self.lock_days)}


@dataclass(frozen=True)
class StoredObject:
    """What the server says about a stored object. ``last_modified`` is UTC-aware."""

    key: str
    size: int
    last_modified: datetime
    sha256: str | None = None
    version_id: str | None = None


class ObjectStore(Protocol):
    bucket: str

    def put_new(self, key: str, body: BinaryIO, *, size: int, sha256: str,
                content_type: str) -> bool:
        """Store ``body`` under ``key`` unless the key exists; False if it existed.

        One request for a small object: no read-back. The server checks the
        SHA-256 on the way in, so a True means these exact bytes are stored.
        """

    def put_if_absent(self, key: str, body: BinaryIO, *, size: int, sha256: str,
                      content_type: str) -> StoredObject | None:
        """``put_new`` then the server's facts about the object (its time of
        storage, for the audit trail); None if the key existed."""

    def head(self, key: str) -> StoredObject | None:
        """Facts about ``key``, or None if there is no such object."""

    def get_bytes(self, key: str) -> bytes:
        """Whole content of a small object (manifests); KeyError if absent."""

    def open(self, key: str, byte_range: tuple[int, int] | None = None) -> BinaryIO:
        """A readable stream of the object (bytes ``start..end`` inclusive if given);
        KeyError if absent."""

    def put_state(self, key: str, data: bytes, *, content_type: str = "application/json"
                  ) -> None:
        """Overwrite ``key`` with ``data``: mutable state (liveness), never evidence."""

    def versions(self, key: str) -> list[dict]:
        """Every stored version of ``key``, newest first (empty without versioning)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` in lexical order."""


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class S3Store:
    """``ObjectStore`` on any S3-compatible server via boto3."""

    def __init__(self, settings: StoreSettings) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        self.bucket = settings.bucket
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint or None,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=Config(
                s3={"addressing_style": "path"},
                # Explicit, so S3-compatible servers that predate boto3's
                # default trailing checksums (boto3 >= 1.36) keep working.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=32,
            ),
        )

    @property
    def client(self):
        return self._client

    def ensure_bucket(self, *, object_lock: bool = True) -> bool:
        """Create the bucket (with Object Lock where asked) unless it exists; True if created."""
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if _status(exc) not in (404, 403) and _code(exc) not in ("NoSuchBucket", "NotFound"):
                raise _translate(exc, f"bucket {self.bucket}") from None
        except Exception as exc:  # noqa: BLE001 - connection errors of every kind
            raise _translate(exc, f"bucket {self.bucket}") from None
        try:
            kwargs = {"ObjectLockEnabledForBucket": True} if object_lock else {}
            self._client.create_bucket(Bucket=self.bucket, **kwargs)
            return True
        except ClientError as exc:
            if _code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise _translate(exc, f"bucket {self.bucket}") from None

    def put_if_absent(self, key, body, *, size, sha256, content_type):
        if not self.put_new(key, body, size=size, sha256=sha256, content_type=content_type):
            return None
        stored = self.head(key)
        if stored is None:
            raise StoreUnavailable(f"{key} was written but cannot be read back",
                                   reason="store_inconsistent")
        return stored

    def put_new(self, key, body, *, size, sha256, content_type):
        from botocore.exceptions import ClientError

        try:
            if size > self.settings.multipart_threshold:
                self._put_multipart(key, body, size=size, sha256=sha256, content_type=content_type)
            else:
                body.seek(0)
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentLength=size,
                    ChecksumSHA256=_b64(sha256), IfNoneMatch="*", ContentType=content_type,
                    Metadata={"sha256": sha256}, **self.settings.retention())
        except ClientError as exc:
            if _status(exc) in (412, 409) or _code(exc) in ("PreconditionFailed",
                                                            "ConditionalRequestConflict"):
                return False
            raise _translate(exc, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from None
        return True

    def _put_multipart(self, key, body, *, size, sha256, content_type) -> None:
        if self.head(key) is not None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "PreconditionFailed"},
                               "ResponseMetadata": {"HTTPStatusCode": 412}}, "PutObject")
        upload = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", ContentType=content_type,
            Metadata={"sha256": sha256}, **self.settings.retention())
        upload_id = upload["UploadId"]
        parts = []
        whole = hashlib.sha256()
        try:
            body.seek(0)
            number = 1
            while True:
                chunk = body.read(self.settings.part_size)
                if not chunk:
                    break
                whole.update(chunk)
                digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
                part = self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                    Body=chunk, ChecksumSHA256=digest)
                parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": digest})
                number += 1
            if whole.hexdigest() != sha256:
                raise StoreRefused(f"{key}: the spooled bytes changed during upload",
                                   reason="store_checksum")
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, IfNoneMatch="*")
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
            raise

    def put_state(self, key, data: bytes, *, content_type="application/json") -> None:
        """Overwrite ``key``: for mutable state (liveness), never for evidence."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                    ChecksumSHA256=_b64(hashlib.sha256(data).hexdigest()),
                                    ContentType=content_type)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from None

    def versions(self, key) -> list[dict]:
        """Every version of ``key``, newest first: version_id, last_modified, size,
        latest, delete_marker. Empty where the bucket keeps no versions."""
        try:
            r = self._client.list_object_versions(Bucket=self.bucket, Prefix=key)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from None
        found = [{"version_id": v.get("VersionId"), "size": v.get("Size"),
                  "last_modified": v["LastModified"].astimezone(timezone.utc),
                  "latest": v.get("IsLatest", False), "delete_marker": False}
                 for v in r.get("Versions", []) if v["Key"] == key]
        found += [{"version_id": v.get("VersionId"), "size": 0,
                   "last_modified": v["LastModified"].astimezone(timezone.utc),
                   "latest": v.get("IsLatest", False), "delete_marker": True}
                  for v in r.get("DeleteMarkers", []) if v["Key"] == key]
        return sorted(found, key=lambda v: v["last_modified"], reverse=True)

    def head(self, key):
        from botocore.exceptions import ClientError

        try:
            r = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise _translate(exc, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from None
        return StoredObject(key, r["ContentLength"], r["LastModified"].astimezone(timezone.utc),
                            r.get("Metadata", {}).get("sha256"), r.get("VersionId"))

    def get_bytes(self, key):
        return self.open(key).read()

    def open(self, key, byte_range=None):
        from botocore.exceptions import ClientError

        extra = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "NotFound") or _status(exc) == 404:
                raise KeyError(key) from None
            raise _translate(exc, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from None

    def list_keys(self, prefix):
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"]
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, prefix) from None


def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _status(exc) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def _translate(exc: Exception, what: str) -> Exception:
    """Map a boto3/botocore exception onto the capture error tree."""
    from botocore.exceptions import ClientError

    if isinstance(exc, (StoreUnavailable, StoreRefused)):
        return exc
    if isinstance(exc, ClientError):
        code, status = _code(exc), _status(exc)
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable",
                                     "NoSuchBucket", "InvalidAccessKeyId",
                                     "SignatureDoesNotMatch", "AccessDenied", "BadDigest",
                                     "XAmzContentChecksumMismatch"):
            return StoreUnavailable(f"S3 {code or status} on {what}", reason="store_unavailable")
        return StoreRefused(f"S3 refused {what}: {code or status}", reason="store_refused")
    return StoreUnavailable(f"S3 not reachable for {what}: {exc}", reason="store_unavailable")


@dataclass
class _MemoryObject:
    data: bytes
    last_modified: datetime
    sha256: str


@dataclass
class MemoryStore:
    """In-package fake ``ObjectStore`` for unit tests of one module. Not for integration."""

    bucket: str = "memory"
    objects: dict[str, _MemoryObject] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put_if_absent(self, key, body, *, size, sha256, content_type):
        if not self.put_new(key, body, size=size, sha256=sha256, content_type=content_type):
            return None
        return self.head(key)

    def put_new(self, key, body, *, size, sha256, content_type):
        body.seek(0)
        data = body.read()
        if hashlib.sha256(data).hexdigest() != sha256 or len(data) != size:
            raise StoreRefused(f"checksum mismatch for {key}", reason="store_checksum")
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = _MemoryObject(data, utc_now(), sha256)
        return True

    def put_state(self, key, data: bytes, *, content_type="application/json") -> None:
        self.objects[key] = _MemoryObject(data, utc_now(), hashlib.sha256(data).hexdigest())

    def versions(self, key) -> list[dict]:
        return []

    def head(self, key):
        item = self.objects.get(key)
        if item is None:
            return None
        return StoredObject(key, len(item.data), item.last_modified, item.sha256)

    def get_bytes(self, key):
        return self.objects[key].data

    def open(self, key, byte_range=None):
        import io

        data = self.objects[key].data
        if byte_range:
            data = data[byte_range[0]:byte_range[1] + 1]
        return io.BytesIO(data)

    def list_keys(self, prefix):
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))
