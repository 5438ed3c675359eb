"""The Merkle tree of the global audit log, as RFC 6962 (Certificate Transparency) section 2.1
defines it: the tree hash of a list of leaves, inclusion proofs (an audit path) and consistency
proofs between two sizes of the log, and their verification.

Hashes are raw 32-byte SHA-256 digests. Leaf and node hashes are domain-separated (0x00 before a
leaf, 0x01 before two children) so that a leaf can never pass for an inner node. Functions take
the list of leaf hashes (`leaf_hash` of each leaf), not the leaves themselves.
"""
from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(Exception):
    """A proof does not prove what it claims (wrong index, size, path or root)."""


def leaf_hash(leaf: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 6962 splits a tree of n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(hashes: list[bytes]) -> bytes:
    """MTH(D[n]) of the leaves whose leaf hashes are `hashes` (the empty tree: SHA-256 of "")."""
    if not hashes:
        return EMPTY_ROOT
    # Level by level, pairing from the left and carrying an odd last node up unchanged: the same
    # left-balanced tree as the RFC's recursive split at the largest power of two, in O(n).
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path proving that leaf `index` is in the tree of `hashes`."""
    if not 0 <= index < len(hashes):
        raise ProofError(f"leaf {index} is not in a tree of {len(hashes)} leaves")
    return _path(index, hashes)


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return _path(m, d[:k]) + [root(d[k:])]
    return _path(m - k, d[k:]) + [root(d[:k])]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root that `proof` leads to from leaf hash `leaf` at `index` in a tree of `size`
    (RFC 9162 section 2.1.3.2). Raises ProofError when the proof has the wrong length."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes],
                     expected_root: bytes) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` under `expected_root`."""
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with this root")


def consistency_proof(old_size: int, hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): proves that the tree of the first `old_size` leaves is a prefix of the
    tree of all `hashes`."""
    if not 0 <= old_size <= len(hashes):
        raise ProofError(f"a log of {len(hashes)} leaves has no prefix of {old_size}")
    if old_size in (0, len(hashes)):
        return []
    return _subproof(old_size, hashes, True)


def _subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [root(d)]
    k = _split(n)
    if m <= k:
        return _subproof(m, d[:k], complete) + [root(d[k:])]
    return _subproof(m - k, d[k:], False) + [root(d[:k])]


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> None:
    """Raise ProofError unless `proof` shows the tree (old_size, old_root) to be a prefix of
    (new_size, new_root) (RFC 9162 section 2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} is not a prefix of size {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("two checkpoints of one size must have one root")
        return
    if old_size == 0:
        if proof:
            raise ProofError("the empty tree needs no consistency proof")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:     # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the tree of size {old_size} is not a prefix: its root differs")
    if sr != new_root:
        raise ProofError(f"the tree of size {new_size} does not have this root")


def extend_frontier(frontier: list[bytes], size: int, hashes: list[bytes]) -> list[bytes]:
    """The frontier of a log of `size` leaves extended by the leaf hashes `hashes`.

    A frontier is the roots of the perfect subtrees a log of `size` leaves is made of, largest
    first (one per bit set in `size`): enough to append to the log and to compute its root
    without its leaves, so the checkpoint job never re-reads the whole log.
    """
    nodes = list(frontier)
    for h in hashes:
        nodes.append(h)
        size += 1
        n = size
        while n % 2 == 0:         # two subtrees of one size merge into the next
            right, left = nodes.pop(), nodes.pop()
            nodes.append(node_hash(left, right))
            n //= 2
    return nodes


def frontier_root(frontier: list[bytes]) -> bytes:
    """MTH of the log whose frontier this is (the smaller subtrees hang to the right)."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for node in reversed(frontier[:-1]):
        r = node_hash(node, r)
    return r
