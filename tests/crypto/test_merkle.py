"""Tests for the RFC 9162 Merkle tree in afterword.crypto.merkle.

Three independent anchors, so a bug has to fool all of them at once:

1. hashlib directly, for the 0x00 / 0x01 domain-separation prefixes;
2. the published Certificate Transparency test vectors (below), which every other RFC 6962 /
   RFC 9162 implementation is checked against;
3. a straight recursive transcription of the RFC's MTH and PATH definitions
   (``_ref_mth`` / ``_ref_path``), compared on random trees.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from afterword.errors import FormatError

# ---------------------------------------------------------------------------------------------
# Published Certificate Transparency test vectors.
#
# Copied from transparency-dev/merkle, proof/verify_test.go (variables `leaves`, `roots` and
# `inclusionProofs`; the same values appear in google/certificate-transparency's
# merkle_tree_test and in the Go/C++ CT implementations). `roots[i]` is the root of the tree
# made of the first i+1 leaves. `inclusionProofs` there numbers leaves from 1; the indices
# below are converted to the 0-based indices this module uses.
# ---------------------------------------------------------------------------------------------

CT_ENTRIES = [
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

CT_EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

# (0-based leaf index, tree size, proof) -- upstream lists these as leaf 1, 6, 3, 2.
CT_INCLUSION_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (
        0,
        8,
        [
            bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            bytes.fromhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        3,
        [
            bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        ],
    ),
    (
        1,
        5,
        [
            bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

CT_LEAF_HASHES = [hashlib.sha256(b"\x00" + e).digest() for e in CT_ENTRIES]


# ---------------------------------------------------------------------------------------------
# Reference: RFC 9162 section 2.1.1 / 2.1.3.1, transcribed recursively with hashlib only.
# ---------------------------------------------------------------------------------------------


def _ref_k(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1), found the slow obvious way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over raw entries, exactly as written in the RFC."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _ref_k(n)
    return hashlib.sha256(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:])).digest()


def _ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) over raw entries, exactly as written in the RFC."""
    n = len(d)
    if n == 1:
        return []
    k = _ref_k(n)
    if m < k:
        return [*_ref_path(m, d[:k]), _ref_mth(d[k:])]
    return [*_ref_path(m - k, d[k:]), _ref_mth(d[:k])]


