"""Segments, merges and lookups: answers equal a naive scan, and tampering is refused."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.errors import MalformedError, VerificationError
from tlog.index.head import IndexHead
from tlog.index.lookup import SPARSE, Stats, hits, lookup
from tlog.index.lsm import FANOUT, add_rows, level
from tlog.index.segment import (
    BLOCK_ROWS,
    ROW_SIZE,
    SORT_BUCKETS_FROM,
    SegmentInfo,
    build,
    knot_count,
    make_row,
    parse_rows,
    sort_rows,
)

ROOT = bytes(32)


def k(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()[:16]


class Bucket:
    """Segment objects by key, with range reads (the store and CDN of a test)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def read_range(self, key: str, start: int, length: int) -> bytes:
        data = self.objects[key][start : start + length]
        if len(data) != length:
            raise MalformedError("short")
        return data

    def read_rows(self, info: SegmentInfo) -> list[bytes]:
        return parse_rows(info, 0, self.objects[info.key])


def index_of(batches: list[list[tuple[int, int]]]) -> tuple[IndexHead, Bucket]:
    bucket, segments = Bucket(), ()
    for batch in batches:
        rows = list({make_row(k(key), index) for key, index in batch})
        segments, objects = add_rows(segments, rows, bucket.read_rows)
        bucket.objects.update(objects)
    return IndexHead("o", 1, ROOT, segments), bucket


rows_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5000)), max_size=300), max_size=12
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.lists(st.integers(0, 45), min_size=1, max_size=10))
def test_lookup_equals_a_naive_scan(
    batches: list[list[tuple[int, int]]], queries: list[int]
) -> None:
    head, bucket = index_of(batches)
    found = lookup(head, [k(q) for q in queries], bucket.read_range)
    for q in queries:
        want = sorted({i for batch in batches for key, i in batch if key == q})
        assert found[k(q)] == want


def test_a_key_with_thousands_of_hits_across_segments() -> None:
    batches = [[(7, i) for i in range(j, 6000, 5)] + [(n, n) for n in range(200)] for j in range(5)]
    head, bucket = index_of(batches)
    assert len(head.segments) >= 2
    found = lookup(head, [k(7), k(9999)], bucket.read_range)
    assert found[k(7)] == sorted(set(range(6000)) | {7})
    assert found[k(9999)] == []


def test_merges_are_geometric_and_bounded_per_level() -> None:
    head, bucket = index_of([[(n, b * 1000 + n) for n in range(3)] for b in range(100)])
    levels = [level(s.rows) for s in head.segments]
    assert all(levels.count(lv) < FANOUT for lv in set(levels))
    assert set(bucket.objects) >= {s.key for s in head.segments}


@pytest.mark.slow
def test_knots_interpolate_in_big_segments() -> None:
    rows = sorted(make_row(k(n), n) for n in range(600_000))
    info, data = build(rows)
    assert knot_count(info.rows) == 2 and len(info.knots) == 1
    assert SegmentInfo.parse(info.format()) == info
    head, bucket = IndexHead("o", 1, ROOT, (info,)), Bucket()
    bucket.objects[info.key] = data
    stats = Stats()
    found = lookup(head, [k(123), k(-1 % 2**63)], bucket.read_range, stats=stats)
    assert found[k(123)] == [123]
    assert stats.bytes < 200_000 and stats.rounds <= 2


def test_a_changed_row_or_another_object_is_refused() -> None:
    head, bucket = index_of([[(n, n) for n in range(2000)]])
    (seg,) = head.segments
    good = bucket.objects[seg.key]
    cut = bytearray(good)
    cut[5 * ROW_SIZE] ^= 1
    bucket.objects[seg.key] = bytes(cut)
    with pytest.raises(VerificationError, match="does not match the head"):
        lookup(head, [k(n) for n in range(0, 2000, 50)], bucket.read_range)
    other, _ = build(sorted(make_row(k(n), n) for n in range(1, 2001)))
    bucket.objects[seg.key] = build(sorted(make_row(k(n), n) for n in range(1, 2001)))[1]
    assert other.rows == seg.rows
    with pytest.raises(VerificationError):
        lookup(head, [k(3)], bucket.read_range)


def test_segment_lines_round_trip_and_refuse_nonsense() -> None:
    info, _ = build([make_row(k(1), 1)])
    assert SegmentInfo.parse(info.format()) == info
    assert info.blocks == 1 and info.size == ROW_SIZE
    for bad in ("", "x " + "00" * 32, "1 abc", f"1 {'00' * 32} 5"):
        with pytest.raises(MalformedError):
            SegmentInfo.parse(bad)
    assert BLOCK_ROWS == 256


