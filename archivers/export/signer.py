"""Signing an export package as the WACZ Signing and Verification spec says, and as
ReplayWeb.page (wabac.js) checks it.

``datapackage-digest.json`` holds ``{"path": "datapackage.json", "hash":
"sha256:<hex of datapackage.json's bytes>", "signedData": {...}}``. What is
signed is the UTF-8 text of that ``hash`` string (``sha256:3dd0…``, 71 bytes),
with ECDSA and SHA-256; the signature is base64 of the raw ``r‖s`` pair (IEEE
P1363: 96 bytes for P-384, 64 for P-256), which is what WebCrypto verifies. A DER
signature would verify ``false`` in the player. Two modes (docs/formats.md,
"Package signature"; docs/decisions/0010-wacz-signing.md):

- **anonymous** (``ExportSigner``, the default): an ECDSA **P-384** key of the
  archive's own; ``signedData`` = ``hash, created, software, version,
  signature, publicKey`` (base64 DER SubjectPublicKeyInfo). wabac.js imports the
  key as P-384 and no other curve. The key's fingerprint is the SHA-256 (hex) of
  that DER, which the archive publishes so users can compare. The private key is
  a PEM file readable by its owner only (0600), made on first use.
- **domain** (``DomainSigner``): an operator's TLS certificate chain and its
  key; ``signedData`` = ``hash, created, software, version, signature, domain,
  domainCert`` (the PEM chain, leaf first, blocks separated by a blank line:
  wabac.js takes the part before the first one as the leaf), and no
  ``publicKey`` (with one, wabac.js takes the anonymous path).

Either way, ``time_stamped`` adds an RFC 3161 time-stamp over the signature from
the first configured TSA that answers: ``timeSignature`` = base64 of the DER
TimeStampResp whose message imprint is SHA-256 of the ASCII of the
``signature`` string, ``timestampCert`` = the certificates that token verifies
with (the TSA's, then its CA), PEM. The domain mode requires it (the spec's
"Domain-Ownership Identity + Signed Timestamp"); for the anonymous mode it is
where the open proposal webrecorder/specs#142 puts it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from archivers.clock import parse_iso
from archivers.custody.keyfile import private_key
from archivers.custody.ledger import Stamper
from archivers.custody.rfc3161 import TokenInvalid, token_certificates, verify_token

ANONYMOUS_CURVE = ec.SECP384R1
CURVES: dict[str, int] = {"secp384r1": 48, "secp256r1": 32, "secp521r1": 66}
"""Curves whose raw signatures we read, and their coordinate size in bytes."""
TIME_WINDOW = timedelta(minutes=10)
"""How far the TSA's time may be from ``created`` (the spec's verification step 6)."""
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def public_der(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(der: bytes) -> str:
    """SHA-256 hex of a DER structure (a public key, a certificate): what a user compares."""
    return hashlib.sha256(der).hexdigest()


def _raw_signature(key: ec.EllipticCurvePrivateKey, text: str) -> str:
    r, s = decode_dss_signature(key.sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA256())))
    size = CURVES[key.curve.name]
    return base64.b64encode(r.to_bytes(size, "big") + s.to_bytes(size, "big")).decode("ascii")


def pem_chain(data: bytes) -> list[bytes]:
    """The PEM certificate blocks in ``data``, in order."""
    return PEM_BLOCK.findall(data)


def _joined(blocks: list[bytes]) -> str:
    return "\n\n".join(b.decode("ascii").strip() for b in blocks) + "\n"


class ExportSigner:
    """The anonymous mode: the archive's own ECDSA P-384 key."""

    mode = "anonymous"

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private.curve, ANONYMOUS_CURVE):
            raise ValueError(
                f"the export key is ECDSA {private.curve.name}; ReplayWeb.page checks "
                "anonymous WACZ signatures only with P-384 (secp384r1) keys"
            )
        self._private = private
        self.public_der = public_der(private.public_key())
        self.fingerprint = fingerprint(self.public_der)

    @classmethod
    def from_file(cls, path: Path) -> ExportSigner:
        """The key in ``path`` (PEM), made there (mode 0600) if there is none."""
        return cls(
            private_key(
                path,
                lambda: ec.generate_private_key(ANONYMOUS_CURVE()),
                ec.EllipticCurvePrivateKey,
                "ECDSA",
            )
        )

    def signed_data(
        self, hash_text: str, created: str, software: str, version: str
    ) -> dict[str, Any]:
        """The anonymous ``signedData`` over ``hash_text`` (``sha256:<hex>``)."""
        return {
            "hash": hash_text,
            "created": created,
            "software": software,
            "version": version,
            "signature": _raw_signature(self._private, hash_text),
            "publicKey": base64.b64encode(self.public_der).decode("ascii"),
        }


