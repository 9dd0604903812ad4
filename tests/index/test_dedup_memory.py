"""The sequencer's dedup against a segment with a wide error bound (a key with many
rows) streams the segment in runs of blocks instead of parsing huge windows
(docs/index.md "Memory"), with the same answer."""

from __future__ import annotations

import random

from tlog.index.head import IndexHead
from tlog.index.lookup import STREAM_BLOCKS, hits
from tlog.index.segment import BLOCK_ROWS, ROW_SIZE, build_packed, make_row


def test_wide_windows_are_streamed_with_the_same_answer() -> None:
    rnd = random.Random(3)
    popular = rnd.randbytes(16)
    rows = [make_row(popular if i % 3 == 0 else rnd.randbytes(16), i) for i in range(90_000)]
    rows.sort()
    info, data = build_packed(b"".join(rows))
    assert info.blocks > STREAM_BLOCKS and info.error > 10_000  # the popular key widens it
    head = IndexHead("o", 90_000, bytes(32), (info,))
    present = {rows[i][:16] for i in range(1, 90_000, 997)}  # the popular key among them
    keys = [*present, *(rnd.randbytes(16) for _ in range(5))]
    reads: list[int] = []

    def read_range(key: str, start: int, length: int) -> bytes:
        reads.append(length)
        return data[start : start + length]

    windowed = hits(head, keys, read_range)
    assert len(reads) == 1, "one round of coalesced windows"
    reads.clear()
    streamed = hits(head, keys, read_range, max_window_rows=1 << 14)
    assert streamed == windowed
    assert set(streamed) == present
    assert len(streamed[popular]) == 30_000
    assert sum(reads) == info.size
    assert max(reads) <= STREAM_BLOCKS * (BLOCK_ROWS * ROW_SIZE + 32 * info.height)
