"""The index check: the published index holds exactly the rows the entries produce.

docs/monitor.md "The index check". The monitor recomputes the rows of the entries it
scans (:func:`tlog.index.writer.rows_of`, the sequencer's own code) and compares them
with the rows of the verified index head whose entry index falls in the scanned range.
Rows of entries below that range were checked by an earlier run, and a segment the
previous head already listed holds none of the new entries' rows, so only the
segments new since then are read, streamed a run of blocks at a time (each block
authenticated against its segment root by :func:`tlog.index.segment.parse_rows`).

Memory stays flat: both sides are folded into a :class:`RowDigest`, a count and a
polynomial hash of the multiset of rows at a point drawn afresh for each run, after
the log published its index (so a log cannot choose rows that collide). Both sides are
folded in worker processes when there are any (the digest is a product: parts
multiply). Only when they differ, and the range holds at most :data:`DETAIL_ROWS` rows,
are both sides' rows listed again, so that the finding names the rows missing and extra.
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future

from tlog.errors import TlogError, VerificationError
from tlog.fetch import Fetcher
from tlog.index.head import IndexHead
from tlog.index.segment import SegmentInfo, parse_rows, row_index
from tlog.monitor.finding import Finding

__all__ = ["DETAIL_ROWS", "RowDigest", "check_index"]

DETAIL_ROWS = 1 << 18
#: Blocks read per range request when streaming a segment.
BLOCKS_PER_READ = 256
_P = (1 << 255) - 19


class RowDigest:
    """A multiset digest of index rows whose entry index lies in ``[lo, hi)``: the
    product of (K − row) modulo the prime 2^255 − 19, rows read as integers, K drawn at
    random. Two different multisets of n rows are two different polynomials in K of
    degree n, equal at a random K with probability at most n / 2^254 (Schwartz–Zippel);
    K is drawn after the log published its index, so no choice of rows helps a log."""

    def __init__(self, lo: int, hi: int, key: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        self.key = key if key is not None else _P // 2 + secrets.randbelow(_P // 2)
        self.count = 0
        self.product = 1

    def fresh(self) -> RowDigest:
        """An empty digest of the same range and key."""
        return RowDigest(self.lo, self.hi, self.key)

    def add(self, rows: Sequence[bytes], *, in_range: bool = False) -> None:
        """Fold in the rows of ``rows`` in range (all of them with ``in_range``)."""
        if not in_range:
            lo, hi = self.lo.to_bytes(8, "big"), self.hi.to_bytes(8, "big")
            rows = [r for r in rows if lo <= r[16:24] < hi]  # big-endian: bytes order
        self.merge(*fold(rows, self.key))

    def merge(self, count: int, product: int) -> None:
        """Fold in a part folded elsewhere (:func:`fold`, with this digest's key)."""
        self.count += count
        self.product = self.product * product % _P

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowDigest) and (self.count, self.product, self.key) == (
            other.count,
            other.product,
            other.key,
        )

    def __hash__(self) -> int:
        return hash((self.count, self.product))


def fold(rows: Sequence[bytes], key: int) -> tuple[int, int]:
    """(count, product) of ``rows`` at ``key``: a part of a :class:`RowDigest`."""
    acc, fb = 1, int.from_bytes
    for row in rows:
        acc = acc * (key - fb(row, "big")) % _P
    return len(rows), acc


def fold_blocks(
    info: SegmentInfo, first: int, data: bytes, key: int, lo: int, hi: int, size: int
) -> tuple[int, int, list[bytes]]:
    """A run of a segment's blocks, authenticated: the fold of its rows in ``[lo, hi)``
    and the rows naming entries at or past ``size`` (a worker's task)."""
    try:
        rows = parse_rows(info, first, data)
    except (TlogError, ValueError) as exc:
        raise VerificationError(f"index segment {info.key}: {exc}") from None
    lo_b, hi_b, end = lo.to_bytes(8, "big"), hi.to_bytes(8, "big"), size.to_bytes(8, "big")
    count, product = fold([r for r in rows if lo_b <= r[16:24] < hi_b], key)
    return count, product, [r for r in rows if r[16:24] >= end]


