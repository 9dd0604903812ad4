"""Streamed merges (tlog.index.lsm, docs/index.md "Memory"): the same segments as the
in-memory path, byte for byte, built from files, every input authenticated before the
merged segment is created."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest

from tlog.errors import InconsistencyError
from tlog.index import lsm
from tlog.index.lsm import _merge, add_rows, merge_runs
from tlog.index.segment import ROW_SIZE, SegmentInfo, build_file, build_packed, make_row
from tlog.index.writer import SegmentFiles
from tlog.storage.memory import MemoryStore


def rows(n: int, start: int = 0, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [make_row(rnd.randbytes(16), i) for i in range(start, start + n)]


def chunked(packed: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``packed`` as chunks of the given row counts, cycling (empty chunks included)."""
    pos, k = 0, 0
    while pos < len(packed):
        step = sizes[k % len(sizes)] * ROW_SIZE
        yield packed[pos : pos + step]
        pos, k = pos + step, k + 1


@pytest.mark.parametrize("n", [1, 63, 64, 255, 256, 257, 5000, 70_000])
def test_build_file_is_build_packed_byte_for_byte(n: int) -> None:
    packed = b"".join(sorted(rows(n)))
    want_info, want = build_packed(packed)
    out = io.BytesIO()
    assert build_file(io.BytesIO(packed), n, out) == want_info
    assert out.getvalue() == want


@pytest.mark.slow
def test_build_file_knots_and_error_of_a_big_segment() -> None:
    n = (1 << 19) * 2 + 999  # four knot intervals
    rnd = random.Random(7)
    popular = rnd.randbytes(16)  # a key with many rows widens the error bound
    keys = [popular if i % 50 == 0 else rnd.randbytes(16) for i in range(n)]
    packed = b"".join(sorted(make_row(k, i) for i, k in enumerate(keys)))
    want_info, want = build_packed(packed)
    assert len(want_info.knots) == 3
    out = io.BytesIO()
    assert build_file(io.BytesIO(packed), n, out) == want_info
    assert out.getvalue() == want


@pytest.mark.parametrize("step", [lsm.STEP_ROWS, 64, 1])
@pytest.mark.parametrize("sizes", [[1], [7, 0, 300], [1000], [256, 3]])
def test_merge_runs_is_the_sorted_union(
    sizes: list[int], step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the inputs' chunks, and however few rows a step takes (each step's
    rows are Python objects at once: a step takes at most STEP_ROWS of each input)."""
    monkeypatch.setattr(lsm, "STEP_ROWS", step)
    a, b, c = sorted(rows(900, 0, 1)), sorted(rows(500, 900, 2)), sorted(rows(40, 5000, 3))
    shared = sorted(a[::7] + c[:5])  # rows in two inputs are kept once
    inputs = [a, b, c, shared, []]
    out: list[bytes] = []
    n = merge_runs([chunked(b"".join(r), sizes) for r in inputs], out.append)
    assert b"".join(out) == b"".join(_merge(inputs))
    assert n == len(_merge(inputs))
    assert max(map(len, out)) <= len(inputs) * step * ROW_SIZE


def never(info: SegmentInfo) -> list[bytes]:
    raise AssertionError("a streamed merge read a segment whole")


def test_a_streamed_merge_makes_the_in_memory_segments() -> None:
    """Batches that cascade through streamed merges give the heads and segments of
    the in-memory path; big segments go to the store, never staged, never read whole."""
    memory: tuple[SegmentInfo, ...] = ()
    streamed: tuple[SegmentInfo, ...] = ()
    staged: dict[str, bytes] = {}
    streamed_staged: set[str] = set()
    store = MemoryStore()
    files = SegmentFiles(store)
    for batch in range(20):
        new = rows(300, batch * 300, seed=batch)
        memory, objects = add_rows(memory, new, lambda s: _read(staged, s))
        staged.update(objects)
        streamed, objects = add_rows(streamed, new, never, files, stream_from=1000)
        for key, data in objects:
            store.create(key, data)
            streamed_staged.add(key)
        assert streamed == memory
    for s in memory:
        assert store.read(s.key, 1 << 24) == staged[s.key]
    big = [s for s in memory if s.rows >= 1000]
    assert big and not {s.key for s in big} & streamed_staged


def _read(objects: dict[str, bytes], info: SegmentInfo) -> list[bytes]:
    data = objects[info.key]
    out: list[bytes] = []
    for j in range(info.blocks):
        start = j * info.slot
        block = data[start : start + info.block_rows(j) * ROW_SIZE]
        out += [block[i : i + ROW_SIZE] for i in range(0, len(block), ROW_SIZE)]
    return out


def test_a_tampered_input_stops_the_merge_before_anything_is_created() -> None:
    store = MemoryStore()
    files = SegmentFiles(store)
    segments: tuple[SegmentInfo, ...] = ()
    for batch in range(3):
        segments, objects = add_rows(segments, rows(400, batch * 400, seed=batch), never)
        store.create_many(objects)
    victim = segments[0]
    data = bytearray(store.objects[victim.key])
    data[-40] ^= 1  # a row of the last block: only the root recomputed at the end sees it
    store.objects[victim.key] = bytes(data)
    before = set(store.objects)
    with pytest.raises(InconsistencyError, match=victim.key):
        add_rows(segments, rows(400, 1200, seed=9), never, files, stream_from=1000)
    assert set(store.objects) == before


def test_a_merge_of_rows_out_of_order_is_refused_not_endless() -> None:
    """A damaged input whose chunk is not sorted (its root is only checked once it is
    read to its end) stops the merge at once instead of spinning on it forever."""
    r = [make_row(bytes([i]) * 16, i) for i in range(11)]
    emitted: list[bytes] = []
    with pytest.raises(InconsistencyError, match="out of order"):
        merge_runs([iter([r[1] + r[9] + r[8] + r[3]]), iter([r[2] + r[10]])], emitted.append)
