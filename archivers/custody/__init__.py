"""Proof over time: what was captured, when, and that it has not changed since.

ledger.py    the append-only Merkle log of custody events in the bucket
merkle.py    RFC 9162 hashing, inclusion and consistency proofs
treehead.py  Ed25519-signed tree heads
keyfile.py   private key files (0600, made once)
rfc3161.py   RFC 3161 time-stamp tokens: an HTTP TSA client and verification (openssl)
fixity.py    re-hashing stored objects against their manifests
liveness.py  rechecks of the original: alive, changed, gone
audit.py     one capture's whole proof, checked
"""
