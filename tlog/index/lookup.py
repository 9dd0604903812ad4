"""Answering key lookups from an index head, every answer proven complete.

docs/index.md "Lookups and proofs". IO is injected: ``read_range(key, offset, length)``
returns those bytes of a public object, and ``run`` runs a list of reads (in parallel,
for a reader over HTTP: one round trip). For each live segment and key the reader
fetches the blocks of the window the head's interpolation error bound gives, in one
round for all segments, authenticates every block by its path to the segment root in the
(already verified) head, and accepts the window only if its rows *bracket* the key — the
first row read is the segment's first or smaller than the key, the last row read is the
segment's last or larger. Rows are sorted, so then every row of the key lies inside: the
answer is complete, absence included. An honest bound always brackets, so a window that
does not is a lying head: refused, never widened (no further round trip). A big set of
keys (dedup of a large batch) reads whole segments instead, joined with the keys.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlog.errors import MalformedError, VerificationError
from tlog.index.head import IndexHead
from tlog.index.keys import KEY_HASH_SIZE
from tlog.index.segment import (
    BLOCK_ROWS,
    ROW_SIZE,
    BlockStream,
    SegmentInfo,
    first_row,
    parse_rows,
    row_index,
)

__all__ = ["Runner", "Stats", "hits", "lookup"]

ReadRange = Callable[[str, int, int], bytes]
Runner = Callable[[list[Callable[[], bytes]]], list[bytes]]
#: Blocks per read when streaming a whole segment (≈ 1.6 MiB of rows).
STREAM_BLOCKS = 256
#: Rows per wanted key from which a bulk join searches each key instead of every row
#: (a binary search costs about as much as scanning this many rows in C).
SPARSE = 128
#: Bytes of a key hash a bulk join first compares, as one machine word.
_WORD = 8


@dataclass
class Stats:
    """What a lookup cost: rounds of parallel requests, requests and bytes."""

    rounds: int = 0
    requests: int = 0
    bytes: int = 0
    per_round: list[int] = field(default_factory=list)


def _sequential(reads: list[Callable[[], bytes]]) -> list[bytes]:
    return [r() for r in reads]


def lookup(
    head: IndexHead,
    keys: Sequence[bytes],
    read_range: ReadRange,
    *,
    run: Runner = _sequential,
    stats: Stats | None = None,
) -> dict[bytes, list[int]]:
    """Each key hash → the ascending log indices of its rows in ``head``'s segments."""
    found = hits(head, keys, read_range, run=run, stats=stats)
    return {k: sorted(found.get(k, ())) for k in keys}


def hits(
    head: IndexHead,
    keys: Sequence[bytes],
    read_range: ReadRange,
    *,
    run: Runner = _sequential,
    stats: Stats | None = None,
    max_window_rows: int | None = None,
) -> dict[bytes, set[int]]:
    """:func:`lookup`, only the keys with a hit (what dedup of a big batch needs).

    ``max_window_rows``: a segment whose windows would hold more rows than this (a wide
    error bound: a key with many rows) is streamed instead, so memory stays bounded by
    a run of blocks (the sequencer's dedup, docs/index.md "Memory")."""
    stats = stats if stats is not None else Stats()
    keyset = set(keys)
    if any(len(k) != KEY_HASH_SIZE for k in keyset):  # the bulk join reads keys by stride
        raise ValueError(f"index key hashes are {KEY_HASH_SIZE} bytes")
    bulk = _Bulk(keyset)
    found: dict[bytes, set[int]] = {}
    windowed: list[SegmentInfo] = []
    whole: list[SegmentInfo] = []
    for seg in head.segments:
        # At least as many keys as blocks (dedup of a large batch): every block is
        # needed anyway, so read the segment whole and join it with the keys; a big one
        # in chunks. Otherwise a window per key. Windows and small whole segments share
        # one parallel round.
        window_rows = min(seg.rows, len(keyset) * (2 * seg.error + 3))
        wide = max_window_rows is not None and window_rows > max_window_rows
        if len(keyset) < seg.blocks and not wide:
            windowed.append(seg)
        elif seg.blocks <= STREAM_BLOCKS:
            whole.append(seg)
        else:
            _stream(seg, bulk, found, read_range, stats)
    if windowed or whole:
        _windows(windowed, whole, bulk, found, read_range, run, stats)
    return found


