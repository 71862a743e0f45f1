"""Signed tree heads: what a verifier with only the public key can and cannot be fooled by."""

import base64
import stat
import subprocess
from dataclasses import replace
from datetime import UTC, datetime

from archivers.custody import merkle
from archivers.custody.treehead import HeadSigner, TreeHead, public_pem, verify_head

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_head_verifies_with_the_public_key_and_survives_json(tmp_path):
    signer = HeadSigner.from_file(tmp_path / "ledger.key")
    leaves = [merkle.leaf_hash(b"warc sha256 " + bytes([i])) for i in range(5)]
    head = signer.sign(5, merkle.root(leaves), AT)
    assert head.timestamp == "2026-11-25T12:00:00.000000Z" and head.key_id == signer.key_id
    again = TreeHead.from_json(head.to_json())
    assert again == head and verify_head(again, public_pem(signer.public))


def test_any_change_to_a_head_breaks_it(tmp_path):
    signer = HeadSigner.from_file(tmp_path / "ledger.key")
    head = signer.sign(5, merkle.root([merkle.leaf_hash(b"x")]), AT)
    key = public_pem(signer.public)
    assert not verify_head(replace(head, size=6), key)
    assert not verify_head(replace(head, root="00" * 32), key)
    assert not verify_head(replace(head, timestamp="2026-11-24T12:00:00Z"), key)
    assert not verify_head(replace(head, signature=base64.b64encode(b"\0" * 64).decode()), key)
    other = HeadSigner.from_file(tmp_path / "other.key")
    assert not verify_head(head, public_pem(other.public))  # someone else's key


def test_the_key_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "keys" / "ledger.key"
    first = HeadSigner.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert HeadSigner.from_file(path).key_id == first.key_id  # the same key next time


def test_openssl_verifies_a_head_with_nothing_but_the_public_key(tmp_path):
    # what docs/formats.md tells a reader to do: standard tools, no warcflow
    signer = HeadSigner.from_file(tmp_path / "ledger.key")
    head = signer.sign(3, merkle.root([merkle.leaf_hash(b"a")]), AT)
    (tmp_path / "pub.pem").write_bytes(public_pem(signer.public))
    (tmp_path / "head.bin").write_bytes(head.signing_input())
    (tmp_path / "head.sig").write_bytes(base64.b64decode(head.signature))
    done = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-rawin",
            "-in",
            "head.bin",
            "-sigfile",
            "head.sig",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout
