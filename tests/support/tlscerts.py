"""A test PKI made on the spot: root CA → intermediate CA → server certificate.

``make_pki(directory, names)`` writes ``ca.pem`` (the root, for the fetcher to
trust), ``chain.pem`` (server certificate + intermediate, what the server
sends) and ``key.pem``, and returns the DER of each certificate so tests can
compare fingerprints with what a capture recorded.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TestPKI:
    __test__ = False

    ca_file: Path
    chain_file: Path
    key_file: Path
    root: bytes
    intermediate: bytes
    leaf: bytes

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.chain_file, self.key_file)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "warcflow tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _cert(subject, issuer, key, signer, *, ca: bool, sans=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_pki(
    directory: Path,
    names: tuple[str, ...] = ("localhost",),
    addresses: tuple[str, ...] = ("127.0.0.1",),
) -> TestPKI:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(
        _name("warcflow test root CA"), _name("warcflow test root CA"), root_key, root_key, ca=True
    )
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _cert(_name("warcflow test intermediate CA"), root.subject, mid_key, root_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
    ]
    leaf = _cert(_name(names[0]), mid.subject, leaf_key, mid_key, ca=False, sans=sans)
    pem = serialization.Encoding.PEM
    ca_file, chain_file, key_file = (
        directory / "ca.pem",
        directory / "chain.pem",
        directory / "key.pem",
    )
    ca_file.write_bytes(root.public_bytes(pem))
    chain_file.write_bytes(leaf.public_bytes(pem) + mid.public_bytes(pem))
    key_file.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = serialization.Encoding.DER
    return TestPKI(
        ca_file,
        chain_file,
        key_file,
        root.public_bytes(der),
        mid.public_bytes(der),
        leaf.public_bytes(der),
    )