def _flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit inverted (bit 0..255 of a 32-byte hash)."""
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# Distinct entries, so that no two leaves share a hash and any reordering changes the root.
_unique_entries = st.lists(st.binary(max_size=12), min_size=1, max_size=17, unique=True)


@st.composite
def _tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    entries = draw(_unique_entries)
    index = draw(st.integers(min_value=0, max_value=len(entries) - 1))
    return [leaf_hash(e) for e in entries], index


_fast = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------------------------
# Hash primitives
# ---------------------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_leaf_hash_is_sha256_with_0x00_prefix(data: bytes) -> None:
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_node_hash_is_sha256_with_0x01_prefix(left: bytes, right: bytes) -> None:
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # A 64-byte entry equal to two concatenated child hashes must not hash like their parent.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)
    assert node_hash(a, b) != node_hash(b, a)


def test_empty_tree_is_sha256_of_empty_string() -> None:
    assert hashlib.sha256(b"").digest() == CT_EMPTY_ROOT
    assert root_from_leaf_hashes([]) == CT_EMPTY_ROOT
    assert merkle_root([]) == CT_EMPTY_ROOT


def test_single_leaf_tree_root_is_the_leaf_hash() -> None:
    h = leaf_hash(b"data")
    assert merkle_root([b"data"]) == h
    assert root_from_leaf_hashes([h]) == h
    assert inclusion_proof([h], 0) == []
    assert verify_inclusion(h, 0, 1, [], h)


# ---------------------------------------------------------------------------------------------
# Published vectors
# ---------------------------------------------------------------------------------------------


def test_ct_leaf_hashes_match_first_roots() -> None:
    # The root of a one-leaf tree is that leaf's hash: roots[0] pins leaf_hash(b"").
    assert leaf_hash(CT_ENTRIES[0]) == CT_ROOTS[0]
    assert [leaf_hash(e) for e in CT_ENTRIES] == CT_LEAF_HASHES


@pytest.mark.parametrize("size", range(1, 9))
def test_ct_roots_for_every_prefix(size: int) -> None:
    expected = CT_ROOTS[size - 1]
    assert merkle_root(CT_ENTRIES[:size]) == expected
    assert root_from_leaf_hashes(CT_LEAF_HASHES[:size]) == expected
    assert _ref_mth(CT_ENTRIES[:size]) == expected  # the reference is itself right


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION_PROOFS)
def test_ct_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    leaves = CT_LEAF_HASHES[:size]
    assert inclusion_proof(leaves, index) == proof
    assert _ref_path(index, CT_ENTRIES[:size]) == proof
    assert verify_inclusion(leaves[index], index, size, proof, CT_ROOTS[size - 1])


def test_ct_every_proof_in_the_8_leaf_tree_verifies() -> None:
    for size in range(1, 9):
        root = CT_ROOTS[size - 1]
        for index in range(size):
            proof = inclusion_proof(CT_LEAF_HASHES[:size], index)
            assert proof == _ref_path(index, CT_ENTRIES[:size])
            assert verify_inclusion(CT_LEAF_HASHES[index], index, size, proof, root)


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------


@_fast
@given(st.lists(st.binary(max_size=8), min_size=17, max_size=17))
def test_every_size_1_to_17_and_every_index_verifies(entries: list[bytes]) -> None:
    hashes = [leaf_hash(e) for e in entries]
    for size in range(1, 18):
        leaves = hashes[:size]
        root = root_from_leaf_hashes(leaves)
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert verify_inclusion(leaves[index], index, size, proof, root), (size, index)


@_fast
@given(st.lists(st.binary(max_size=16), min_size=1, max_size=64), st.data())
def test_matches_recursive_rfc_transcription(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    root = _ref_mth(entries)
    assert merkle_root(entries) == root
    assert root_from_leaf_hashes(hashes) == root
    index = data.draw(st.integers(min_value=0, max_value=len(entries) - 1))
    proof = inclusion_proof(hashes, index)
    assert proof == _ref_path(index, entries)
    assert verify_inclusion(hashes[index], index, len(entries), proof, root)


@_fast
@given(_tree_and_index(), st.integers(min_value=0, max_value=255))
def test_altered_leaf_fails(tree: tuple[list[bytes], int], bit: int) -> None:
    leaves, index = tree
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    assert not verify_inclusion(_flip(leaves[index], bit), index, len(leaves), proof, root)
    for other in range(len(leaves)):
        if other != index:
            assert not verify_inclusion(leaves[other], index, len(leaves), proof, root)


@_fast
@given(_tree_and_index())
def test_altered_index_fails(tree: tuple[list[bytes], int]) -> None:
    leaves, index = tree
    n = len(leaves)
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    for other in [*range(-2, 2 * n + 2), index ^ 2, index + 2**64]:
        if other != index:
            assert not verify_inclusion(leaves[index], other, n, proof, root), other


def _ref_shape(m: int, n: int) -> list[bool]:
    """Which side each PATH(m, D[n]) element sits on, bottom up (True: sibling on the right)."""
    if n == 1:
        return []
    k = _ref_k(n)
    if m < k:
        return [*_ref_shape(m, k), True]
    return [*_ref_shape(m - k, n - k), False]


def test_tree_size_is_only_bound_up_to_path_shape() -> None:
    # A limit of RFC 9162 itself, pinned here so nobody relies on more: the verifier only sees
    # 32-byte values, so leaf 0's proof in a 3-leaf tree, [b, c], also verifies as leaf 0 of
    # a 4-leaf tree whose right half hashes to c. Tree size must come from a signed tree head.
    leaves = CT_LEAF_HASHES[:3]
    proof = inclusion_proof(leaves, 0)
    assert verify_inclusion(leaves[0], 0, 3, proof, CT_ROOTS[2])
    assert verify_inclusion(leaves[0], 0, 4, proof, CT_ROOTS[2])
    assert not verify_inclusion(leaves[0], 0, 5, proof, CT_ROOTS[2])


@_fast
@given(_tree_and_index())
def test_altered_tree_size_fails(tree: tuple[list[bytes], int]) -> None:
    # Every other size fails unless its path to the leaf has exactly the same shape (same
    # length, same left/right sequence): see test_tree_size_is_only_bound_up_to_path_shape.
    leaves, index = tree
    n = len(leaves)
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    shape = _ref_shape(index, n)
    for other in [*range(-1, 4 * n + 2), n + 2**64]:
        if other == n:
            continue
        same_shape = 0 <= index < other and _ref_shape(index, other) == shape
        assert verify_inclusion(leaves[index], index, other, proof, root) == same_shape, other


@_fast
@given(_tree_and_index(), st.integers(min_value=0, max_value=255))
def test_altered_proof_element_fails(tree: tuple[list[bytes], int], bit: int) -> None:
    leaves, index = tree
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = _flip(bad[i], bit)
        assert not verify_inclusion(leaves[index], index, len(leaves), bad, root), i
    # Swapping two elements (when they differ) must also fail: order is part of the proof.
    if len(proof) >= 2:
        swapped = [proof[1], proof[0], *proof[2:]]
        assert not verify_inclusion(leaves[index], index, len(leaves), swapped, root)


@_fast
@given(_tree_and_index(), st.integers(min_value=0, max_value=255))
def test_altered_root_fails(tree: tuple[list[bytes], int], bit: int) -> None:
    leaves, index = tree
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    n = len(leaves)
    assert not verify_inclusion(leaves[index], index, n, proof, _flip(root, bit))
    assert not verify_inclusion(leaves[index], index, n, proof, CT_EMPTY_ROOT)


@_fast
@given(_tree_and_index())
def test_truncated_proof_fails(tree: tuple[list[bytes], int]) -> None:
    leaves, index = tree
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    n = len(leaves)
    for cut in range(len(proof)):
        assert not verify_inclusion(leaves[index], index, n, proof[:cut], root), cut
    if proof:
        assert not verify_inclusion(leaves[index], index, n, proof[1:], root)


@_fast
@given(_tree_and_index(), st.binary(min_size=32, max_size=32))
def test_extended_proof_fails(tree: tuple[list[bytes], int], extra: bytes) -> None:
    leaves, index = tree
    proof = inclusion_proof(leaves, index)
    root = root_from_leaf_hashes(leaves)
    n = len(leaves)
    for junk in (extra, root, leaves[index], CT_EMPTY_ROOT):
        assert not verify_inclusion(leaves[index], index, n, [*proof, junk], root)
        assert not verify_inclusion(leaves[index], index, n, [junk, *proof], root)
    if proof:
        middle = [proof[0], extra, *proof[1:]]
        assert not verify_inclusion(leaves[index], index, n, middle, root)


# ---------------------------------------------------------------------------------------------
# Malformed input: verify_inclusion says False, inclusion_proof raises FormatError
# ---------------------------------------------------------------------------------------------


def test_verify_rejects_bad_index_and_size_without_raising() -> None:
    leaves = CT_LEAF_HASHES
    root = CT_ROOTS[7]
    proof = inclusion_proof(leaves, 3)
    assert verify_inclusion(leaves[3], 3, 8, proof, root)
    assert not verify_inclusion(leaves[3], -1, 8, proof, root)
    assert not verify_inclusion(leaves[3], 8, 8, proof, root)
    assert not verify_inclusion(leaves[3], 9, 8, proof, root)
    assert not verify_inclusion(leaves[3], 0, 0, [], CT_EMPTY_ROOT)
    assert not verify_inclusion(leaves[3], 3, -8, proof, root)
    assert not verify_inclusion(leaves[0], 0, 1, [], CT_EMPTY_ROOT)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, b"WrongLeaf"])
def test_verify_rejects_wrong_length_hashes_without_raising(bad: bytes) -> None:
    leaves = CT_LEAF_HASHES
    root = CT_ROOTS[7]
    proof = inclusion_proof(leaves, 6)
    assert not verify_inclusion(bad, 6, 8, proof, root)
    assert not verify_inclusion(leaves[6], 6, 8, proof, bad)
    for i in range(len(proof)):
        assert not verify_inclusion(leaves[6], 6, 8, [*proof[:i], bad, *proof[i + 1 :]], root)
    # One-leaf tree: leaf and root are the same value, but it must still be a 32-byte hash.
    assert not verify_inclusion(bad, 0, 1, [], bad)


def test_verify_rejects_non_bytes_without_raising() -> None:
    h = leaf_hash(b"x")
    assert not verify_inclusion(h, 0, 1, ["not bytes"], h)  # type: ignore[list-item]
    assert not verify_inclusion(h, 0, 1, [None], h)  # type: ignore[list-item]
    assert not verify_inclusion(h, "0", 1, [], h)  # type: ignore[arg-type]
    assert not verify_inclusion(h, 0, 1.0, [], h)  # type: ignore[arg-type]
    assert not verify_inclusion(None, 0, 1, [], h)  # type: ignore[arg-type]


def test_inclusion_proof_rejects_empty_tree() -> None:
    with pytest.raises(FormatError):
        inclusion_proof([], 0)


@pytest.mark.parametrize("index", [-1, 8, 9, 2**64])
def test_inclusion_proof_rejects_index_out_of_range(index: int) -> None:
    with pytest.raises(FormatError) as info:
        inclusion_proof(CT_LEAF_HASHES, index)
    assert info.value.hint


def test_leaf_hash_lists_must_hold_32_byte_digests() -> None:
    # Raw entries passed where leaf hashes belong would give a root nobody can reproduce.
    with pytest.raises(FormatError):
        root_from_leaf_hashes(CT_ENTRIES)
    with pytest.raises(FormatError):
        inclusion_proof([*CT_LEAF_HASHES[:3], b"short"], 0)
    with pytest.raises(FormatError):
        inclusion_proof([*CT_LEAF_HASHES[:3], b"short"], 3)


# ---------------------------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------------------------


def test_million_leaf_root_without_recursion_trouble() -> None:
    # With identical leaves, a perfect subtree of 2**j leaves has a root computable by hand:
    # P(0) = leaf, P(j+1) = node(P(j), P(j)). A tree of n leaves is its perfect subtrees,
    # one per set bit of n from the largest down, folded from the right.
    n = 1_000_000
    leaf = leaf_hash(b"afterword")
    perfect = [leaf]
    while len(perfect) < n.bit_length():
        perfect.append(hashlib.sha256(b"\x01" + perfect[-1] + perfect[-1]).digest())
    parts = [perfect[j] for j in reversed(range(n.bit_length())) if n >> j & 1]
    expected = parts[-1]
    for left in reversed(parts[:-1]):
        expected = hashlib.sha256(b"\x01" + left + expected).digest()

    leaves = [leaf] * n
    root = root_from_leaf_hashes(leaves)
    assert root == expected
    # The last leaf sits in the smallest perfect subtree (2**tz leaves): its proof is the
    # siblings inside that subtree, bottom up, then each larger perfect subtree to its left.
    proof = inclusion_proof(leaves, n - 1)
    tz = (n & -n).bit_length() - 1
    larger = [perfect[j] for j in range(tz + 1, n.bit_length()) if n >> j & 1]
    assert proof == perfect[:tz] + larger
    assert verify_inclusion(leaf, n - 1, n, proof, root)


# ---------------------------------------------------------------------------------------------
# Consistency proofs (RFC 9162 section 2.1.4)
#
# Published vectors: transparency-dev/merkle, proof/verify_test.go, `consistencyProofs`, over
# the same 8 CT leaves as above (`roots[size - 1]` is the root of the first `size` leaves).
# ---------------------------------------------------------------------------------------------

CT_CONSISTENCY_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            bytes.fromhex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            bytes.fromhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            bytes.fromhex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            bytes.fromhex("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def _ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) over raw entries, exactly as written in RFC 9162 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [_ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], b), _ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), _ref_mth(d[:k])]


def _ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m <= n."""
    return _ref_subproof(m, d, True)


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY_PROOFS)
def test_ct_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(CT_LEAF_HASHES[:new], old) == proof
    assert verify_consistency(old, new, CT_ROOTS[old - 1], CT_ROOTS[new - 1], proof)