class DomainSigner:
    """The domain mode: an operator's certificate (chain, leaf first) and its private key."""

    mode = "domain"

    def __init__(self, chain_pem: bytes, private: ec.EllipticCurvePrivateKey) -> None:
        blocks = pem_chain(chain_pem)
        if not blocks:
            raise ValueError("the domain certificate file holds no PEM certificate")
        leaf = x509.load_pem_x509_certificate(blocks[0])
        public = leaf.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in CURVES:
            raise ValueError(
                "the domain certificate's key must be ECDSA P-256, P-384 or P-521 "
                "(what WebCrypto verifies)"
            )
        if public_der(public) != public_der(private.public_key()):
            raise ValueError("the private key is not the domain certificate's")
        self._private = private
        self.chain = blocks
        self.domain = certificate_domain(leaf)
        self.fingerprint = fingerprint(leaf.public_bytes(serialization.Encoding.DER))

    @classmethod
    def from_files(cls, chain: Path, key: Path) -> DomainSigner:
        loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key} is not an ECDSA private key")
        return cls(chain.read_bytes(), loaded)

    def signed_data(
        self, hash_text: str, created: str, software: str, version: str
    ) -> dict[str, Any]:
        return {
            "hash": hash_text,
            "created": created,
            "software": software,
            "version": version,
            "signature": _raw_signature(self._private, hash_text),
            "domain": self.domain,
            "domainCert": _joined(self.chain),
        }


def certificate_domain(cert: x509.Certificate) -> str:
    """The certificate's subject common name (what wabac.js compares ``domain`` with)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError("the domain certificate has no subject common name")
    return str(names[0].value)


def signature_digest(signed: dict[str, Any]) -> str:
    """SHA-256 hex of the ASCII ``signature`` string: the time-stamp's message imprint."""
    return hashlib.sha256(str(signed.get("signature", "")).encode("ascii")).hexdigest()


def time_stamped(
    signed: dict[str, Any], stampers: list[Stamper]
) -> tuple[dict[str, Any], str | None, list[str]]:
    """``signed`` with ``timeSignature``/``timestampCert`` from the first TSA of
    ``stampers`` whose token verifies; (signedData, that TSA's name or None, the
    other TSAs' problems)."""
    digest = signature_digest(signed)
    problems = []
    for stamper in stampers:
        try:
            token = stamper.stamp(digest)
            ca = stamper.ca_pem()
            verify_token(digest, token, ca)
            chain = pem_chain(token_certificates(token)) + pem_chain(ca)
        except Exception as exc:  # noqa: BLE001 - one TSA down must not stop the others
            problems.append(f"{stamper.name}: {exc}")
            continue
        unique = list(dict.fromkeys(chain))
        stamped = {
            **signed,
            "timeSignature": base64.b64encode(token).decode("ascii"),
            "timestampCert": _joined(unique),
        }
        return stamped, stamper.name, problems
    return signed, None, problems


@dataclass
class SignatureCheck:
    """What ``check_signed_data`` found: whether it holds, and what to show."""

    mode: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    key_fingerprint: str | None = None  # of the public key (anonymous) or the certificate
    stamped: datetime | None = None