def _ranges(info: SegmentInfo) -> Iterator[tuple[int, int, int]]:
    """(first block, offset, length) of each run of blocks read at once."""
    for first in range(0, info.blocks, BLOCKS_PER_READ):
        last = min(info.blocks, first + BLOCKS_PER_READ) - 1
        yield (first, *info.byte_range(first, last))


def segment_rows(fetcher: Fetcher, info: SegmentInfo) -> Iterable[list[bytes]]:
    """The rows of a segment, a run of authenticated blocks at a time."""
    for first, off, length in _ranges(info):
        try:
            yield parse_rows(info, first, fetcher.fetch_range(info.key, off, length))
        except (TlogError, ValueError) as exc:
            raise VerificationError(f"index segment {info.key}: {exc}") from None


def check_index(
    fetcher: Fetcher,
    head: IndexHead,
    known: Sequence[str],
    expected: RowDigest,
    pool: Executor | None = None,
    expected_rows: Callable[[], Iterable[bytes]] | None = None,
) -> Finding | None:
    """Compare ``expected`` with the rows of ``head``'s segments not in ``known`` (roots
    in hex) for the same range; a Finding of kind index-mismatch if they differ, or if
    a row names an entry past the head's size. With ``pool``, runs of blocks are folded
    in its workers (a few in flight at a time: memory stays flat). If they differ and
    the range holds at most :data:`DETAIL_ROWS` rows, ``expected_rows`` lists the
    entries' rows again so that the finding names the rows missing and extra."""
    new = [info for info in head.segments if info.root.hex() not in known]
    published, past = _published(fetcher, new, expected, head.size, pool)
    if published == expected and not past:
        return None
    evidence: dict[str, object] = {
        "size": head.size,
        "range": [expected.lo, expected.hi],
        "expected_rows": expected.count,
        "published_rows": published.count,
    }
    small = max(expected.count, published.count) <= DETAIL_ROWS
    if small and expected_rows is not None:
        mine = Counter(expected_rows())
        lo, hi = expected.lo.to_bytes(8, "big"), expected.hi.to_bytes(8, "big")
        theirs = Counter(
            r for info in new for rows in segment_rows(fetcher, info) for r in rows
            if lo <= r[16:24] < hi
        )  # fmt: skip
        evidence["missing"] = [_text(r) for r in sorted((mine - theirs).elements())[:100]]
        evidence["extra"] = [_text(r) for r in sorted((theirs - mine).elements())[:100]]
    if past:
        evidence["past_size"] = [_text(r) for r in past[:100]]
    return Finding(
        "index-mismatch",
        f"the index of size {head.size} lists {published.count} rows for entries "
        f"{expected.lo}..{expected.hi - 1}, the entries make {expected.count}"
        + (f"; {len(past)} rows name entries past the log's size" if past else ""),
        evidence=evidence,
    )


def _published(
    fetcher: Fetcher,
    segments: Sequence[SegmentInfo],
    expected: RowDigest,
    size: int,
    pool: Executor | None,
) -> tuple[RowDigest, list[bytes]]:
    """The digest of the rows of ``segments`` in ``expected``'s range, and the rows
    naming entries at or past ``size``; folded in ``pool``'s workers if given."""
    published = expected.fresh()
    past: list[bytes] = []
    lo, hi, key = expected.lo, expected.hi, expected.key
    if pool is None:
        for info in segments:
            for first, off, length in _ranges(info):
                data = fetcher.fetch_range(info.key, off, length)
                _collect(fold_blocks(info, first, data, key, lo, hi, size), published, past)
        return published, past
    pending: deque[Future[tuple[int, int, list[bytes]]]] = deque()
    for info in segments:
        for first, off, length in _ranges(info):
            data = fetcher.fetch_range(info.key, off, length)
            pending.append(pool.submit(fold_blocks, info, first, data, key, lo, hi, size))
            while len(pending) > 4:
                _collect(pending.popleft().result(), published, past)
    while pending:
        _collect(pending.popleft().result(), published, past)
    return published, past


def _collect(part: tuple[int, int, list[bytes]], into: RowDigest, past: list[bytes]) -> None:
    count, product, beyond = part
    into.merge(count, product)
    past.extend(beyond)


def _text(row: bytes) -> str:
    """A row as ``<key hash hex>@<entry index>``."""
    return f"{row[:16].hex()}@{row_index(row)}"
