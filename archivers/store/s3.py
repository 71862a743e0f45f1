"""``ObjectStore`` on any S3-compatible server via boto3 (``archivers.store.base``).

Objects larger than ``multipart_threshold`` go up in parts read from the spool
one at a time, so memory stays bounded by the part size. ``client`` is the one
boto3 client factory: the viewer's replay process uses it too.

Digests are the server's: ``head`` asks for the object's checksum
(``ChecksumMode=ENABLED``, the ``x-amz-checksum-sha256`` the server verified
on the way in), never the ``sha256`` metadata a writer sets. A multipart
object has only a checksum of its parts' checksums (``…-N``, COMPOSITE), so
its ``sha256`` is None. Reads and heads may name a version.

Object Lock: the bucket's default retention rule (``ensure_retention``, by
the root at provisioning) locks each new version; puts carry no lock headers,
so the writer's credential needs no right to set retention.

Errors map onto the capture error tree (``_translate``):

- an outage — unreachable server, timeouts, 5xx, throttling — is
  ``StoreUnavailable``: waited out for as long as it lasts;
- misconfiguration — no such bucket, an unknown access key, a wrong secret,
  access denied, the wrong region — is ``StoreMisconfigured``, naming the
  setting to fix: retried a few times (a key being rotated, a bucket being
  made), then given up (the dead-letter topic, from where ``warcflow dlq
  replay`` resubmits once it is fixed);
- a checksum the server computed differently (``BadDigest``) is ``Retryable``
  (``store_bad_digest``): bytes damaged on the way are worth another try,
  a few times, not forever;
- any other refusal is ``StoreRefused``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC

from archivers.errors import (
    CaptureError,
    Retryable,
    StoreMisconfigured,
    StoreRefused,
    StoreUnavailable,
)
from archivers.store.base import StoredObject, StoreSettings, b64_digest


def client(settings: StoreSettings, *, max_pool_connections: int = 32):
    """A boto3 S3 client for ``settings``: path-style addressing, checksums only
    where required (S3-compatible servers that predate boto3's default trailing
    checksums keep working), bounded retries and timeouts."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint or None,
        aws_access_key_id=settings.access_key or None,
        aws_secret_access_key=settings.secret_key or None,
        region_name=settings.region,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=max_pool_connections,
        ),
    )


class S3Store:
    """``ObjectStore`` on any S3-compatible server via boto3."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._client = client(settings)

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
                raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        except Exception as exc:  # noqa: BLE001 - connection errors of every kind
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        try:
            kwargs = {"ObjectLockEnabledForBucket": True} if object_lock else {}
            self._client.create_bucket(Bucket=self.bucket, **kwargs)
            return True
        except ClientError as exc:
            if _code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None

    def ensure_retention(self) -> bool:
        """Give the bucket the default retention rule of the settings unless it has
        it (root; True if set now). Each new version is then locked by the server
        for ``lock_days`` from its creation (versitygw counts from when the rule
        was set: docs/operations.md, "Roles"). No lock mode: the bucket is left
        as it is (a rule is never removed here)."""
        from botocore.exceptions import ClientError

        rule = self.settings.default_retention()
        if rule is None:
            return False
        try:
            current = self._client.get_object_lock_configuration(Bucket=self.bucket)
            if current.get("ObjectLockConfiguration", {}).get("Rule") == rule:
                return False
        except ClientError as exc:
            if _code(exc) not in ("ObjectLockConfigurationNotFoundError",):
                raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        try:
            self._client.put_object_lock_configuration(
                Bucket=self.bucket,
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        return True

    def retention_rule(self) -> dict | None:
        """The bucket's default retention rule as the server states it, or None."""
        from botocore.exceptions import ClientError

        try:
            current = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) == "ObjectLockConfigurationNotFoundError":
                return None
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, f"bucket {self.bucket}") from None
        return current.get("ObjectLockConfiguration", {}).get("Rule")

    def put_bucket_policy(self, policy: dict) -> None:
        """Replace the bucket's policy (root; ``archivers.store.policy.bucket_policy``)."""
        import json

        try:
            self._client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, f"the policy of bucket {self.bucket}") from None

    def put_if_absent(self, key, body, *, size, sha256, content_type):
        if not self.put_new(key, body, size=size, sha256=sha256, content_type=content_type):
            return None
        stored = self.head(key)
        if stored is None:
            raise StoreUnavailable(
                f"{key} was written but cannot be read back", reason="store_inconsistent"
            )
        return stored

    def put_new(self, key, body, *, size, sha256, content_type):
        from botocore.exceptions import ClientError

        try:
            if size > self.settings.multipart_threshold:
                self._put_multipart(key, body, size=size, sha256=sha256, content_type=content_type)
            else:
                body.seek(0)
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentLength=size,
                    ChecksumSHA256=b64_digest(sha256),
                    IfNoneMatch="*",
                    ContentType=content_type,
                    Metadata={"sha256": sha256},
                )
        except ClientError as exc:
            if _status(exc) in (412, 409) or _code(exc) in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise _translate(exc, self.settings, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, key) from None
        return True

    def _put_multipart(self, key, body, *, size, sha256, content_type) -> None:
        if self.head(key) is not None:
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "PreconditionFailed"},
                    "ResponseMetadata": {"HTTPStatusCode": 412},
                },
                "PutObject",
            )
        upload = self._client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ChecksumAlgorithm="SHA256",
            ContentType=content_type,
            Metadata={"sha256": sha256},
        )
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
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumSHA256=digest,
                )
                parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": digest})
                number += 1
                del chunk  # freed before the next part is read: one part in memory, not two
            if whole.hexdigest() != sha256:
                raise StoreRefused(
                    f"{key}: the spooled bytes changed during upload", reason="store_checksum"
                )
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001, S110 - the original error matters more
                pass
            raise

    def put_state(self, key, data: bytes, *, content_type="application/json") -> None:
        """Overwrite ``key``: for mutable state (liveness), never for evidence."""
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ChecksumSHA256=b64_digest(hashlib.sha256(data).hexdigest()),
                ContentType=content_type,
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, key) from None

    def versions(self, key) -> list[dict]:
        """Every version of ``key``, newest first: version_id, last_modified, size,
        latest, delete_marker. Empty where the bucket keeps no versions."""
        try:
            r = self._client.list_object_versions(Bucket=self.bucket, Prefix=key)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, key) from None
        found = [
            {
                "version_id": v.get("VersionId"),
                "size": v.get("Size"),
                "last_modified": v["LastModified"].astimezone(UTC),
                "latest": v.get("IsLatest", False),
                "delete_marker": False,
            }
            for v in r.get("Versions", [])
            if v["Key"] == key
        ]
        found += [
            {
                "version_id": v.get("VersionId"),
                "size": 0,
                "last_modified": v["LastModified"].astimezone(UTC),
                "latest": v.get("IsLatest", False),
                "delete_marker": True,
            }
            for v in r.get("DeleteMarkers", [])
            if v["Key"] == key
        ]
        return sorted(found, key=lambda v: v["last_modified"], reverse=True)

    def head(self, key, version_id=None):
        from botocore.exceptions import ClientError

        extra = {"VersionId": version_id} if version_id else {}
        try:
            r = self._client.head_object(
                Bucket=self.bucket, Key=key, ChecksumMode="ENABLED", **extra
            )
        except ClientError as exc:
            if _status(exc) == 404 or (version_id and _status(exc) == 400):
                return None  # 400: versitygw's answer to a version id it does not hold
            raise _translate(exc, self.settings, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, key) from None
        return StoredObject(
            key,
            r["ContentLength"],
            r["LastModified"].astimezone(UTC),
            server_sha256(r),
            r.get("VersionId"),
        )

    def get_bytes(self, key, version_id=None):
        return self.open(key, version_id=version_id).read()

    def open(self, key, byte_range=None, version_id=None):
        from botocore.exceptions import ClientError

        extra = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        if version_id:
            extra["VersionId"] = version_id
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket" and (
                _code(exc) in ("NoSuchKey", "NotFound", "NoSuchVersion") or _status(exc) == 404
            ):
                raise KeyError(key) from None
            if version_id and _code(exc) == "InvalidArgument":
                raise KeyError(f"{key} version {version_id}") from None  # versitygw's answer
            raise _translate(exc, self.settings, key) from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, key) from None

    def list_keys(self, prefix):
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"]
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, self.settings, prefix) from None


