"""What each S3 credential may do in the bucket: least privilege, as policy documents.

Three credentials besides the server's root (which ``warcflow up`` and
``warcflow provision`` use to make the bucket and these rules):

    worker    read the whole bucket; write (PutObject, multipart) under the
              prefixes it writes (``layout.WRITTEN_PREFIXES``) and nowhere else
    viewer    read-only: get, head, attributes, list (the viewer and its replay)
    operator  read-only, like the viewer (the CLI: captures, get, audit, fixity, export)

Every role is denied deleting objects or versions, bypassing governance
retention, setting retention or legal holds, and changing the bucket's
policy, versioning, lock configuration or ACLs. No role may set retention
(``s3:PutObjectRetention``): on versitygw anyone who may can shorten any
retention, COMPLIANCE included (an upstream bug), so objects are locked by
the bucket's default retention rule, set by the root at provisioning, and
the worker sends no lock headers (docs/decisions/0011-trust-boundaries.md).

Two forms, one rule: ``bucket_policy`` (a bucket policy naming each role's
access key, as versitygw evaluates it: principals are bare access keys, and
``Condition`` blocks are ignored, so none is used) and ``identity_policy``
(one role's policy to attach to a MinIO or AWS IAM user; no principal).
``python -m archivers.store.policy ROLE BUCKET`` prints the latter
(deploy/minio/*.json are made with it and checked against it by a test).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from archivers.store.layout import WRITTEN_PREFIXES

ROLES = ("worker", "viewer", "operator")

READ = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
)
WRITE = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
LIST = (
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
)
DENIED = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
)


def _statements(role: str, bucket: str) -> list[dict[str, Any]]:
    if role not in ROLES:
        raise ValueError(f"{role!r} is not an S3 role ({', '.join(ROLES)})")
    objects = f"arn:aws:s3:::{bucket}/*"
    name = role.capitalize()  # a Sid is letters and digits only (AWS, MinIO)
    out: list[dict[str, Any]] = [
        {"Sid": f"{name}Reads", "Effect": "Allow", "Action": list(READ), "Resource": [objects]},
        {
            "Sid": f"{name}Lists",
            "Effect": "Allow",
            "Action": list(LIST),
            "Resource": [f"arn:aws:s3:::{bucket}"],
        },
    ]
    if role == "worker":
        out.append(
            {
                "Sid": "WorkerWritesItsPrefixes",
                "Effect": "Allow",
                "Action": list(WRITE),
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in WRITTEN_PREFIXES],
            }
        )
    out.append(
        {
            "Sid": f"{name}NeverDestroys",
            "Effect": "Deny",
            "Action": list(DENIED),
            "Resource": [f"arn:aws:s3:::{bucket}", objects],
        }
    )
    return out


def identity_policy(role: str, bucket: str) -> dict[str, Any]:
    """The policy of one role, for an IAM user (MinIO ``mc admin policy create``, AWS)."""
    return {"Version": "2012-10-17", "Statement": _statements(role, bucket)}


def bucket_policy(bucket: str, access_keys: Mapping[str, str]) -> dict[str, Any]:
    """The bucket policy granting each role (``role → access key``) its rights;
    roles not named get nothing (versitygw: default deny)."""
    statements = []
    for role, access_key in access_keys.items():
        for statement in _statements(role, bucket):
            statements.append({**statement, "Principal": {"AWS": [access_key]}})
    return {"Version": "2012-10-17", "Statement": statements}


if __name__ == "__main__":
    print(json.dumps(identity_policy(sys.argv[1], sys.argv[2]), indent=1))
