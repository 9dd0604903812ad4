"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs.

Pure functions over hashes. Proof *generation* takes a ``NodeReader``: a function
returning the hashes of complete subtrees, addressed by ``(level, index)`` where level 0
holds leaf hashes and node ``(l, i)`` covers leaves ``[i*2**l, (i+1)*2**l)``. Callers
back it with a list of leaves (tests, the sequencer) or with authenticated tiles (the
reader), so the same code serves both.

Proof *verification* follows the algorithms of RFC 9162 §2.1.3.2 (inclusion) and
§2.1.4.2 (consistency) and raises :class:`~tlog.errors.VerificationError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from tlog.errors import VerificationError

HASH_SIZE = 32
#: MTH({}) = SHA-256() (RFC 6962 §2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: Returns the hashes of the given complete subtrees ``(level, index)``, in order.
NodeReader = Callable[[Sequence[tuple[int, int]]], list[bytes]]


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 6962 §2.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 6962 §2.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (RFC 6962 §2.1)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    sha256 = hashlib.sha256  # node_hash, inlined: a million-entry batch hashes a million nodes
    # Hash pairs bottom-up; an odd last node is promoted unchanged, which yields the
    # same tree as RFC 6962's recursive split at the largest power of two.
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)  # the odd last one is left
        nxt = [sha256(b"\x01" + a + b).digest() for a, b in pairs]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def range_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` that tile ``[lo, hi)``, left to right.

    Valid for the ranges RFC 6962 proofs visit, where ``lo`` is a multiple of a power of
    two at least ``hi - lo``: the decomposition is by the binary digits of ``hi - lo``.
    """
    out: list[tuple[int, int]] = []
    size = hi - lo
    pos = lo
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash the subtree roots of :func:`range_nodes` (left to right) into one root."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _inclusion_ranges(index: int, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    # RFC 6962 §2.1.1 PATH(m, D[lo:hi]), iteratively, collecting sibling ranges
    # from the leaf upwards.
    stack: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            lo = lo + k
    out.extend(reversed(stack))


def _consistency_ranges(m: int, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    # RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], true), iteratively.
    stack: list[tuple[int, int]] = []
    complete = True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                stack.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            m -= k
            lo = lo + k
            complete = False
    out.extend(reversed(stack))


def _materialise(ranges: list[tuple[int, int]], read: NodeReader) -> list[bytes]:
    coords: list[tuple[int, int]] = []
    shapes: list[int] = []
    for lo, hi in ranges:
        nodes = range_nodes(lo, hi)
        coords.extend(nodes)
        shapes.append(len(nodes))
    hashes = read(coords) if coords else []
    if len(hashes) != len(coords):
        raise VerificationError(f"node reader returned {len(hashes)} hashes for {len(coords)}")
    out: list[bytes] = []
    pos = 0
    for count in shapes:
        out.append(fold(hashes[pos : pos + count]))
        pos += count
    return out


def inclusion_nodes(index: int, size: int) -> list[tuple[int, int]]:
    """Every complete subtree an inclusion proof for ``index`` in ``size`` reads."""
    _check_index(index, size)
    ranges: list[tuple[int, int]] = []
    _inclusion_ranges(index, 0, size, ranges)
    return [node for lo, hi in ranges for node in range_nodes(lo, hi)]


def consistency_nodes(size1: int, size2: int) -> list[tuple[int, int]]:
    """Every complete subtree a consistency proof from ``size1`` to ``size2`` reads."""
    _check_sizes(size1, size2)
    if size1 in (0, size2):
        return []
    ranges: list[tuple[int, int]] = []
    _consistency_ranges(size1, 0, size2, ranges)
    return [node for lo, hi in ranges for node in range_nodes(lo, hi)]


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The audit path for leaf ``index`` in a tree of ``size`` (RFC 6962 §2.1.1)."""
    _check_index(index, size)
    ranges: list[tuple[int, int]] = []
    _inclusion_ranges(index, 0, size, ranges)
    return _materialise(ranges, read)


