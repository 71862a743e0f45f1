"""Signed tree heads: the ledger's Merkle root at a size and time, signed with Ed25519.

A head says "these ``size`` leaves have this ``root``, as of ``timestamp``",
signed by the ledger's key, named by ``key_id`` (the first 16 bytes of the
SHA-256 of the raw public key, hex). The signed bytes are the head's fields as
canonical JSON (sorted keys, no spaces, UTF-8), so anyone can re-create and
check them with standard tools: docs/formats.md shows how.

The private key lives in a PEM file readable by its owner only (0600); it is
made on first use. Losing it loses nothing already signed: old heads still
verify with the published public key; a new key signs from then on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from archivers.clock import iso
from archivers.custody.keyfile import private_key

SCHEMA = "warcflow.TreeHead"


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: str  # hex SHA-256
    timestamp: str  # UTC, ISO 8601
    key_id: str
    signature: str = ""  # base64 Ed25519 over signing_input()

    def signing_input(self) -> bytes:
        doc = {
            "schema": SCHEMA,
            "size": self.size,
            "root": self.root,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_json(self) -> bytes:
        return json.dumps({"schema": SCHEMA, **asdict(self)}, sort_keys=True, indent=1).encode(
            "utf-8"
        )

    @classmethod
    def from_json(cls, data: bytes) -> TreeHead:
        try:
            doc = json.loads(data)
            if doc.get("schema") != SCHEMA:
                raise ValueError("not a warcflow tree head")
            return cls(
                int(doc["size"]),
                str(doc["root"]),
                str(doc["timestamp"]),
                str(doc["key_id"]),
                str(doc["signature"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a readable tree head: {exc}") from None


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class HeadSigner:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    @classmethod
    def from_file(cls, path: Path) -> HeadSigner:
        """The key in ``path`` (PEM), made there (mode 0600) if there is none."""
        return cls(private_key(path, Ed25519PrivateKey.generate, Ed25519PrivateKey, "Ed25519"))

    def sign(self, size: int, root: bytes, at: datetime) -> TreeHead:
        head = TreeHead(size, root.hex(), iso(at), self.key_id)
        signature = self._private.sign(head.signing_input())
        return TreeHead(
            head.size,
            head.root,
            head.timestamp,
            head.key_id,
            base64.b64encode(signature).decode("ascii"),
        )


def verify_head(head: TreeHead, public_key_pem: bytes) -> bool:
    """Is ``head`` signed by the key in ``public_key_pem``, and named after it?"""
    public = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(public, Ed25519PublicKey) or key_id(public) != head.key_id:
        return False
    try:
        public.verify(base64.b64decode(head.signature), head.signing_input())
    except (InvalidSignature, ValueError):
        return False
    return True
