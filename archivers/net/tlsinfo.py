"""What a TLS connection showed: protocol, cipher, SNI and the certificate chain.

``TLSInfo.from_ssl_object`` is called by the fetcher on the connection that
carries the request, right after its handshake, so the chain recorded is the
one of the capture's own connection, never of a second connection made to
look at certificates.

The chain, best first:
- ``verified``: the chain OpenSSL built and verified, leaf first, ending at
  the trust anchor (``get_verified_chain``; private on ``_sslobj`` in Python
  3.10–3.12, public from 3.13);
- ``unverified``: the certificates as the server sent them (verification off,
  ``WARCFLOW_FETCH_VERIFY_TLS=false``);
- ``leaf``: only the server's certificate (``getpeercert(binary_form=True)``),
  when neither chain call exists.

Certificates are kept as DER bytes; ``document()`` is the JSON block of the
WARC ``metadata`` record (``urn:warcflow:tls:<url>``), ``summary()`` the
manifest's ``tls`` object (docs/formats.md).
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Any

TLS_SCHEMA = "warcflow.tls"


@dataclass(frozen=True)
class TLSInfo:
    version: str | None
    cipher: str | None
    cipher_bits: int | None
    sni: str | None
    chain: tuple[bytes, ...]
    """DER certificates, leaf first."""
    chain_source: str
    """``verified``, ``unverified``, ``leaf`` or ``none`` (see the module docstring)."""
    alpn: str | None = None

    @classmethod
    def from_ssl_object(cls, sslobj: Any, sni: str | None) -> TLSInfo:
        """Read an ``ssl.SSLObject`` / ``ssl.SSLSocket`` after its handshake."""
        cipher = sslobj.cipher() or (None, None, None)
        chain, source = _chain(sslobj)
        return cls(
            version=sslobj.version(),
            cipher=cipher[0],
            cipher_bits=cipher[2],
            sni=sni,
            chain=chain,
            chain_source=source,
            alpn=sslobj.selected_alpn_protocol(),
        )

    @property
    def chain_sha256(self) -> list[str]:
        return [hashlib.sha256(der).hexdigest() for der in self.chain]

    def summary(self) -> dict[str, Any]:
        """The manifest's ``tls`` object."""
        return {
            "version": self.version,
            "cipher": self.cipher,
            "sni": self.sni,
            "chain_source": self.chain_source,
            "chain_sha256": self.chain_sha256,
        }

    def document(self, url: str, ip: str, port: int) -> dict[str, Any]:
        """The JSON block of the WARC ``metadata`` record of this connection."""
        return {
            "schema": TLS_SCHEMA,
            "url": url,
            "ip": ip,
            "port": port,
            "version": self.version,
            "cipher": self.cipher,
            "cipher_bits": self.cipher_bits,
            "sni": self.sni,
            "alpn": self.alpn,
            "chain_source": self.chain_source,
            "certificates": [describe_certificate(der) for der in self.chain],
        }


def describe_certificate(der: bytes) -> dict[str, Any]:
    """PEM, subject, issuer, serial, validity (UTC) and SHA-256 fingerprint of a DER
    certificate. A certificate cryptography cannot parse keeps its PEM and digest."""
    from cryptography import x509

    out: dict[str, Any] = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "pem": ssl.DER_cert_to_PEM_cert(der),
    }
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        out["error"] = f"unparseable certificate: {exc}"
        return out
    out.update(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return out


def _chain(sslobj: Any) -> tuple[tuple[bytes, ...], str]:
    calls = [("get_verified_chain", "verified"), ("get_unverified_chain", "unverified")]
    context = getattr(sslobj, "context", None)
    if context is None or context.verify_mode == ssl.CERT_NONE:
        # OpenSSL still builds a "verified" chain when told not to verify;
        # it proves nothing then, so only what the server sent is recorded
        calls = calls[1:]
    for name, source in calls:
        method = getattr(sslobj, name, None)  # public from Python 3.13
        if method is None:
            method = getattr(getattr(sslobj, "_sslobj", None), name, None)
        if method is None:
            continue
        try:
            certs = method()
        except (ssl.SSLError, ValueError):
            continue
        if certs:
            return tuple(_der(cert) for cert in certs), source
    leaf = sslobj.getpeercert(binary_form=True)
    return ((leaf,), "leaf") if leaf else ((), "none")


def _der(cert: Any) -> bytes:
    if isinstance(cert, (bytes, bytearray)):
        return bytes(cert)
    return cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