def consistency_proof(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """The consistency proof between ``size1`` and ``size2`` (RFC 6962 §2.1.2).

    Empty when ``size1`` is 0 or equal to ``size2``.
    """
    _check_sizes(size1, size2)
    if size1 in (0, size2):
        return []
    ranges: list[tuple[int, int]] = []
    _consistency_ranges(size1, 0, size2, ranges)
    return _materialise(ranges, read)


def tree_root(size: int, read: NodeReader) -> bytes:
    """The root of the first ``size`` leaves, from complete-subtree hashes."""
    if size == 0:
        return EMPTY_ROOT
    return fold(read(range_nodes(0, size)))


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")


def _check_sizes(size1: int, size2: int) -> None:
    if size1 < 0 or size2 < size1:
        raise VerificationError(f"no consistency proof from size {size1} to size {size2}")


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{name} is {len(value)} bytes, want {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    if proof and set(map(len, proof)) != {HASH_SIZE}:  # the common case checked in C
        for i, p in enumerate(proof):
            _check_hash(f"proof hash {i}", p)


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1–5).

    Computed in the equivalent closed form: the first ``inner`` hashes are the siblings
    below the point where the leaf's path leaves the tree's left-complete part (left or
    right by the index's bits), the rest are left siblings on the right border.
    """
    _check_index(index, size)
    _check_hash("leaf hash", leaf)
    _check_proof_hashes(proof)
    inner = (index ^ (size - 1)).bit_length()
    want = inner + (index >> inner).bit_count()
    if len(proof) != want:
        many = "many" if len(proof) > want else "few"
        raise VerificationError(f"inclusion proof has {len(proof)} hashes, too {many}")
    sha256 = hashlib.sha256  # node_hash, inlined: this loop is a reader's hot path
    r = leaf
    for i in range(inner):
        p = proof[i]
        r = sha256(b"\x01" + p + r).digest() if index >> i & 1 else sha256(b"\x01" + r + p).digest()
    for p in proof[inner:]:
        r = sha256(b"\x01" + p + r).digest()
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` with ``expected_root``."""
    _check_hash("root hash", expected_root)
    got = root_from_inclusion(index, size, leaf, proof)
    if got != expected_root:
        raise VerificationError(
            f"inclusion proof for index {index} in size {size} gives root {got.hex()}, "
            f"want {expected_root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (size2, root2) extends (size1, root1) (RFC 9162 §2.1.4.2).

    ``size1`` must be at least 1: every tree extends the empty one, so a "proof" from
    size 0 carries no information and is refused, as the reference vectors require.
    """
    if size1 <= 0 or size2 < size1:
        # A proof from the empty tree proves nothing; callers special-case size 0.
        raise VerificationError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError(f"two roots for size {size1}: {root1.hex()} and {root2.hex()}")
        return
    _check_hash("first root", root1)
    _check_hash("second root", root2)
    _check_proof_hashes(proof)
    if not proof:
        raise VerificationError(f"empty consistency proof from size {size1} to {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"consistency proof has {len(proof)} hashes, too many")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"consistency proof has {len(proof)} hashes, too few")
    if fr != root1:
        raise VerificationError(
            f"consistency proof gives first root {fr.hex()}, want {root1.hex()}"
        )
    if sr != root2:
        raise VerificationError(
            f"consistency proof gives second root {sr.hex()}, want {root2.hex()}"
        )


def leaves_reader(leaf_hashes: Sequence[bytes]) -> NodeReader:
    """A :data:`NodeReader` over an in-memory list of leaf hashes (tests, tools)."""
    cache: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        key = (level, index)
        if key not in cache:
            if level == 0:
                cache[key] = leaf_hashes[index]
            else:
                cache[key] = node_hash(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))
        return cache[key]

    def read(coords: Sequence[tuple[int, int]]) -> list[bytes]:
        for level, index in coords:
            if (index + 1) << level > len(leaf_hashes):
                raise VerificationError(f"node ({level}, {index}) is past the tree's end")
        return [node(level, index) for level, index in coords]

    return read
