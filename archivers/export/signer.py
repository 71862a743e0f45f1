"""The export key: an ECDSA P-256 key that signs exported WACZ packages.

WACZ Signing and Verification (webrecorder specs, "anonymous signature"):
``datapackage-digest.json`` holds ``{"path": "datapackage.json", "hash":
"sha256:<hex>", "signedData": {...}}`` where ``signedData`` is

    {"hash": "sha256:<hex>", "created": <ISO 8601 UTC>, "software": ..., "version": ...,
     "signature": <base64 ECDSA P-256 signature, raw r||s (64 bytes), over
                   SHA-256 of the UTF-8 text of "hash">,
     "publicKey": <base64 DER SubjectPublicKeyInfo>}

as ArchiveWeb.page writes and py-wacz / wacz-signing verify it. The key's
fingerprint is the SHA-256 (hex) of that DER public key, so a user can compare
it with the one the archive publishes.

The private key lives in a PEM file readable by its owner only (0600), made on
first use, like the ledger's head-signing key (archivers.treehead).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from archivers.custody.keyfile import private_key

CURVE_BYTES = 32


def public_der(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public_key_der: bytes) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo: what a user compares."""
    return hashlib.sha256(public_key_der).hexdigest()


class ExportSigner:
    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private.curve, ec.SECP256R1):
            raise ValueError("the export key must be ECDSA P-256")
        self._private = private
        self.public_der = public_der(private.public_key())
        self.fingerprint = fingerprint(self.public_der)

    @classmethod
    def from_file(cls, path: Path) -> ExportSigner:
        """The key in ``path`` (PEM), made there (mode 0600) if there is none."""
        return cls(
            private_key(
                path,
                lambda: ec.generate_private_key(ec.SECP256R1()),
                ec.EllipticCurvePrivateKey,
                "ECDSA",
            )
        )

    def signed_data(
        self, hash_text: str, created: str, software: str, version: str
    ) -> dict[str, Any]:
        """The anonymous ``signedData`` over ``hash_text`` (``sha256:<hex>``)."""
        der = self._private.sign(hash_text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(CURVE_BYTES, "big") + s.to_bytes(CURVE_BYTES, "big")
        return {
            "hash": hash_text,
            "created": created,
            "software": software,
            "version": version,
            "signature": base64.b64encode(raw).decode("ascii"),
            "publicKey": base64.b64encode(self.public_der).decode("ascii"),
        }


def verify_signed_data(signed: dict[str, Any]) -> bool:
    """Does ``signature`` sign ``hash`` with ``publicKey`` (ECDSA P-256, raw r||s)?"""
    try:
        public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
        raw = base64.b64decode(signed["signature"])
        if not isinstance(public, ec.EllipticCurvePublicKey) or len(raw) != 2 * CURVE_BYTES:
            return False
        der = encode_dss_signature(
            int.from_bytes(raw[:CURVE_BYTES], "big"), int.from_bytes(raw[CURVE_BYTES:], "big")
        )
        public.verify(der, str(signed["hash"]).encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True