def test_big_batches_sort_by_buckets_as_sorted_does() -> None:
    rows = [make_row(k(n % 5000), n) for n in range(SORT_BUCKETS_FROM + 999)]
    assert sort_rows(list(reversed(rows))) == sorted(rows)


def test_a_bulk_lookup_joins_whole_segments_and_refuses_a_missing_block() -> None:
    head, bucket = index_of([[(n, n) for n in range(3000)], [(n, n + 5000) for n in range(50)]])
    keys = [k(n) for n in range(0, 4000, 3)]  # more keys than blocks: whole segments
    found = lookup(head, keys, bucket.read_range)
    assert all(found[k(n)] == ([n] + ([n + 5000] if n < 50 else [])) for n in range(0, 3000, 3))
    assert all(found[k(n)] == [] for n in range(3000, 4000, 3))
    seg = head.segments[0]
    bucket.objects[seg.key] = bucket.objects[seg.key][: seg.byte_range(0, 0)[1]]
    with pytest.raises(VerificationError):
        lookup(head, keys, bucket.read_range)


def test_a_bulk_join_compares_whole_keys_not_their_first_word() -> None:
    # Many keys per block (the join by first words): keys that share their first 8
    # bytes with logged ones but differ after are no hits; a key with rows across
    # several blocks gets every one of them.
    twin = bytes(8)
    logged = [twin + (n * 2).to_bytes(8, "big") for n in range(600)]
    rows = [make_row(key, n) for n, key in enumerate(logged)]
    rows += [make_row(logged[5], 1000 + i) for i in range(700)]
    rows += [make_row(k(n), 2000 + n) for n in range(3000)]
    bucket, segments = Bucket(), ()
    segments, objects = add_rows(segments, rows, bucket.read_rows)
    bucket.objects.update(objects)
    head = IndexHead("o", 1, ROOT, segments)
    wanted = [twin + (n * 2 + 1).to_bytes(8, "big") for n in range(600)]  # same word
    wanted += [logged[5], logged[599], *(k(n) for n in range(0, 6000, 2))]
    assert all(len(wanted) * SPARSE > seg.rows for seg in head.segments)
    found = lookup(head, wanted, bucket.read_range)
    assert all(found[key] == [] for key in wanted[:600])
    assert found[logged[5]] == [5, *range(1000, 1700)]
    assert found[logged[599]] == [599]
    assert all(found[k(n)] == ([2000 + n] if n < 3000 else []) for n in range(0, 6000, 2))


def test_a_bulk_lookup_of_few_keys_per_block_searches_each_key() -> None:
    # 200 keys against 157 blocks: whole segment, but a binary search per key (rows of
    # key 7 span several blocks).
    batch = [(n, n) for n in range(39_000)] + [(7, 100_000 + i) for i in range(1000)]
    head, bucket = index_of([batch])
    (seg,) = head.segments
    keys = [k(n) for n in range(0, 80_000, 400)] + [k(7)]
    assert seg.blocks <= len(keys) and len(keys) * SPARSE <= seg.rows
    found = lookup(head, keys, bucket.read_range)
    assert found[k(7)] == [7, *range(100_000, 101_000)]
    assert all(found[k(n)] == ([n] if n < 39_000 else []) for n in range(400, 80_000, 400))


def test_windows_are_exact_and_a_lying_error_bound_is_refused() -> None:
    head, bucket = index_of([[(n, n) for n in range(5000)]])
    (seg,) = head.segments
    for n in range(0, 5000, 97):  # an honest bound: one round, always bracketing
        stats = Stats()
        assert lookup(head, [k(n)], bucket.read_range, stats=stats)[k(n)] == [n]
        assert stats.rounds == 1
    liar = IndexHead("o", 1, ROOT, (dataclasses.replace(seg, error=0),))
    with pytest.raises(VerificationError, match="error bound"):
        for n in range(5000):
            lookup(liar, [k(n)], bucket.read_range)


def test_a_key_hash_of_another_size_is_refused_not_misread() -> None:
    # The bulk join reads the keys at a fixed stride: a shorter key would shift every
    # later key's word and hide their hits.
    rows = [make_row(k(n), n) for n in range(600)]
    bucket = Bucket()
    segments, objects = add_rows((), rows, bucket.read_rows)
    bucket.objects.update(objects)
    head = IndexHead("o", 1, ROOT, segments)
    with pytest.raises(ValueError, match="16 bytes"):
        hits(head, [k(1)[:15], *(k(n) for n in range(2, 600))], bucket.read_range)
    assert hits(head, [k(1), k(7)], bucket.read_range) == {k(1): {1}, k(7): {7}}
