"""The index check: the published index holds exactly the rows the entries produce.

docs/monitor.md "The index check". The monitor recomputes the rows of the entries it
scans (:func:`tlog.index.writer.rows_of`, the sequencer's own code) and compares them
with the rows of the verified index head whose entry index falls in the scanned range.
Rows of entries below that range were checked by an earlier run, and a segment the
previous head already listed holds none of the new entries' rows, so only the
segments new since then are read, streamed a run of blocks at a time (each block
authenticated against its segment root by :func:`tlog.index.segment.parse_rows`).

Memory stays flat: both sides are folded into a :class:`RowDigest`, a count and a sum
of keyed BLAKE2b hashes of the rows modulo 2^128. The key is drawn afresh for each run,
after the log published its index, so a log cannot choose rows whose sums collide;
the chance of equal digests for different row sets is 2^-128. Up to
:data:`DETAIL_ROWS` rows the rows themselves are kept too, so a mismatch names them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

from tlog.errors import TlogError, VerificationError
from tlog.fetch import Fetcher
from tlog.index.head import IndexHead
from tlog.index.segment import SegmentInfo, parse_rows, row_index
from tlog.monitor.finding import Finding

__all__ = ["DETAIL_ROWS", "RowDigest", "check_index"]

DETAIL_ROWS = 1 << 18
#: Blocks read per range request when streaming a segment.
BLOCKS_PER_READ = 256
_MOD = 1 << 128


class RowDigest:
    """A multiset digest of index rows whose entry index lies in ``[lo, hi)``."""

    def __init__(self, lo: int, hi: int, key: bytes | None = None) -> None:
        self.lo, self.hi = lo, hi
        self.key = key if key is not None else os.urandom(32)
        self.count = 0
        self.total = 0
        self.rows: set[bytes] | None = set()

    def fresh(self) -> RowDigest:
        """An empty digest of the same range and key."""
        return RowDigest(self.lo, self.hi, self.key)

    def add(self, rows: Iterable[bytes]) -> None:
        key, lo, hi, blake = self.key, self.lo, self.hi, hashlib.blake2b
        total, count = self.total, self.count
        kept = self.rows
        for row in rows:
            if not lo <= int.from_bytes(row[16:24], "big") < hi:
                continue
            total += int.from_bytes(blake(row, digest_size=16, key=key).digest(), "big")
            count += 1
            if kept is not None:
                kept.add(row)
                if len(kept) > DETAIL_ROWS:
                    kept = None
        self.total, self.count, self.rows = total % _MOD, count, kept

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RowDigest)
            and (self.count, self.total) == (other.count, other.total)
            and self.key == other.key
        )

    def __hash__(self) -> int:
        return hash((self.count, self.total))


def segment_rows(fetcher: Fetcher, info: SegmentInfo) -> Iterable[list[bytes]]:
    """The rows of a segment, a run of authenticated blocks at a time."""
    for first in range(0, info.blocks, BLOCKS_PER_READ):
        last = min(info.blocks, first + BLOCKS_PER_READ) - 1
        off, length = info.byte_range(first, last)
        try:
            yield parse_rows(info, first, fetcher.fetch_range(info.key, off, length))
        except (TlogError, ValueError) as exc:
            raise VerificationError(f"index segment {info.key}: {exc}") from None


def check_index(
    fetcher: Fetcher, head: IndexHead, known: Sequence[str], expected: RowDigest
) -> Finding | None:
    """Compare ``expected`` with the rows of ``head``'s segments not in ``known`` (roots
    in hex) for the same range; a Finding of kind index-mismatch if they differ, or if
    a row names an entry past the head's size."""
    published = expected.fresh()
    past: list[bytes] = []
    for info in head.segments:
        if info.root.hex() in known:
            continue
        for rows in segment_rows(fetcher, info):
            published.add(rows)
            past.extend(r for r in rows if row_index(r) >= head.size)
    if published == expected and not past:
        return None
    evidence: dict[str, object] = {
        "size": head.size,
        "range": [expected.lo, expected.hi],
        "expected_rows": expected.count,
        "published_rows": published.count,
    }
    if expected.rows is not None and published.rows is not None:
        missing = sorted(expected.rows - published.rows)
        extra = sorted(published.rows - expected.rows)
        evidence["missing"] = [_text(r) for r in missing[:100]]
        evidence["extra"] = [_text(r) for r in extra[:100]]
    if past:
        evidence["past_size"] = [_text(r) for r in past[:100]]
    return Finding(
        "index-mismatch",
        f"the index of size {head.size} lists {published.count} rows for entries "
        f"{expected.lo}..{expected.hi - 1}, the entries make {expected.count}"
        + (f"; {len(past)} rows name entries past the log's size" if past else ""),
        evidence=evidence,
    )


def _text(row: bytes) -> str:
    """A row as ``<key hash hex>@<entry index>``."""
    return f"{row[:16].hex()}@{row_index(row)}"
