"""An append-only Merkle tree as RFC 9162 (Certificate Transparency 2.0) defines it.

The custody ledger appends one leaf per stored object digest and per custody
event; a signed tree head commits to all of them at once, an inclusion proof
shows one leaf is in it, and a consistency proof shows a later head only added
leaves to an earlier one (nothing rewritten). Pure functions over leaf hashes;
storage is the ledger's business.

Hashing (RFC 9162 section 2.1.1): ``leaf = SHA-256(0x00 || data)``,
``node = SHA-256(0x01 || left || right)``; the root of n > 1 leaves splits at k,
the largest power of two below n. Proofs and their verification follow
sections 2.1.3 and 2.1.4; tests/unit/test_merkle.py checks the roots against
the reference implementation's test vectors.

Invariant: ``verify_inclusion(leaf, i, n, inclusion_proof(leaves, i, n), root(leaves[:n]))``
and ``verify_consistency(m, n, root(leaves[:m]), root(leaves[:n]),
consistency_proof(leaves, m, n))`` hold for every 0 <= i < n and 0 < m <= n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes ``leaves``."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf ``index`` in the first ``size`` leaves."""
    if not 0 <= index < size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of {size}")

    def path(m: int, tree: Sequence[bytes]) -> list[bytes]:
        if len(tree) == 1:
            return []
        k = _split(len(tree))
        if m < k:
            return [*path(m, tree[:k]), root(tree[k:])]
        return [*path(m - k, tree[k:]), root(tree[:k])]

    return path(index, leaves[:size])


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` put leaf hash ``leaf`` at ``index``
    of a tree of ``size`` with root ``expected_root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def consistency_proof(leaves: Sequence[bytes], old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]): what shows the tree of ``new`` leaves extends the one of ``old``."""
    if not 0 < old <= new <= len(leaves):
        raise ValueError(f"no consistency proof from {old} to {new} leaves")

    def subproof(m: int, tree: Sequence[bytes], complete: bool) -> list[bytes]:
        n = len(tree)
        if m == n:
            return [] if complete else [root(tree)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, tree[:k], complete), root(tree[k:])]
        return [*subproof(m - k, tree[k:], False), root(tree[:k])]

    return subproof(old, leaves[:new], True)


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``new`` leaves an extension of the old one?"""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    proof = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root, *proof]
    if not proof:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
