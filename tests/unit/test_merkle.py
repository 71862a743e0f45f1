"""RFC 9162 Merkle trees: the reference test vectors, and proofs that verify and catch lies."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archivers.custody import merkle

# The Certificate Transparency reference implementation's test leaves and the
# roots of their first 1..8 (certificate-transparency-go, merkle tests).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHED = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_the_empty_tree():
    assert (
        merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_vectors(size):
    assert merkle.root(HASHED[:size]).hex() == ROOTS[size - 1]


def test_reference_inclusion_path():
    # leaf 0 of 8: the sibling leaf, then the roots of [2,4) and [4,8)
    proof = merkle.inclusion_proof(HASHED, 0, 8)
    assert [p.hex() for p in proof] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70), st.data())
def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not(size, data):
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index, size)
    top = merkle.root(leaves)
    assert merkle.verify_inclusion(leaves[index], index, size, proof, top)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, top)
    if size > 1:
        assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, top)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70), st.data())
def test_every_consistency_proof_verifies_and_a_rewrite_is_caught(size, data):
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
    old = data.draw(st.integers(1, size))
    proof = merkle.consistency_proof(leaves, old, size)
    old_root, new_root = merkle.root(leaves[:old]), merkle.root(leaves)
    assert merkle.verify_consistency(old, size, old_root, new_root, proof)
    rewritten = list(leaves)
    rewritten[data.draw(st.integers(0, old - 1))] = merkle.leaf_hash(b"rewritten history")
    assert not merkle.verify_consistency(
        old, size, old_root, merkle.root(rewritten), merkle.consistency_proof(rewritten, old, size)
    )


def test_impossible_proofs_are_refused():
    with pytest.raises(ValueError):
        merkle.inclusion_proof(HASHED, 8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_proof(HASHED, 0, 8)
    assert not merkle.verify_inclusion(HASHED[0], 0, 0, [], merkle.root([]))
