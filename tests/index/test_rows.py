"""The index rows admission hands over (tlog.index.rows) are exactly those the sequencer
would read back from the bodies (``rows_of``), for every entry type, through every
path a batch takes (pieces, chunks, refusals, duplicates, the index worker), and a
mismatch in their counts is refused rather than indexed."""

from __future__ import annotations

import array
import functools
import hashlib
import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.admission import (
    Candidate,
    LeafHashes,
    Leaves,
    Refused,
    _admit_piece,
    admit_rekor,
    chunks,
    hashed,
    leaf_hashes,
    place,
)
from tlog.entries.policy import AdmissionPolicy
from tlog.index.keys import joined_key_hashes, key_hashes
from tlog.index.rows import KeyHashes, concat, rows_of_keys
from tlog.index.writer import fresh_segment, rows_of
from tlog.indexer import _pack, _unpack


def documents() -> list[bytes]:
    """A document of every entry type and request the fixtures make (every signing
    algorithm of a Rekor v2 request, bare key and certificate), and requests around
    the common shape, valid and not."""
    from tests.entries.test_common_request import variants
    from tests.entries.test_hostile import _PROPOSALS
    from tests.monitor.test_monitor_fast import v2_request

    out = [json.dumps(req).encode() for req in variants()]
    out += list(_PROPOSALS)
    out += [v2_request(b"z", cert=False), v2_request(b"z")]
    return out


def test_admission_gives_the_key_hashes_of_every_body() -> None:
    docs = documents()
    piece = _admit_piece(admit_rekor, docs)
    bodies = [leaf for leaf in piece if not isinstance(leaf, Refused)]
    kinds = {json.loads(b)["kind"] for b in bodies}
    assert kinds == {"hashedrekord", "rekord", "dsse", "intoto"}
    assert len(bodies) > 20 and len(bodies) < len(docs)  # refusals among them
    hashes = [hashlib.sha256(b"\x00" + b).digest() for b in bodies]
    assert piece.hashes == b"".join(hashes)
    assert piece.keys is not None
    assert piece.keys == KeyHashes.of(bodies, hashes)
    for i, (body, h) in enumerate(zip(bodies, hashes, strict=True)):
        assert piece.keys.entry(i) == b"".join(key_hashes(body, h))
    assert sorted(rows_of_keys(piece.keys, 7)) == sorted(rows_of(bodies, 7, hashes))
    assert sorted(rows_of(bodies, 7, hashes, piece.keys)) == sorted(rows_of(bodies, 7))


def test_the_parse_gives_the_bare_keys_body_it_made() -> None:
    """The key hashes from admission's parse (``Entry.bare_key``) are the body's own,
    over every algorithm and every policy's view of them."""
    from tests.entries.test_common_request import POLICIES, variants
    from tlog.entries import admit_json
    from tlog.errors import TlogError

    seen = 0
    for req in variants():
        doc = json.dumps(req).encode()
        for policy in POLICIES:
            try:
                entry = admit_json(doc, policy)
            except TlogError:
                continue
            if entry.bare_key is None:
                continue
            seen += 1
            h = hashlib.sha256(b"\x00" + entry.body).digest()
            assert joined_key_hashes(entry.body, h, entry.bare_key) == joined_key_hashes(
                entry.body, h
            )
    assert seen >= 6  # every algorithm's request took the path


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=40))
def test_rows_of_any_counts_are_the_per_entry_rows(counts: list[int]) -> None:
    parts = [bytes([i % 256, c]) * (8 * c) for i, c in enumerate(counts)]
    keys = KeyHashes.joined_from(parts)
    want = [
        p[j : j + 16] + (5 + i).to_bytes(8, "big")
        for i, p in enumerate(parts)
        for j in range(0, len(p), 16)
    ]
    assert sorted(rows_of_keys(keys, 5)) == sorted(want)
    picks = list(range(len(counts)))[::-2]
    assert keys.select(picks) == KeyHashes.joined_from([parts[i] for i in picks])
    assert concat([keys.select([0]), keys.select(range(1, len(counts)))]) == keys


def batch() -> tuple[list[Candidate], list[bytes]]:
    """Inputs with refusals and repeats among them (the placement's slow path)."""
    docs = documents()
    docs = docs + docs[:9]  # duplicates of the batch
    return [Candidate(f"in:{i}", d) for i, d in enumerate(docs)], docs


