"""The RFC 6962 tree: known roots of Certificate Transparency's test leaves, and every inclusion
and consistency proof of small trees verified (and refused once altered)."""
from __future__ import annotations

import pytest

from engine.history import merkle

# The leaves of certificate-transparency's merkle tree tests and the roots it expects.
LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
          b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def reference_root(d):
    """MTH as RFC 6962 writes it, recursively."""
    if not d:
        return merkle.EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return merkle.node_hash(reference_root(d[:k]), reference_root(d[k:]))


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_of_the_rfc_test_leaves(size):
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size]


def test_the_empty_tree():
    assert merkle.root([]).hex() == ("e3b0c44298fc1c149afbf4c8996fb924"
                                     "27ae41e4649b934ca495991b7852b855")


def test_the_linear_root_is_the_recursive_one():
    hashes = [merkle.leaf_hash(str(i).encode()) for i in range(70)]
    for n in range(71):
        assert merkle.root(hashes[:n]) == reference_root(hashes[:n])


def test_every_inclusion_proof_of_small_trees_verifies_and_a_changed_one_does_not():
    hashes = [merkle.leaf_hash(str(i).encode()) for i in range(33)]
    for n in range(1, 34):
        top = merkle.root(hashes[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(i, hashes[:n])
            merkle.verify_inclusion(i, n, hashes[i], proof, top)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(i, n, merkle.leaf_hash(b"forged"), proof, top)
            if n > 1:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion((i + 1) % n, n, hashes[i], proof, top)
            if proof:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(i, n, hashes[i], proof[:-1], top)


def test_every_consistency_proof_of_small_trees_verifies_and_a_rewritten_prefix_does_not():
    hashes = [merkle.leaf_hash(str(i).encode()) for i in range(33)]
    for n in range(1, 34):
        new = merkle.root(hashes[:n])
        for m in range(0, n + 1):
            old = merkle.root(hashes[:m])
            proof = merkle.consistency_proof(m, hashes[:n])
            merkle.verify_consistency(m, n, old, new, proof)
            if 0 < m:
                rewritten = hashes[:m - 1] + [merkle.leaf_hash(b"forged")] + hashes[m:n]
                forged = merkle.consistency_proof(m, rewritten)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, old, merkle.root(rewritten), forged)


def test_an_index_outside_the_tree_is_refused():
    with pytest.raises(merkle.ProofError, match="not in a tree of 3"):
        merkle.inclusion_proof(3, HASHES[:3])


def test_a_frontier_extended_leaf_by_leaf_or_in_batches_has_the_trees_root():
    hashes = [merkle.leaf_hash(str(i).encode()) for i in range(40)]
    frontier = []
    for n, h in enumerate(hashes):
        frontier = merkle.extend_frontier(frontier, n, [h])
        assert merkle.frontier_root(frontier) == merkle.root(hashes[:n + 1])
        assert len(frontier) == bin(n + 1).count("1")
    batched = merkle.extend_frontier(merkle.extend_frontier([], 0, hashes[:13]), 13, hashes[13:])
    assert batched == frontier
    assert merkle.frontier_root([]) == merkle.EMPTY_ROOT