def _corruptions(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """transparency-dev/merkle's corruptConsistencyProof probes, plus every bit of every
    element flipped: each must fail."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        ("old - 1", old - 1, new, old_root, new_root, proof),
        ("old + 1", old + 1, new, old_root, new_root, proof),
        ("old ^ 2", old ^ 2, new, old_root, new_root, proof),
        ("new * 2", old, new * 2, old_root, new_root, proof),
        ("new // 2", old, new // 2, old_root, new_root, proof),
        ("wrong old root", old, new, some, new_root, proof),
        ("wrong new root", old, new, old_root, some, proof),
        ("swapped roots", old, new, new_root, old_root, proof),
        ("empty proof", old, new, old_root, new_root, []),
        ("trailing old root", old, new, old_root, new_root, [*proof, old_root]),
        ("trailing new root", old, new, old_root, new_root, [*proof, new_root]),
        ("preceding old root", old, new, old_root, new_root, [old_root, *proof]),
        ("preceding new root", old, new, old_root, new_root, [new_root, *proof]),
        ("preceding proof[0]", old, new, old_root, new_root, [proof[0], *proof]),
        ("truncated", old, new, old_root, new_root, proof[:-1]),
        ("first dropped", old, new, old_root, new_root, proof[1:]),
    ]
    for i in range(len(proof)):
        for bit in (0, 4, 255):
            bad = [*proof]
            bad[i] = _flip(bad[i], bit)
            probes.append((f"proof[{i}] bit {bit}", old, new, old_root, new_root, bad))
    return probes


def test_every_pair_of_sizes_up_to_40_leaves_proves_and_tampering_fails() -> None:
    entries = [b"entry %d" % i for i in range(40)]
    leaves = [leaf_hash(e) for e in entries]
    roots = [_ref_mth(entries[:n]) for n in range(41)]
    for new in range(1, 41):
        for old in range(1, new + 1):
            proof = consistency_proof(leaves[:new], old)
            assert proof == _ref_proof(old, entries[:new]), (old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)
            if old == new:
                continue
            for desc, m, n, r1, r2, p in _corruptions(old, new, roots[old], roots[new], proof):
                # a size probe that lands on the real pair of sizes is no corruption
                if (m, n) == (old, new) and (r1, r2, p) == (roots[old], roots[new], proof):
                    continue
                assert not verify_consistency(m, n, r1, r2, p), (old, new, desc)


def test_a_rewritten_old_entry_breaks_consistency() -> None:
    entries = [b"entry %d" % i for i in range(23)]
    for old in range(1, 23):
        for changed in range(old):
            forked = [*entries]
            forked[changed] = b"rewritten"
            proof = consistency_proof([leaf_hash(e) for e in forked], old)
            old_root = merkle_root(entries[:old])
            assert not verify_consistency(old, 23, old_root, merkle_root(forked), proof)


def test_consistency_edge_cases() -> None:
    empty = hashlib.sha256(b"").digest()
    root = CT_ROOTS[0]
    assert consistency_proof(CT_LEAF_HASHES, 0) == []
    assert consistency_proof(CT_LEAF_HASHES, 8) == []
    assert verify_consistency(0, 0, empty, empty, [])
    assert verify_consistency(0, 5, empty, CT_ROOTS[4], [])
    assert not verify_consistency(0, 5, root, CT_ROOTS[4], [])  # "size 0" with a real root
    assert not verify_consistency(0, 5, empty, CT_ROOTS[4], [empty])
    assert verify_consistency(1, 1, root, root, [])
    assert not verify_consistency(1, 1, root, CT_ROOTS[1], [])
    assert not verify_consistency(1, 1, root, root, [root])
    assert not verify_consistency(2, 1, CT_ROOTS[1], root, [])  # back in time
    assert not verify_consistency(-1, 1, root, root, [])
    assert not verify_consistency(True, 2, root, CT_ROOTS[1], [CT_LEAF_HASHES[1]])
    assert not verify_consistency(1, 2, root[:31], CT_ROOTS[1], [CT_LEAF_HASHES[1]])
    assert not verify_consistency(1, 2, root, CT_ROOTS[1], [b"short"])
    assert verify_consistency(1, 2, root, CT_ROOTS[1], [CT_LEAF_HASHES[1]])
    for bad in (-1, 9, True, "1"):
        with pytest.raises(FormatError):
            consistency_proof(CT_LEAF_HASHES, bad)  # type: ignore[arg-type]
    with pytest.raises(FormatError):
        consistency_proof([*CT_LEAF_HASHES[:3], b"not a hash"], 2)


@_fast
@given(_unique_entries, st.data())
def test_consistency_matches_recursive_rfc_transcription(
    entries: list[bytes], data: st.DataObject
) -> None:
    old = data.draw(st.integers(min_value=1, max_value=len(entries)))
    proof = consistency_proof([leaf_hash(e) for e in entries], old)
    assert proof == _ref_proof(old, entries)
    assert verify_consistency(old, len(entries), _ref_mth(entries[:old]), _ref_mth(entries), proof)
