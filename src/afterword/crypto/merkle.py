"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing with SHA-256.

Why this exact construction: a proof afterword hands out must be checkable by people who do
not run afterword. RFC 9162 section 2.1 is the tree every transparency log (CT, Go's sumdb,
sigstore) uses, so its published test vectors pin our bytes and any independent verifier can
recompute a root or check an inclusion proof with a few lines of code.

Two details matter for security and are easy to get wrong:

- leaves and interior nodes are hashed under different one-byte prefixes (0x00 and 0x01), so
  an interior node can never be passed off as a leaf (second-preimage attacks on the tree);
- the tree is not padded to a power of two: ``MTH(D[n])`` splits at ``k``, the largest power
  of two strictly smaller than ``n``, so the right-hand subtree may be ragged.

Everything here is iterative, so a million-leaf tree needs no deep recursion. A root needs
O(log n) memory beyond the caller's leaves; a proof computes about n node hashes (O(n)) and
copies sub-slices of the leaf list (O(n) memory at most).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from afterword.errors import FormatError

__all__ = [
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

_HASH_LEN = 32  # SHA-256 output; every leaf hash, node hash, proof element and root has it.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry.

    The 0x00 prefix separates leaves from interior nodes, so no 64-byte entry can be made to
    look like the concatenation of two child hashes.
    """
    h = hashlib.sha256(_LEAF_PREFIX)
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node.

    Order matters (``left`` comes first); the 0x01 prefix keeps nodes distinct from leaves.
    """
    h = hashlib.sha256(_NODE_PREFIX)
    h.update(left)
    h.update(right)
    return h.digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_leaf_hash(value: bytes, position: int) -> None:
    """Reject anything that cannot be a SHA-256 leaf hash.

    A wrong length almost always means a caller passed raw entries where leaf hashes were
    expected; hashing them anyway would produce a root nobody else can reproduce.
    """
    if not isinstance(value, bytes | bytearray) or len(value) != _HASH_LEN:
        raise FormatError(
            f"leaf hash #{position} is not a {_HASH_LEN}-byte SHA-256 digest",
            "pass leaf_hash(entry) for each entry, or use merkle_root() on raw entries",
        )


def _root_of(leaf_hashes: Iterable[bytes], start: int = 0) -> bytes:
    """MTH over a stream of leaf hashes, in one pass and O(log n) extra memory.

    Why a stack and not the recursive definition: the RFC 9162 tree of ``n`` leaves is the
    list of perfect subtrees given by the binary digits of ``n``, largest first, folded
    together from the right. The stack holds exactly those subtrees (``sizes[i]`` leaves
    each); two equal neighbours are merged as soon as they appear, which is what the ``k``
    split does top-down. ``start`` only numbers leaves in error messages.
    """
    hashes: list[bytes] = []
    sizes: list[int] = []
    for position, value in enumerate(leaf_hashes, start):
        _check_leaf_hash(value, position)
        hashes.append(bytes(value))
        sizes.append(1)
        while len(sizes) >= 2 and sizes[-1] == sizes[-2]:
            right = hashes.pop()
            sizes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            sizes[-1] *= 2
    if not hashes:
        # MTH({}) = HASH(), the hash of the empty string.
        return hashlib.sha256(b"").digest()
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` when the leaves are already hashed with :func:`leaf_hash`.

    Callers that keep leaf hashes (to build proofs later) use this instead of re-hashing the
    entries. An empty list gives ``SHA-256(b"")``, as RFC 9162 defines for the empty tree.
    Raises :class:`FormatError` if an element is not a 32-byte digest.
    """
    return _root_of(leaf_hashes)


def merkle_root(entries: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` over raw entries: each one is hashed with :func:`leaf_hash` first."""
    return _root_of(leaf_hash(entry) for entry in entries)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 ``PATH(m, D[n])`` for leaf ``index``, from the leaf hashes.

    The proof lists the sibling subtree hashes from the leaf up to the root, which is the
    order :func:`verify_inclusion` consumes them in. Walking the ``k`` splits top-down
    (depth at most ~log2 n) and reversing gives exactly the RFC's recursive output.

    Raises :class:`FormatError` for an empty tree, an index outside ``[0, n)``, or an
    element that is not a 32-byte digest: a proof for a leaf that is not there must not be
    produced at all.
    """
    n = len(leaf_hashes)
    if n == 0:
        raise FormatError(
            "cannot build an inclusion proof in an empty Merkle tree",
            "add at least one entry before asking for a proof",
        )
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise FormatError(
            f"leaf index {index!r} is out of range for a Merkle tree of {n} leaves",
            f"use an index from 0 to {n - 1}",
        )
    _check_leaf_hash(leaf_hashes[index], index)

    path: list[bytes] = []
    lo, hi = 0, n  # the subtree D[lo:hi] that still contains the leaf
    while hi - lo > 1:
        k = _split(hi - lo)
        mid = lo + k
        if index < mid:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(_root_of(leaf_hashes[mid:hi], mid))
            hi = mid
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(_root_of(leaf_hashes[lo:mid], lo))
            lo = mid
    path.reverse()
    return path


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == _HASH_LEN


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof with the RFC 9162 section 2.1.3.2 algorithm, step for step.

    ``leaf`` is the LEAF HASH (``leaf_hash(entry)``), not the entry. Proofs arrive from
    untrusted files, so every malformed input (a non-32-byte hash, a negative index,
    ``index >= tree_size``, a proof too short or too long) is a plain ``False``, never an
    exception: the caller's only question is "does this verify?".

    What a proof does NOT pin down, by RFC 9162's design: ``tree_size`` beyond the shape of
    the leaf's path. The proof for leaf 0 of a 3-leaf tree also verifies as leaf 0 of a
    4-leaf tree with the same root (the verifier cannot tell a leaf hash from a subtree
    hash). Take ``tree_size`` and ``root`` together from a signed tree head, never from the
    proof's own claims.
    """
    if isinstance(index, bool) or isinstance(tree_size, bool):
        return False
    if not isinstance(index, int) or not isinstance(tree_size, int):
        return False
    if not _is_hash(leaf) or not _is_hash(root):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if index < 0:
        return False

    # 1. If leaf_index is greater than or equal to tree_size, fail.
    if index >= tree_size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = bytes(leaf)
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # 1. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # 2. If LSB(fn) is not set, right-shift both fn and sn equally until either
            #    LSB(fn) is set or fn is 0. (The loop does nothing when LSB(fn) is set.)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # Otherwise: set r to HASH(0x01 || r || p).
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Succeed only if sn is 0 and r equals root_hash.
    return sn == 0 and r == bytes(root)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 ``PROOF(m, D[n])``: that the tree of the first ``old_size``
    leaves is a prefix of the tree of all of ``leaf_hashes``.

    Why: a peer that kept an older checkpoint of a log can check, with O(log n) hashes and
    without the entries, that a newer one only appended to it (nothing was rewritten).

    ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``; walking the ``k`` splits top-down and
    reversing gives exactly the RFC's recursive output, as :func:`inclusion_proof` does.
    ``old_size == len(leaf_hashes)`` gives ``[]`` (a tree is consistent with itself), and so
    does ``old_size == 0`` (the empty tree is a prefix of every tree; RFC 9162 defines the
    proof for ``0 < m < n`` only). Raises :class:`FormatError` for ``old_size`` outside
    ``[0, n]`` or a leaf hash that is not a 32-byte digest.
    """
    n = len(leaf_hashes)
    if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= n:
        raise FormatError(
            f"cannot prove consistency from {old_size!r} leaves in a Merkle tree of {n}",
            f"ask for an older size from 0 to {n}",
        )
    for position, value in enumerate(leaf_hashes):
        _check_leaf_hash(value, position)
    if old_size in (0, n):
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, n, old_size, True  # SUBPROOF(m, D[lo:hi], complete)
    while True:
        if m == hi - lo:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not complete:
                path.append(_root_of(leaf_hashes[lo:hi], lo))
            break
        k = _split(hi - lo)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            path.append(_root_of(leaf_hashes[lo + k : hi], lo + k))
            hi = lo + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            path.append(_root_of(leaf_hashes[lo : lo + k], lo))
            lo, m, complete = lo + k, m - k, False
    path.reverse()
    return path


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof with the RFC 9162 section 2.1.4.2 algorithm, step for step.

    As :func:`verify_inclusion`, every malformed input is a plain ``False``. The cases the
    RFC leaves out (it covers ``0 < old_size < new_size``) hold only with an empty proof: the
    same size with the same root, and an old tree of size 0 whose root is the empty tree's
    (``SHA-256("")``), which every tree extends.
    """
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (old_size, new_size)):
        return False
    if not _is_hash(old_root) or not _is_hash(new_root):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and bytes(old_root) == bytes(new_root)
    if old_size == 0:
        return not proof and bytes(old_root) == hashlib.sha256(b"").digest()

    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        return False
    path = [bytes(p) for p in proof]
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # 1. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # 2. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #    either LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # Otherwise: set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    return fr == bytes(old_root) and sr == bytes(new_root) and sn == 0