def server_sha256(response: dict) -> str | None:
    """The whole object's SHA-256 (hex) from a HeadObject/GetObject answer with
    checksums enabled; None for a COMPOSITE checksum (``base64-N``: of the
    parts' checksums, not of the bytes) or none at all."""
    value = response.get("ChecksumSHA256")
    if not value or "-" in value or response.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return digest.hex() if len(digest) == 32 else None


def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _status(exc) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


OUTAGE_CODES = frozenset({"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"})
BAD_DIGEST_CODES = frozenset({"BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"})


def _misconfiguration(code: str, status: int, settings: StoreSettings) -> tuple[str, str] | None:
    """(what is wrong, the setting to fix) for an answer that means we are
    configured wrong; None for any other answer."""
    bucket, key = settings.bucket, settings.access_key
    if code in ("NoSuchBucket", "InvalidBucketName"):
        return f"there is no bucket {bucket!r} on the server", "WARCFLOW_S3_BUCKET"
    if code == "InvalidAccessKeyId":
        return f"the server does not know the access key {key!r}", "WARCFLOW_S3_ACCESS_KEY"
    if code == "SignatureDoesNotMatch":
        return (
            f"the secret key does not match the access key {key!r}",
            "WARCFLOW_S3_SECRET_KEY",
        )
    if code == "RequestTimeTooSkewed":
        return "this machine's clock is too far from the server's", "the system clock (NTP)"
    if code in ("AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        return f"the region {settings.region!r} is not the bucket's", "WARCFLOW_S3_REGION"
    if code in ("AccessDenied", "AllAccessDisabled", "InvalidSecurity") or status in (401, 403):
        return (
            f"access key {key!r} is not allowed to use bucket {bucket!r} "
            "(a bucket policy, or the wrong keys)",
            "WARCFLOW_S3_ACCESS_KEY",
        )
    return None


def _translate(exc: Exception, settings: StoreSettings, what: str) -> Exception:
    """Map a boto3/botocore exception onto the capture error tree (module docstring)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, CaptureError):
        return exc
    if isinstance(exc, ClientError):
        code, status = _code(exc), _status(exc)
        if status >= 500 or code in OUTAGE_CODES:
            return StoreUnavailable(f"S3 {code or status} on {what}", reason="store_unavailable")
        if code in BAD_DIGEST_CODES:
            return Retryable(
                f"S3 computed another checksum for {what} ({code}): damaged on the way?",
                reason="store_bad_digest",
            )
        wrong = _misconfiguration(code, status, settings)
        if wrong is not None:
            problem, setting = wrong
            return StoreMisconfigured(
                f"S3 at {settings.endpoint or 'AWS'}: {problem} ({code or status} on {what}); "
                f"check {setting}",
                setting=setting,
            )
        return StoreRefused(f"S3 refused {what}: {code or status}", reason="store_refused")
    return StoreUnavailable(f"S3 not reachable for {what}: {exc}", reason="store_unavailable")
