"""Index segments: immutable sorted rows in blocks that carry their own proofs.

docs/index.md "Segments and the head". A row is a 16-byte key hash followed by the
entry's log index as a big-endian uint64 (24 bytes); rows sort by bytes, so by key hash
then index. A segment of n rows is cut into blocks of :data:`BLOCK_ROWS` rows (the last
may be shorter); block j is stored as its rows followed by its RFC 6962 inclusion path
in the tree whose leaves are the blocks' bytes, padded with zero hashes to the tree's
height. Every slot but the last has the same size, so the byte range of any run of
blocks follows from n alone, and one Range read returns rows *and* their proofs.

A segment is named by its tree root (``index/segments/<root hex>``); :class:`SegmentInfo`
is what the head says of it: rows, root and knots (row counts below evenly spaced key
hashes, for interpolation in big segments).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

from tlog import merkle
from tlog.codec import b64decode, b64encode
from tlog.errors import MalformedError, VerificationError
from tlog.index.keys import KEY_HASH_SIZE

__all__ = [
    "BLOCK_ROWS",
    "ROW_SIZE",
    "BlockStream",
    "SegmentInfo",
    "build",
    "build_file",
    "build_packed",
    "first_row",
    "make_row",
    "parse_rows",
    "sort_rows",
]

ROW_SIZE = KEY_HASH_SIZE + 8
BLOCK_ROWS = 256
#: Rows per knot interval, at most on average (docs/index.md "Knots").
KNOT_ROWS = 1 << 19
_KEYSPACE = 1 << (8 * KEY_HASH_SIZE)
#: Rows per group when bounding the interpolation error (:func:`_error`).
ERROR_GROUP = 64
#: Blocks :func:`build_file` reads at a time.
FILE_RUN_BLOCKS = 256
#: Rows from which :func:`sort_rows` sorts by buckets.
SORT_BUCKETS_FROM = 1 << 15


def make_row(key: bytes, index: int) -> bytes:
    return key + index.to_bytes(8, "big")


def row_index(row: bytes) -> int:
    return int.from_bytes(row[KEY_HASH_SIZE:ROW_SIZE], "big")


def knot_count(rows: int) -> int:
    """K, a power of two: one interval for small segments, ≤ KNOT_ROWS rows on average."""
    return 1 << max(0, math.ceil(math.log2(rows / KNOT_ROWS))) if rows > KNOT_ROWS else 1


@dataclass(frozen=True)
class SegmentInfo:
    """A live segment as the head lists it."""

    rows: int
    root: bytes
    #: Row counts with key hash below j·2^128/K, for j = 1..K-1 (K = knot_count(rows));
    #: a head line gives each as its difference from j·rows/K (a few digits).
    knots: tuple[int, ...] = ()
    #: The largest distance between a row's position and :meth:`estimate` of its key.
    error: int = 0

    def __post_init__(self) -> None:
        if self.rows < 1 or len(self.root) != 32 or not 0 <= self.error <= self.rows:
            raise MalformedError(
                "index segment: rows must be ≥ 1, the root 32 bytes, the error ≤ rows"
            )
        if len(self.knots) != knot_count(self.rows) - 1:
            raise MalformedError(f"index segment of {self.rows} rows has {len(self.knots)} knots")
        knots = self.knots
        if list(knots) != sorted(knots) or any(not 0 <= k <= self.rows for k in knots):
            raise MalformedError("index segment knots are not ascending row counts")

    @property
    def key(self) -> str:
        return f"index/segments/{self.root.hex()}"

    @property
    def blocks(self) -> int:
        return -(-self.rows // BLOCK_ROWS)

    @property
    def height(self) -> int:
        return (self.blocks - 1).bit_length()

    @property
    def slot(self) -> int:
        return BLOCK_ROWS * ROW_SIZE + self.height * 32

    @property
    def size(self) -> int:
        """The segment object's length in bytes."""
        return (
            (self.blocks - 1) * self.slot
            + self.block_rows(self.blocks - 1) * ROW_SIZE
            + (self.height * 32)
        )

    def block_rows(self, j: int) -> int:
        return min(BLOCK_ROWS, self.rows - j * BLOCK_ROWS)

    def byte_range(self, first: int, last: int) -> tuple[int, int]:
        """(offset, length) of blocks ``first..last`` inclusive."""
        end = last * self.slot + self.block_rows(last) * ROW_SIZE + self.height * 32
        return first * self.slot, end - first * self.slot

    def estimate(self, key: bytes) -> int:
        """Where ``key``'s rows are expected: linear interpolation in its knot interval
        (integers only, so writer and reader agree to the row)."""
        k = len(self.knots) + 1
        x = int.from_bytes(key, "big")
        width = _KEYSPACE // k
        j = x // width
        lo = self.knots[j - 1] if j else 0
        hi = self.knots[j] if j < k - 1 else self.rows
        return lo + (hi - lo) * (x - j * width) // width

    def window(self, key: bytes) -> tuple[int, int]:
        """Rows [a, b) that bracket ``key`` if :attr:`error` is honest: row a - 1 (if
        any) has a smaller key, row b (if any) a larger one. Proof: a row at p ≤ a with
        a key ≥ ``key`` would have p ≥ estimate(its key) - error ≥ estimate(key) - error
        > a (the estimate is monotone); likewise on the right (docs/index.md)."""
        est = self.estimate(key)
        return max(0, est - self.error - 1), min(self.rows, est + self.error + 2)

    def format(self) -> str:
        parts = [str(self.rows), b64encode(self.root), str(self.error)]
        if self.knots:
            k = len(self.knots) + 1
            parts.append(",".join(str(x - j * self.rows // k) for j, x in enumerate(self.knots, 1)))
        return " ".join(parts)

    @classmethod
    def parse(cls, line: str) -> SegmentInfo:
        parts = line.split(" ")
        try:
            if len(parts) not in (3, 4) or not all(
                p.isdigit() and len(p) <= 19 for p in (parts[0], parts[2])
            ):
                raise ValueError("fields")
            knots: list[int] = []
            if len(parts) == 4:
                devs = parts[3].split(",")
                rows = int(parts[0])
                for j, d in enumerate(devs, 1):
                    if len(d) > 20 or str(int(d)) != d:
                        raise ValueError("knot")
                    knots.append(j * rows // (len(devs) + 1) + int(d))
            root = b64decode(parts[1], "segment root")
        except (ValueError, MalformedError):
            raise MalformedError(f"index head: bad segment line {line[:80]!r}") from None
        return cls(int(parts[0]), root, tuple(knots), int(parts[2]))


def sort_rows(rows: list[bytes]) -> list[bytes]:
    """``rows`` in order. A big batch's rows are first dealt into 256 buckets by their
    first byte (key hashes are uniform) and each bucket sorted: fewer comparisons, on
    lists that fit in the processor's cache (about twice as fast for millions)."""
    if len(rows) < SORT_BUCKETS_FROM:
        return sorted(rows)
    buckets: list[list[bytes]] = [[] for _ in range(256)]
    put = [b.append for b in buckets]
    for row in rows:
        put[row[0]](row)
    out: list[bytes] = []
    for bucket in buckets:
        bucket.sort()
        out += bucket
    return out


def build(rows: Sequence[bytes]) -> tuple[SegmentInfo, bytes]:
    """The segment of ``rows`` (sorted, distinct, each ROW_SIZE bytes) and its bytes."""
    return build_packed(b"".join(rows))


def build_packed(packed: bytes) -> tuple[SegmentInfo, bytes]:
    """:func:`build` of rows given as one sorted buffer of ROW_SIZE-byte rows."""
    n, step = len(packed) // ROW_SIZE, BLOCK_ROWS * ROW_SIZE
    blocks = [packed[i : i + step] for i in range(0, len(packed), step)]
    levels = _levels([merkle.leaf_hash(b) for b in blocks])
    height = len(levels) - 1
    parts: list[bytes] = []
    for j, block in enumerate(blocks):
        parts.append(block)
        path = _path(levels, j)
        parts.extend(path)
        parts.append(bytes(32 * (height - len(path))))
    info = SegmentInfo(n, levels[-1][0], _knots(packed))
    return replace(info, error=_error(info, packed)), b"".join(parts)


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Every level of the RFC 6962 tree over ``hashes``, bottom-up (an odd last node is
    promoted unchanged, which is RFC 6962's split at the largest power of two)."""
    levels = [hashes]
    node = merkle.node_hash
    while len(levels[-1]) > 1:
        below = levels[-1]
        up = [node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            up.append(below[-1])
        levels.append(up)
    return levels


def _path(levels: list[list[bytes]], j: int) -> list[bytes]:
    """The inclusion path of leaf ``j``: its sibling at each level that has one."""
    path = []
    for level in levels[:-1]:
        sibling = j ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        j >>= 1
    return path


def _knots(packed: bytes) -> tuple[int, ...]:
    """Rows with key hash below j·2^128/K for j = 1..K-1 (binary search in the buffer)."""
    n = len(packed) // ROW_SIZE
    k = knot_count(n)
    width = _KEYSPACE // k
    return tuple(
        first_row(packed, (j * width).to_bytes(KEY_HASH_SIZE, "big"), n) for j in range(1, k)
    )


def first_row(packed: bytes, key: bytes, n: int) -> int:
    """The first of the ``n`` sorted rows in ``packed`` whose key hash is not below
    ``key`` (``n`` if none): a binary search in the buffer."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if packed[mid * ROW_SIZE : mid * ROW_SIZE + KEY_HASH_SIZE] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


class BlockStream:
    """A whole segment read in order, a run of blocks at a time, authenticated at the
    end by recomputing its root from every block (cheaper than each block's path when
    every block is read; the paths in the data are skipped). Memory: one hash per
    level of the block tree."""

    def __init__(self, info: SegmentInfo) -> None:
        self.info = info
        self.blocks = 0
        self._stack: list[tuple[int, bytes]] = []

    def add(self, data: bytes) -> list[bytes]:
        """The blocks of the next run ``data`` (not yet authenticated: see :meth:`check`)."""
        info, out, pos = self.info, [], 0
        while pos < len(data):
            if self.blocks >= info.blocks:
                raise VerificationError(f"index segment {info.key}: data past its last block")
            end = pos + info.block_rows(self.blocks) * ROW_SIZE
            if end + 32 * info.height > len(data):
                raise VerificationError(
                    f"index segment {info.key}: block {self.blocks} is truncated"
                )
            block = data[pos:end]
            out.append(block)
            self._push(merkle.leaf_hash(block))
            pos, self.blocks = end + 32 * info.height, self.blocks + 1
        return out

    def _push(self, h: bytes) -> None:
        stack, size = self._stack, 1
        while stack and stack[-1][0] == size:
            h, size = merkle.node_hash(stack.pop()[1], h), size * 2
        stack.append((size, h))

    def check(self) -> None:
        """VerificationError unless every block was read and they make the head's root."""
        info = self.info
        if self.blocks != info.blocks or merkle.fold([h for _, h in self._stack]) != info.root:
            raise VerificationError(
                f"index segment {info.key}: the block data does not match the head's root "
                "(a row missing, added or changed, or another object)"
            )


def _error(info: SegmentInfo, packed: bytes, at: int = 0) -> int:
    """A bound on |position − estimate(key)| over the rows ``packed`` holds from row
    ``at`` (a multiple of :data:`ERROR_GROUP`), from every :data:`ERROR_GROUP`-th row:
    a row at p in the group [p0, p1] has estimate(key_p0) ≤ estimate(key_p) ≤
    estimate(key_p1), so its distance is at most max(estimate(key_p1) − p0,
    p1 − estimate(key_p0)) (a bound a few rows loose, at 1/ERROR_GROUP of the cost of
    measuring every row)."""
    n, worst, est = len(packed) // ROW_SIZE, 0, info.estimate
    for p0 in range(0, n, ERROR_GROUP):
        p1 = min(n, p0 + ERROR_GROUP) - 1
        first = est(packed[p0 * ROW_SIZE : p0 * ROW_SIZE + KEY_HASH_SIZE])
        last = est(packed[p1 * ROW_SIZE : p1 * ROW_SIZE + KEY_HASH_SIZE])
        worst = max(worst, last - (at + p0), (at + p1) - first)
    return min(worst, info.rows)


def build_file(src: BinaryIO, rows: int, out: BinaryIO) -> SegmentInfo:
    """:func:`build_packed` of the ``rows`` sorted distinct rows in the file ``src``
    (from offset 0), the segment's bytes written to ``out``: byte-identical, in two
    passes over ``src`` (the block hashes and knots, then the blocks with their
    paths and the error bound). Memory: one run of blocks and the block tree's hashes
    (about 64 bytes per block), never the rows."""
    step, run = BLOCK_ROWS * ROW_SIZE, FILE_RUN_BLOCKS * BLOCK_ROWS * ROW_SIZE
    k = knot_count(rows)
    bounds = [(j * (_KEYSPACE // k)).to_bytes(KEY_HASH_SIZE, "big") for j in range(1, k)]
    hashes: list[bytes] = []
    knots: list[int] = []
    leaf, at = merkle.leaf_hash, 0
    src.seek(0)
    while chunk := src.read(run):
        hashes += [leaf(chunk[i : i + step]) for i in range(0, len(chunk), step)]
        n = len(chunk) // ROW_SIZE
        while len(knots) < len(bounds) and chunk[-ROW_SIZE:-8] >= bounds[len(knots)]:
            knots.append(at + first_row(chunk, bounds[len(knots)], n))
        at += n
    if at != rows or at * ROW_SIZE != src.tell():
        raise MalformedError(f"index segment: the file holds {at} rows, not {rows}")
    knots += [rows] * (len(bounds) - len(knots))
    levels = _levels(hashes)
    height = len(levels) - 1
    info = SegmentInfo(rows, levels[-1][0], tuple(knots))
    worst, at, j = 0, 0, 0
    src.seek(0)
    while chunk := src.read(run):
        parts: list[bytes] = []
        for i in range(0, len(chunk), step):
            parts.append(chunk[i : i + step])
            path = _path(levels, j)
            parts += path
            parts.append(bytes(32 * (height - len(path))))
            j += 1
        out.write(b"".join(parts))
        worst = max(worst, _error(info, chunk, at))
        at += len(chunk) // ROW_SIZE
    out.flush()
    return replace(info, error=worst)


def parse_rows(info: SegmentInfo, first: int, data: bytes) -> list[bytes]:
    """The rows of the run of blocks starting at block ``first`` that ``data`` holds,
    each block authenticated by its path to ``info.root``; VerificationError if not."""
    out: list[bytes] = []
    pos, j = 0, first
    while pos < len(data):
        if j >= info.blocks:
            raise VerificationError(f"index segment {info.key}: data past its last block")
        n = info.block_rows(j)
        end = pos + n * ROW_SIZE
        block = data[pos:end]
        need = (j ^ (info.blocks - 1)).bit_length()
        need += (j >> need).bit_count()
        path = [data[end + 32 * i : end + 32 * i + 32] for i in range(need)]
        if end + 32 * info.height > len(data) or len(block) != n * ROW_SIZE:
            raise VerificationError(f"index segment {info.key}: block {j} is truncated")
        try:
            merkle.verify_inclusion(j, info.blocks, merkle.leaf_hash(block), path, info.root)
        except VerificationError:
            raise VerificationError(
                f"index segment {info.key}: block {j} does not match the head's root "
                "(a row missing, added or changed, or another object)"
            ) from None
        out.extend(block[i : i + ROW_SIZE] for i in range(0, len(block), ROW_SIZE))
        pos, j = end + 32 * info.height, j + 1
    return out
