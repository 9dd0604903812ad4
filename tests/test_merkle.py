"""tlog.merkle against the RFC 6962 definitions and the transparency-dev proof vectors.

The oracles here are written from RFC 6962 §2.1 directly (recursive MTH, PATH and
PROOF), independently of the iterative code under test. For tampering tests, the
``*_expr`` helpers build the *shape* of a proof: the expression tree RFC 6962 says the
verifier hashes, with proof hashes as opaque atoms. Two (index, size) pairs accept the
same proof exactly when their shapes are equal (RFC 9162 verifiers only see the shape),
so a perturbed index or size must be refused unless the shapes coincide.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog import merkle
from tlog.errors import VerificationError

VECTORS = Path(__file__).resolve().parent / "vectors" / "merkle"

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- RFC 6962 §2.1 oracles -------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data*, exactly as RFC 6962 §2.1 writes it."""
    n = len(data)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + data[0])
    k = _k(n)
    return _sha(b"\x01" + mth(data[:k]) + mth(data[k:]))


def path(m: int, data: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 §2.1.1)."""
    n = len(data)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 6962 §2.1.2)."""
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, data[:k], b), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


def proof(m: int, data: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 6962 §2.1.2), for 0 < m <= n."""
    return subproof(m, data, True)


# --- proof shapes -----------------------------------------------------------------

Expr = Any  # an atom (str) or a node ("H", left, right)


class _Mismatch(Exception):
    pass


def _incl(m: int, n: int, atoms: list[str]) -> Expr:
    if n == 1:
        return "leaf"
    if not atoms:
        raise _Mismatch
    k = _k(n)
    sibling = atoms.pop()  # PATH appends the top sibling last
    if m < k:
        return ("H", _incl(m, k, atoms), sibling)
    return ("H", sibling, _incl(m - k, n - k, atoms))


def inclusion_expr(m: int, n: int, count: int) -> Expr | None:
    """The root a verifier for (m, n) computes from ``count`` proof atoms, or None."""
    if not 0 <= m < n:
        return None
    atoms = [f"p{j}" for j in range(count)]
    try:
        expr = _incl(m, n, atoms)
    except _Mismatch:
        return None
    return None if atoms else expr


def _cons(m: int, n: int, b: bool, atoms: list[str]) -> tuple[Expr, Expr]:
    if m == n:
        if b:
            return "root1", "root1"
        if not atoms:
            raise _Mismatch
        x = atoms.pop()
        return x, x
    if not atoms:
        raise _Mismatch
    k = _k(n)
    y = atoms.pop()
    if m <= k:
        old, new = _cons(m, k, b, atoms)
        return old, ("H", new, y)
    old, new = _cons(m - k, n - k, False, atoms)
    return ("H", y, old), ("H", y, new)


def _subst(e: Expr, name: str, value: Expr) -> Expr:
    if e == name:
        return value
    if isinstance(e, tuple):
        return (e[0], _subst(e[1], name, value), _subst(e[2], name, value))
    return e


def consistency_accepts(m: int, n: int, m2: int, n2: int, count: int) -> bool:
    """Whether a (m, n) proof of ``count`` hashes, with (m, n)'s true roots, passes as (m2, n2).

    ``root1`` is an atom when m is a power of two (it is not in the proof), else it is
    the expression the proof gives for it; equal expressions mean equal hashes.
    """
    if not 0 < m2 <= n2 or m2 == n2:
        return False
    atoms = [f"p{j}" for j in range(count)]
    try:
        old, new = _cons(m, n, True, atoms)
    except _Mismatch:
        return False
    assert not atoms
    r1 = "root1" if old == "root1" else old
    r2 = _subst(new, "root1", r1)
    atoms = [f"p{j}" for j in range(count)]
    try:
        old2, new2 = _cons(m2, n2, True, atoms)
    except _Mismatch:
        return False
    if atoms:
        return False
    return bool(_subst(old2, "root1", r1) == r1 and _subst(new2, "root1", r1) == r2)


# --- helpers ----------------------------------------------------------------------


def distinct_data(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [i.to_bytes(4, "big") + rng.randbytes(rng.randrange(0, 12)) for i in range(count)]


TREE = distinct_data(300, 6962)
TREE_HASHES = [merkle.leaf_hash(d) for d in TREE]


def verifies(fn: Callable[[], None]) -> bool:
    """True if ``fn`` passes, False on VerificationError; anything else fails the test."""
    try:
        fn()
    except VerificationError:
        return False
    return True


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


#: Every byte is touched, in a different bit position each, plus both ends.
SOME_BITS = sorted({0, 7, 255, *(8 * i + i % 8 for i in range(32))})


def recording(read: merkle.NodeReader) -> tuple[merkle.NodeReader, list[tuple[int, int]]]:
    seen: list[tuple[int, int]] = []

    def rec(coords: Sequence[tuple[int, int]]) -> list[bytes]:
        seen.extend(coords)
        return read(coords)

    return rec, seen


# --- reference vectors ------------------------------------------------------------


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _vector_files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _id(p: Path) -> str:
    return str(p.relative_to(VECTORS))


def test_vectors_present() -> None:
    assert len(_vector_files("inclusion")) > 50
    assert len(_vector_files("consistency")) > 50


@pytest.mark.parametrize("file", _vector_files("inclusion"), ids=_id)
def test_inclusion_vector(file: Path) -> None:
    v = json.loads(file.read_text())
    proof_hashes = [_b64(p) for p in v["proof"] or []]

    def run() -> None:
        merkle.verify_inclusion(
            v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), proof_hashes, _b64(v["root"])
        )

    want_ok = file.name == "happy-path.json" or not v["wantErr"]
    assert verifies(run) is want_ok


@pytest.mark.parametrize("file", _vector_files("consistency"), ids=_id)
def test_consistency_vector(file: Path) -> None:
    v = json.loads(file.read_text())
    proof_hashes = [_b64(p) for p in v["proof"] or []]

    def run() -> None:
        merkle.verify_consistency(
            v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof_hashes
        )

    want_ok = file.name == "happy-path.json" or not v["wantErr"]
    assert verifies(run) is want_ok


# --- hashing and roots ------------------------------------------------------------


def test_hash_domain_separation() -> None:
    assert _sha(b"") == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"abc") == _sha(b"\x00abc")
    a, b = _sha(b"a"), _sha(b"b")
    assert merkle.node_hash(a, b) == _sha(b"\x01" + a + b)
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.tree_root(0, merkle.leaves_reader([])) == merkle.EMPTY_ROOT


def test_root_every_size_up_to_70() -> None:
    for n in range(71):
        want = mth(TREE[:n])
        assert merkle.root(TREE_HASHES[:n]) == want, n
        assert merkle.tree_root(n, merkle.leaves_reader(TREE_HASHES[:n])) == want, n


@pytest.mark.parametrize("n", [127, 128, 129, 255, 256, 257, 299, 300])
def test_root_around_powers_of_two(n: int) -> None:
    want = mth(TREE[:n])
    assert merkle.root(TREE_HASHES[:n]) == want
    # A reader over a longer list must still give the root of the first n leaves.
    assert merkle.tree_root(n, merkle.leaves_reader(TREE_HASHES)) == want


@PROPERTY
@given(st.lists(st.binary(max_size=24), min_size=1, max_size=300))
def test_root_random_data(data: list[bytes]) -> None:
    hashes = [merkle.leaf_hash(d) for d in data]
    want = mth(data)
    assert merkle.root(hashes) == want
    assert merkle.tree_root(len(data), merkle.leaves_reader(hashes)) == want


@PROPERTY
@given(st.integers(1, 300), st.integers(0, 2**32))
def test_root_random_trees(size: int, seed: int) -> None:
    data = distinct_data(size, seed)
    hashes = [merkle.leaf_hash(d) for d in data]
    want = mth(data)
    assert merkle.root(hashes) == want
    assert merkle.tree_root(len(data), merkle.leaves_reader(hashes)) == want


def test_leaves_reader_refuses_nodes_past_the_end() -> None:
    read = merkle.leaves_reader(TREE_HASHES[:5])
    with pytest.raises(VerificationError):
        read([(1, 2)])  # covers leaves 4..5, but there are only 5 leaves
    with pytest.raises(VerificationError):
        read([(0, 5)])


# --- range_nodes ------------------------------------------------------------------


def test_range_nodes_tile_the_range() -> None:
    for align in range(9):
        step = 1 << align
        for lo in range(0, 300, step):
            for hi in range(lo + 1, min(lo + step, 300) + 1):
                nodes = merkle.range_nodes(lo, hi)
                covered: list[int] = []
                for level, index in nodes:
                    covered.extend(range(index << level, (index + 1) << level))
                assert covered == list(range(lo, hi)), (lo, hi)
                levels = [lvl for lvl, _ in nodes]
                assert levels == sorted(levels, reverse=True)
                hashes = merkle.leaves_reader(TREE_HASHES)(nodes)
                assert merkle.fold(hashes) == mth(TREE[lo:hi]), (lo, hi)


# --- inclusion proofs -------------------------------------------------------------


def check_inclusion(data: Sequence[bytes], index: int, size: int, bits: Sequence[int]) -> None:
    """Generate, compare against PATH, verify, then tamper every way the brief lists."""
    hashes = [merkle.leaf_hash(d) for d in data]
    read, seen = recording(merkle.leaves_reader(hashes))
    got = merkle.inclusion_proof(index, size, read)
    assert got == path(index, data[:size])
    assert seen == merkle.inclusion_nodes(index, size)
    assert all((i + 1) << lvl <= size for lvl, i in seen)
    root = mth(data[:size])
    leaf = hashes[index]
    assert merkle.root_from_inclusion(index, size, leaf, got) == root
    merkle.verify_inclusion(index, size, leaf, got, root)

    def ok(
        i: int = index, n: int = size, lf: bytes = leaf, p: Sequence[bytes] = got, r: bytes = root
    ) -> bool:
        return verifies(lambda: merkle.verify_inclusion(i, n, lf, p, r))

    for j in range(len(got)):
        for bit in bits:
            assert not ok(p=[*got[:j], flip(got[j], bit), *got[j + 1 :]]), (j, bit)
    for bit in bits:
        assert not ok(lf=flip(leaf, bit))
        assert not ok(r=flip(root, bit))
    for j in range(len(got) + 1):
        assert not ok(p=[*got[:j], _sha(b"extra"), *got[j:]])
        assert not ok(p=[*got[:j], root, *got[j:]])
        assert not ok(p=[*got[:j], leaf, *got[j:]])
    for j in range(len(got)):
        assert not ok(p=[*got[:j], *got[j + 1 :]])
    assert not ok(p=[*got, got[-1]] if got else [leaf])
    shape = inclusion_expr(index, size, len(got))
    assert shape is not None
    others = {index - 1, index + 1, index ^ 1, index * 2, index // 2, 0, size - 1, size}
    for i2 in sorted(others - {index}):
        if i2 < 0:
            continue
        assert ok(i=i2) is (inclusion_expr(i2, size, len(got)) == shape), (i2,)
    sizes = {size - 1, size + 1, size * 2, size // 2, size ^ 1, 2 * size - 1}
    sizes.add(1 << size.bit_length())
    for n2 in sorted(sizes - {size}):
        if n2 < 0:
            continue
        assert ok(n=n2) is (inclusion_expr(index, n2, len(got)) == shape), (n2,)


def test_inclusion_every_pair_small_trees() -> None:
    for size in range(1, 33):
        for index in range(size):
            check_inclusion(TREE, index, size, SOME_BITS)


def test_inclusion_every_bit() -> None:
    for index, size in [(0, 1), (0, 2), (5, 7), (6, 7), (12, 13), (0, 16), (99, 257)]:
        check_inclusion(TREE, index, size, range(256))


@PROPERTY
@given(st.data())
def test_inclusion_random_trees(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300), label="size")
    leaves = distinct_data(size, data.draw(st.integers(0, 2**32), label="seed"))
    index = data.draw(st.integers(0, size - 1), label="index")
    bits = data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=4), label="bits")
    check_inclusion(leaves, index, size, bits)


def test_inclusion_shape_oracle_sees_size_ambiguity() -> None:
    # RFC 9162 verifiers only use the proof's shape: leaf 0's proof in a tree of 3
    # (two right siblings) has the same shape as in a tree of 4, so the pair verifies.
    assert inclusion_expr(0, 3, 2) == inclusion_expr(0, 4, 2)
    p3 = merkle.inclusion_proof(0, 3, merkle.leaves_reader(TREE_HASHES))
    merkle.verify_inclusion(0, 4, TREE_HASHES[0], p3, mth(TREE[:3]))


def test_inclusion_bad_arguments() -> None:
    read = merkle.leaves_reader(TREE_HASHES[:8])
    for index, size in [(0, 0), (8, 8), (-1, 8), (9, 8)]:
        with pytest.raises(VerificationError):
            merkle.inclusion_proof(index, size, read)
        with pytest.raises(VerificationError):
            merkle.inclusion_nodes(index, size)
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(index, size, TREE_HASHES[0], [], mth(TREE[:8]))
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(0, 1, TREE_HASHES[0][:31], [], TREE_HASHES[0][:31])
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(0, 2, TREE_HASHES[0], [TREE_HASHES[1] + b"\x00"], mth(TREE[:2]))


def test_short_node_reader_is_refused() -> None:
    def short(coords: Sequence[tuple[int, int]]) -> list[bytes]:
        return merkle.leaves_reader(TREE_HASHES)(coords)[:-1]

    with pytest.raises(VerificationError):
        merkle.inclusion_proof(3, 10, short)
    with pytest.raises(VerificationError):
        merkle.consistency_proof(3, 10, short)


# --- consistency proofs -----------------------------------------------------------


def check_consistency(data: Sequence[bytes], size1: int, size2: int, bits: Sequence[int]) -> None:
    hashes = [merkle.leaf_hash(d) for d in data]
    read, seen = recording(merkle.leaves_reader(hashes))
    got = merkle.consistency_proof(size1, size2, read)
    assert seen == merkle.consistency_nodes(size1, size2)
    assert all((i + 1) << lvl <= size2 for lvl, i in seen)
    root1, root2 = mth(data[:size1]), mth(data[:size2])
    if size1 == size2:
        assert got == []
        merkle.verify_consistency(size1, size2, root1, root2, got)
        assert not verifies(lambda: merkle.verify_consistency(size1, size2, root1, root2, [root1]))
        for bit in bits:
            bad1 = flip(root1, bit)
            check = functools.partial(merkle.verify_consistency, size1, size2, bad1, root2, [])
            assert not verifies(check)
        return
    assert got == proof(size1, data[:size2])
    merkle.verify_consistency(size1, size2, root1, root2, got)

    def ok(
        m: int = size1,
        n: int = size2,
        r1: bytes = root1,
        r2: bytes = root2,
        p: Sequence[bytes] = got,
    ) -> bool:
        return verifies(lambda: merkle.verify_consistency(m, n, r1, r2, p))

    for j in range(len(got)):
        for bit in bits:
            assert not ok(p=[*got[:j], flip(got[j], bit), *got[j + 1 :]]), (j, bit)
    for bit in bits:
        assert not ok(r1=flip(root1, bit))
        assert not ok(r2=flip(root2, bit))
    assert not ok(r1=root2, r2=root1)
    for j in range(len(got) + 1):
        assert not ok(p=[*got[:j], _sha(b"extra"), *got[j:]])
        assert not ok(p=[*got[:j], root1, *got[j:]])
        assert not ok(p=[*got[:j], root2, *got[j:]])
    for j in range(len(got)):
        assert not ok(p=[*got[:j], *got[j + 1 :]])
    assert not ok(p=[])
    for m2 in sorted({size1 - 1, size1 + 1, size1 ^ 1, size1 * 2, size1 // 2, 0, size2} - {size1}):
        if m2 >= 0:
            want = consistency_accepts(size1, size2, m2, size2, len(got))
            assert ok(m=m2) is want, (m2,)
    for n2 in sorted({size2 - 1, size2 + 1, size2 * 2, size2 // 2, size2 ^ 1, size1} - {size2}):
        if n2 >= 0:
            want = consistency_accepts(size1, size2, size1, n2, len(got))
            assert ok(n=n2) is want, (n2,)


def test_consistency_every_pair_small_trees() -> None:
    for size2 in range(1, 33):
        for size1 in range(1, size2 + 1):
            check_consistency(TREE, size1, size2, SOME_BITS)


def test_consistency_every_bit() -> None:
    for size1, size2 in [(1, 2), (1, 8), (3, 7), (4, 7), (6, 8), (7, 8), (100, 257)]:
        check_consistency(TREE, size1, size2, range(256))


@PROPERTY
@given(st.data())
def test_consistency_random_trees(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, 300), label="size2")
    leaves = distinct_data(size2, data.draw(st.integers(0, 2**32), label="seed"))
    size1 = data.draw(st.integers(1, size2), label="size1")
    bits = data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=4), label="bits")
    check_consistency(leaves, size1, size2, bits)


def test_consistency_shape_oracle_sees_size_ambiguity() -> None:
    # Same shape for (1, 3) and (1, 4): [leaf 1, MTH(D[2:n])] against root1 = leaf 0.
    assert consistency_accepts(1, 3, 1, 4, 2)
    p = merkle.consistency_proof(1, 3, merkle.leaves_reader(TREE_HASHES))
    merkle.verify_consistency(1, 4, mth(TREE[:1]), mth(TREE[:3]), p)


def test_consistency_from_empty_tree() -> None:
    read = merkle.leaves_reader(TREE_HASHES)
    assert merkle.consistency_proof(0, 10, read) == []
    assert merkle.consistency_nodes(0, 10) == []
    # Every tree extends the empty one, so a proof from 0 carries nothing: refused.
    with pytest.raises(VerificationError):
        merkle.verify_consistency(0, 10, merkle.EMPTY_ROOT, mth(TREE[:10]), [])
    with pytest.raises(VerificationError):
        merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])


def test_consistency_bad_arguments() -> None:
    read = merkle.leaves_reader(TREE_HASHES)
    for size1, size2 in [(-1, 3), (4, 3)]:
        with pytest.raises(VerificationError):
            merkle.consistency_proof(size1, size2, read)
        with pytest.raises(VerificationError):
            merkle.consistency_nodes(size1, size2)
        with pytest.raises(VerificationError):
            merkle.verify_consistency(size1, size2, mth(TREE[:3]), mth(TREE[:3]), [])
    p = merkle.consistency_proof(3, 7, read)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(3, 7, mth(TREE[:3])[:31], mth(TREE[:7]), p)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(3, 7, mth(TREE[:3]), mth(TREE[:7]), [*p[:-1], p[-1][:31]])
