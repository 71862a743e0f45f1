"""The trust file: what a reader pins to check the ledger's proofs.

``warcflow ledger key --json`` prints it from the operator's own configuration
(the head-signing key file and the configured TSAs' CA certificates, never
from the bucket); the operator publishes it at a well-known location (e.g.
``https://<archive>/.well-known/warcflow-trust.json``) so a third party can
fetch it by a path other than the package, and compare fingerprints:

    {"schema": "warcflow.Trust",
     "ledger_keys": [{"key_id", "algorithm": "Ed25519", "pem", "sha256"}],
     "tsas": [{"name", "ca_pem", "sha256"}]}

``sha256`` is the SHA-256 (hex) of the PEM text, as ``sha256sum`` prints it
for the file. ``warcflow verify --trust FILE`` and ``WARCFLOW_TRUST`` read it.
Invariant: ``load`` returns only PEMs whose ``sha256`` is theirs; a file
where one differs is refused whole (ValueError), never used in part.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "warcflow.Trust"


@dataclass(frozen=True)
class Pins:
    """Ledger public keys (PEM by key id) and TSA CAs (PEM by TSA name)."""

    ledger_keys: dict[str, bytes] = field(default_factory=dict)
    tsas: dict[str, bytes] = field(default_factory=dict)


def sha256(pem: bytes) -> str:
    return hashlib.sha256(pem).hexdigest()


def document(pins: Pins) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "ledger_keys": [
            {
                "key_id": kid,
                "algorithm": "Ed25519",
                "pem": pem.decode("ascii"),
                "sha256": sha256(pem),
            }
            for kid, pem in sorted(pins.ledger_keys.items())
        ],
        "tsas": [
            {"name": name, "ca_pem": pem.decode("ascii"), "sha256": sha256(pem)}
            for name, pem in sorted(pins.tsas.items())
        ],
    }


def load(data: bytes) -> Pins:
    """The pins of a trust file; ValueError naming what is wrong."""
    try:
        doc = json.loads(data)
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"not a warcflow trust file (schema {doc.get('schema')!r})")
        keys = {str(k["key_id"]): (str(k["pem"]), str(k["sha256"])) for k in doc["ledger_keys"]}
        tsas = {str(t["name"]): (str(t["ca_pem"]), str(t["sha256"])) for t in doc["tsas"]}
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a readable trust file: {exc}") from None
    pins = Pins()
    for what, found, out in (("ledger key", keys, pins.ledger_keys), ("TSA", tsas, pins.tsas)):
        for name, (pem, digest) in found.items():
            raw = pem.encode("ascii")
            if sha256(raw) != digest:
                raise ValueError(
                    f"{what} {name}: its PEM has SHA-256 {sha256(raw)}, the file says {digest}"
                )
            out[name] = raw
    return pins