def _join(seg: SegmentInfo, blocks: list[bytes], keys: _Bulk, found: dict[bytes, set[int]]) -> None:
    """The rows of ``blocks`` (of ``seg``) whose key is wanted, into ``found``. Many
    keys per block: the first word of every row, read in C as integers, intersected
    with the keys' first words (the hits are few, the rows many), each common word
    then found by binary search; few keys: a binary search in the block for each key
    between its first and last row."""
    if keys.sparse(seg):
        wanted = keys.ordered()
        for block in blocks:
            lo = bisect.bisect_left(wanted, block[:KEY_HASH_SIZE])
            hi = bisect.bisect_right(wanted, block[-ROW_SIZE:-8])
            for key in wanted[lo:hi]:
                _search(block, key, found)
        return
    packed = b"".join(blocks)
    common = keys.words().intersection(memoryview(packed).cast("Q")[:: ROW_SIZE // _WORD])
    n = len(packed) // ROW_SIZE
    for word in common:
        prefix = word.to_bytes(_WORD, sys.byteorder)
        at = first_row(packed, prefix, n) * ROW_SIZE
        while packed[at : at + _WORD] == prefix:
            if packed[at : at + KEY_HASH_SIZE] in keys.keyset:
                key = packed[at : at + KEY_HASH_SIZE]
                found.setdefault(key, set()).add(row_index(packed[at : at + ROW_SIZE]))
            at += ROW_SIZE


class _Bulk:
    """The keys of a bulk join, prepared once per lookup as the segments need them:
    sorted (a search per key), or by their first words as integers (a join by words)."""

    def __init__(self, keyset: set[bytes]) -> None:
        self.keyset = keyset
        self._ordered: list[bytes] | None = None
        self._words: set[int] | None = None

    def sparse(self, seg: SegmentInfo) -> bool:
        """Whether ``seg`` has so many rows per key that searching each key is cheaper."""
        return len(self.keyset) * SPARSE <= seg.rows

    def ordered(self) -> list[bytes]:
        if self._ordered is None:
            self._ordered = sorted(self.keyset)
        return self._ordered

    def words(self) -> set[int]:
        if self._words is None:
            joined = memoryview(b"".join(self.keyset)).cast("Q")
            self._words = set(joined[:: KEY_HASH_SIZE // _WORD])
        return self._words


def _search(block: bytes, key: bytes, found: dict[bytes, set[int]]) -> None:
    """The rows of ``key`` in one sorted block, into ``found``."""
    lo = first_row(block, key, len(block) // ROW_SIZE)
    while block[lo * ROW_SIZE : lo * ROW_SIZE + KEY_HASH_SIZE] == key:
        found.setdefault(key, set()).add(row_index(block[lo * ROW_SIZE :]))
        lo += 1


def _stream(
    seg: SegmentInfo,
    wanted: _Bulk,
    found: dict[bytes, set[int]],
    read_range: ReadRange,
    stats: Stats,
) -> None:
    """Read the whole segment in runs of blocks, joined with the keys; the hits count
    only once every block is read and the blocks make the segment's root."""
    stream, mine = BlockStream(seg), dict[bytes, set[int]]()
    for first in range(0, seg.blocks, STREAM_BLOCKS):
        last = min(seg.blocks, first + STREAM_BLOCKS) - 1
        off, length = seg.byte_range(first, last)
        data = _read(read_range, seg.key, off, length)
        stats.rounds += 1
        stats.requests += 1
        stats.bytes += len(data)
        _join(seg, stream.add(data), wanted, mine)
    stream.check()
    for key, indices in mine.items():
        found.setdefault(key, set()).update(indices)


def _windows(
    windowed: list[SegmentInfo],
    whole: list[SegmentInfo],
    bulk: _Bulk,
    found: dict[bytes, set[int]],
    read_range: ReadRange,
    run: Runner,
    stats: Stats,
) -> None:
    segs = windowed + whole
    pending = {(si, k): seg.window(k) for si, seg in enumerate(windowed) for k in bulk.keyset}
    cache: dict[tuple[int, int], list[bytes]] = {}
    extra = [(si, 0, segs[si].blocks - 1) for si in range(len(windowed), len(segs))]
    datas = _fetch(segs, pending, cache, read_range, run, stats, extra)
    for seg, data in zip(whole, datas, strict=True):
        stream, mine = BlockStream(seg), dict[bytes, set[int]]()
        _join(seg, stream.add(data), bulk, mine)
        stream.check()
        for key, indices in mine.items():
            found.setdefault(key, set()).update(indices)
    for (si, key), (a, b) in pending.items():
        seg = segs[si]
        fa, fb = a // BLOCK_ROWS, (b - 1) // BLOCK_ROWS
        rows = [r for j in range(fa, fb + 1) for r in cache[(si, j)]]
        left = fa == 0 or rows[0][:KEY_HASH_SIZE] < key
        right = fb == seg.blocks - 1 or rows[-1][:KEY_HASH_SIZE] > key
        if not (left and right):
            raise VerificationError(
                f"index segment {seg.key}: the rows around key {key.hex()} lie outside the "
                f"window its head's error bound ({seg.error} rows) promises"
            )
        lo = bisect.bisect_left(rows, key)
        hi = bisect.bisect_left(rows, key + b"\xff" * 9)
        if hi > lo:
            found.setdefault(key, set()).update(row_index(r) for r in rows[lo:hi])


def _fetch(
    segs: list[SegmentInfo],
    pending: dict[tuple[int, bytes], tuple[int, int]],
    cache: dict[tuple[int, int], list[bytes]],
    read_range: ReadRange,
    run: Runner,
    stats: Stats,
    extra: list[tuple[int, int, int]],
) -> list[bytes]:
    """One round: the missing blocks of every window, coalesced per segment, into
    ``cache`` (each block authenticated by its path); and the ``extra`` block runs
    (segment, first, last), whose bytes are returned, unauthenticated."""
    need: dict[int, set[int]] = {}
    for (si, _), (a, b) in pending.items():
        for j in range(a // BLOCK_ROWS, (b - 1) // BLOCK_ROWS + 1):
            if (si, j) not in cache:
                need.setdefault(si, set()).add(j)
    runs: list[tuple[int, int, int]] = list(extra)
    for si, blocks in sorted(need.items()):
        ordered = sorted(blocks)
        start = prev = ordered[0]
        for j in ordered[1:]:
            if j != prev + 1:
                runs.append((si, start, prev))
                start = j
            prev = j
        runs.append((si, start, prev))
    if not runs:
        return []
    reads = []
    for si, first, last in runs:
        off, length = segs[si].byte_range(first, last)
        reads.append(_reader(read_range, segs[si].key, off, length))
    datas = run(reads)
    stats.rounds += 1
    stats.requests += len(reads)
    stats.per_round.append(len(reads))
    stats.bytes += sum(len(d) for d in datas)
    for (si, first, _), data in zip(runs[len(extra) :], datas[len(extra) :], strict=True):
        rows = parse_rows(segs[si], first, data)
        for j in range(first, first + -(-len(rows) // BLOCK_ROWS)):
            cache[(si, j)] = rows[(j - first) * BLOCK_ROWS : (j - first + 1) * BLOCK_ROWS]
    return datas[: len(extra)]


def _reader(read_range: ReadRange, key: str, off: int, length: int) -> Callable[[], bytes]:
    return lambda: _read(read_range, key, off, length)


def _read(read_range: ReadRange, key: str, off: int, length: int) -> bytes:
    """A block run; a segment shorter than its head says is a VerificationError."""
    try:
        return read_range(key, off, length)
    except MalformedError as exc:
        raise VerificationError(f"index segment {key} is not the head's: {exc}") from None