@pytest.mark.parametrize("chunk", [1, 7, 64])
@pytest.mark.parametrize("entries", [5, 40, 10_000])
def test_chunks_keep_each_leafs_key_hashes(chunk: int, entries: int) -> None:
    cands, docs = batch()
    pieces: Iterator[tuple[list[Candidate], list[bytes | Refused]]] = (
        (cands[i : i + chunk], _admit_piece(admit_rekor, docs[i : i + chunk]))
        for i in range(0, len(docs), chunk)
    )
    total, inputs = 0, 0
    for part, leaves in chunks(pieces, entries, 1 << 30):
        assert len(part) <= entries
        inputs += len(part)
        hashes = hashed(leaves)
        assert list(hashes) == leaf_hashes(leaves)
        placement = place(part, leaves, hashes, start=total, taken=set())
        assert placement.keys is not None
        assert placement.slots is not None or len(placement.leaves) == len(part)
        want = rows_of(placement.leaves, placement.start, placement.hashes)
        assert sorted(rows_of_keys(placement.keys, placement.start)) == sorted(want)
        total += len(placement.leaves)
    assert inputs == len(docs)


def test_a_placement_keeps_the_key_hashes_of_its_new_leaves_only() -> None:
    """Already logged, taken by another run, repeated or refused: such inputs' key
    hashes are not the new leaves'."""
    cands, docs = batch()
    cands[3] = cands[3]._replace(pending="pending/x")
    leaves = _admit_piece(admit_rekor, docs)
    hashes = hashed(leaves)
    logged = {h: 0 for h in hashes[10:14] if h}
    tail = [leaf for leaf in leaves[20:30] if not isinstance(leaf, Refused)][:1]
    assert tail
    placement = place(cands, leaves, hashes, start=1, taken={"pending/x"}, logged=logged, tail=tail)
    assert placement.keys is not None
    assert 0 < len(placement.leaves) < len(docs) - 20
    want = rows_of(placement.leaves, 1, placement.hashes)
    assert sorted(rows_of_keys(placement.keys, 1)) == sorted(want)


def test_the_index_worker_makes_the_same_segment_from_the_key_hashes() -> None:
    _, docs = batch()
    leaves = _admit_piece(admit_rekor, docs)
    bodies = [leaf for leaf in leaves if not isinstance(leaf, Refused)]
    hashes = [h for h in hashed(leaves) if h]
    assert leaves.keys is not None
    entries, start, got, keys = _unpack(_pack(bodies, 9, hashes, leaves.keys))
    assert entries == [] and keys == leaves.keys  # the bodies are not sent
    assert fresh_segment(entries, start, got, keys) == fresh_segment(bodies, 9, hashes)


def test_raw_mode_and_other_admissions_still_index_by_the_bodies() -> None:
    pieces = [([Candidate("a", b"raw a"), Candidate("b", b"raw b")], [b"raw a", b"raw b"])]
    ((cands, leaves),) = chunks(iter(pieces), 10, 1 << 20)
    placement = place(cands, leaves, hashed(leaves), start=0, taken=set())
    assert placement.keys is None
    upper = _admit_piece(functools.partial(_upper), [b"x", b"y"])
    assert upper.keys == KeyHashes.of([b"X", b"Y"], [_leaf(b"X"), _leaf(b"Y")])


def test_a_bound_policy_takes_the_parse() -> None:
    from tlog.admission import _rekor_policy, rekor_admission

    policy = AdmissionPolicy.from_options(["ecdsa-sha2-256-nistp256"])
    assert _rekor_policy(rekor_admission(policy)) is policy
    assert _rekor_policy(_upper) is None


def test_key_hashes_that_do_not_fit_the_leaves_are_refused() -> None:
    cands, docs = batch()
    leaves = _admit_piece(admit_rekor, docs)
    assert leaves.hashes is not None and leaves.keys is not None
    with pytest.raises(ValueError, match="leaf hashes"):
        LeafHashes.of(leaves, leaves.hashes[32:], leaves.keys)
    short = leaves.keys.select(range(len(leaves.keys.counts) - 1))
    with pytest.raises(ValueError, match="key hashes"):
        LeafHashes.of(leaves, leaves.hashes, short)
    hashes = hashed(leaves)
    hashes.keys = short
    with pytest.raises(ValueError, match="key hashes"):
        place(cands, leaves, hashes, start=0, taken=set())
    bodies = [leaf for leaf in leaves if not isinstance(leaf, Refused)]
    with pytest.raises(ValueError, match="key hashes"):
        rows_of(bodies, 0, None, short)
    torn = KeyHashes(leaves.keys.joined[:-1], leaves.keys.counts)
    with pytest.raises(ValueError, match="key hashes"):
        rows_of_keys(torn, 0)
    assert Leaves.join([leaves, [b"raw"]]).keys is None  # one part without: none


def _upper(data: bytes) -> bytes:
    return data.upper()


def _leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def test_counts_are_uint32() -> None:
    assert KeyHashes.joined_from([b"k" * 16]).counts == array.array("I", [1])