def _verify_raw(public: ec.EllipticCurvePublicKey, signature_b64: str, text: str) -> bool:
    size = CURVES.get(public.curve.name)
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return False
    if size is None or len(raw) != 2 * size:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
    try:
        public.verify(der, text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def check_signed_data(signed: dict[str, Any], tsa_cas: list[bytes] | None = None) -> SignatureCheck:
    """Check ``signedData`` as the player does, and the parts it does not: the
    signature over ``hash`` with the included key or certificate, the curve the
    player needs, the domain against the certificate, and a ``timeSignature``
    (against the pinned ``tsa_cas``, else the included ``timestampCert``) over
    the signature, within ten minutes of ``created``. Whether the key, the
    certificate chain and the TSA are to be trusted is for the reader to decide
    with the fingerprints (nothing here is pinned beyond ``tsa_cas``)."""
    mode = "domain" if signed.get("domainCert") and not signed.get("publicKey") else "anonymous"
    check = SignatureCheck(mode, False)
    text = str(signed.get("hash", ""))
    public: ec.EllipticCurvePublicKey | None = None
    try:
        if mode == "anonymous":
            der = base64.b64decode(str(signed.get("publicKey", "")), validate=True)
            loaded = serialization.load_der_public_key(der)
            check.key_fingerprint = fingerprint(der)
            if isinstance(loaded, ec.EllipticCurvePublicKey):
                public = loaded
                if not isinstance(public.curve, ANONYMOUS_CURVE):
                    check.facts.append(
                        f"the key is {public.curve.name}: ReplayWeb.page imports anonymous "
                        "keys only as P-384 and will count this signature invalid "
                        "(a package from an older warcflow: export it again)"
                    )
        else:
            blocks = pem_chain(str(signed["domainCert"]).encode("ascii"))
            leaf = x509.load_pem_x509_certificate(blocks[0])
            check.key_fingerprint = fingerprint(leaf.public_bytes(serialization.Encoding.DER))
            key = leaf.public_key()
            if isinstance(key, ec.EllipticCurvePublicKey):
                public = key
            subject = certificate_domain(leaf)
            if subject != signed.get("domain"):
                check.problems.append(
                    f"domain is {signed.get('domain')!r}, the certificate is for {subject!r}"
                )
            check.facts.append(
                f"domain {subject}, certificate SHA-256 {check.key_fingerprint}, "
                f"chain of {len(blocks)} (valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
                f"{leaf.not_valid_after_utc:%Y-%m-%d})"
            )
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        check.problems.append(f"the {mode} signature's key cannot be read ({exc})")
    if public is None:
        check.problems.append("no ECDSA public key to check the signature with")
    elif not _verify_raw(public, str(signed.get("signature", "")), text):
        check.problems.append(
            "the signature does not verify over the hash (ECDSA SHA-256, raw r||s, base64)"
        )
    _check_time_signature(check, signed, tsa_cas or [])
    if mode == "domain" and check.stamped is None and not signed.get("timeSignature"):
        check.problems.append("a domain signature needs its timeSignature (RFC 3161)")
    check.ok = not check.problems
    return check


def _check_time_signature(check: SignatureCheck, signed: dict[str, Any], pinned: list[bytes]):
    token_text = signed.get("timeSignature")
    if not token_text:
        check.facts.append("no RFC 3161 time-stamp over the signature")
        return
    try:
        token = base64.b64decode(str(token_text), validate=True)
    except (ValueError, TypeError):
        check.problems.append("timeSignature is not base64")
        return
    included = "".join(
        b.decode("ascii") + "\n" for b in pem_chain(str(signed.get("timestampCert", "")).encode())
    ).encode()
    cas = [(ca, "pinned CA (--tsa-ca)") for ca in pinned] or [(included, "timestampCert included")]
    reasons = []
    for ca, where in cas:
        try:
            stamped = verify_token(signature_digest(signed), token, ca)
        except TokenInvalid as exc:
            reasons.append(str(exc))
            continue
        check.stamped = stamped
        try:
            created = parse_iso(str(signed.get("created", "")))
        except ValueError:
            check.problems.append(f"created {signed.get('created')!r} is not an ISO 8601 time")
            return
        if abs(stamped - created) > TIME_WINDOW:
            check.problems.append(
                f"the time-stamp says {stamped:%Y-%m-%dT%H:%M:%SZ}, more than "
                f"{TIME_WINDOW.seconds // 60} minutes from created {signed.get('created')}"
            )
        check.facts.append(
            f"time-stamped {stamped:%Y-%m-%dT%H:%M:%SZ} over the signature ({where})"
        )
        return
    check.problems.append("the timeSignature does not verify: " + "; ".join(reasons))
