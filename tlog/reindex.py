"""The audit's index check: the published index against the rows the entries give.

``tlog audit`` (:mod:`tlog.audit`) rebuilds every index row (docs/index.md: a 16-byte key
hash and an 8-byte log index, :data:`~tlog.index.segment.ROW_SIZE` bytes) from the
entries as it reads them, into :class:`Rows`, and :func:`check_index` then requires:

* every ``index/heads/<size>`` published indexes exactly checkpoint ``<size>`` (its
  origin, size and root), and
* the latest head's segments, each block authenticated by its path to the head's root
  (:func:`tlog.index.segment.parse_rows`), hold exactly the rebuilt rows: none missing,
  none extra, none repeated (an InconsistencyError naming the first of each).

Both sides are kept as ROW_SIZE-byte records in 256 byte strings by first byte: 48 bytes
of memory per row of the index, not a Python object per row on each side. A segment's
block runs are sorted (sorting one costs a comparison per row when it is, and sorts it
when it is not), so each is cut into its 256 pieces by binary search rather than row
by row. Buckets are compared as sets (plus a count, for rows repeated), one at a time.
"""

from __future__ import annotations

import struct
import threading
from bisect import bisect_left
from collections.abc import Sequence

from tlog import layout
from tlog.checkpoint import SignedCheckpoint
from tlog.errors import InconsistencyError, NotFoundError, TlogError, VerificationError
from tlog.fetch import Fetcher
from tlog.fetch.readahead import read_ahead
from tlog.index.head import MAX_HEAD_SIZE, IndexHead, open_head
from tlog.index.segment import ROW_SIZE, SegmentInfo, parse_rows, row_index
from tlog.note import Verifier

__all__ = ["RUN", "RUNS_IN_FLIGHT", "IndexRead", "Rows", "check_index"]

#: Blocks of a segment read at once (64 blocks of 256 rows: 384 KiB, 1 MiB once split
#: into rows): the audit reads them during its pass over the entries, so a few more
#: round trips cost it nothing, and memory is what they would hold.
RUN = 64
#: Runs read at once, whatever the audit's parallelism.
RUNS_IN_FLIGHT = 2
_RECORDS = struct.Struct(f"{ROW_SIZE}s")
#: The first row of each bucket but the first: where a sorted run is cut.
_CUTS = [bytes([i]) for i in range(1, 256)]


class Rows:
    """A multiset of index rows (ROW_SIZE bytes each), kept by first byte in 256 byte
    strings: no Python object per row."""

    def __init__(self) -> None:
        self.buckets = [bytearray() for _ in range(256)]
        self.count = 0

    def add(self, rows: Sequence[bytes]) -> None:
        """Add rows in any order (the entries' rows of one bundle)."""
        buckets = self.buckets
        for row in rows:
            buckets[row[0]] += row
        self.count += len(rows)

    def add_buckets(self, buckets: Sequence[bytes | bytearray]) -> None:
        """Add the rows of another multiset's 256 buckets (a worker's, say)."""
        for mine, theirs in zip(self.buckets, buckets, strict=True):
            mine += theirs
            self.count += len(theirs) // ROW_SIZE

    def add_run(self, rows: list[bytes]) -> None:
        """Add the rows of a run of a segment's blocks: sorted (in linear time when
        already ascending, as an honest segment's are), then cut into one piece per
        bucket by binary search (module docstring)."""
        rows.sort()
        start = 0
        for i, cut in enumerate(_CUTS):
            end = bisect_left(rows, cut, start)
            if end > start:
                self.buckets[i] += b"".join(rows[start:end])
            start = end
        self.buckets[255] += b"".join(rows[start:])
        self.count += len(rows)

    def bucket(self, i: int) -> list[bytes]:
        return [row for (row,) in _RECORDS.iter_unpack(self.buckets[i])]

    def compare(self, published: Rows) -> tuple[list[bytes], list[bytes], int]:
        """(rows here and not published, published and not here, published rows
        repeated), each list ascending; one bucket in memory at a time. Repeats here
        (an entry's key twice) count once, as the index lists them."""
        missing: list[bytes] = []
        extra: list[bytes] = []
        repeated = 0
        for i in range(256):
            want, got = set(self.bucket(i)), published.bucket(i)
            got_set = set(got)
            if want == got_set and len(got) == len(got_set):
                continue
            missing += sorted(want - got_set)
            extra += sorted(got_set - want)
            repeated += len(got) - len(got_set)
        return missing, extra, repeated


class IndexRead:
    """The published side of :func:`check_index`, read in a thread of its own (the
    audit starts it before its pass over the entries, which leaves this process idle
    while worker processes check the bundles); :meth:`check` waits for it, raises what
    reading raised, and compares. Errors come out there, in the audit's order. An audit
    that fails first calls :meth:`stop`: the thread fetches no further run."""

    def __init__(
        self,
        fetcher: Fetcher,
        latest: SignedCheckpoint,
        verifiers: Sequence[Verifier],
        roots: dict[int, bytes],
        parallel: int,
    ) -> None:
        self.latest = latest
        self._got: tuple[int, Rows | None] | BaseException | None = None
        self._stop = threading.Event()

        def read() -> None:
            try:
                self._got = _published(fetcher, latest, verifiers, roots, parallel, self._stop)
            except BaseException as exc:  # raised by check(), in the audit's thread
                self._got = exc

        self._thread = threading.Thread(target=read, name="tlog-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Have the thread end after the object it is reading (it holds what it read
        until then, and never waits for :meth:`check`); for an audit that failed."""
        self._stop.set()

    def check(self, rows: Rows) -> tuple[int, int | None]:
        """:func:`check_index`'s result, once the read is done."""
        self._thread.join()
        got = self._got
        if isinstance(got, BaseException) or got is None:
            raise got or RuntimeError("the index read ended without a result")
        return _checked(self.latest.checkpoint.size, rows, *got)


def check_index(
    fetcher: Fetcher,
    latest: SignedCheckpoint,
    verifiers: Sequence[Verifier],
    roots: dict[int, bytes],
    rows: Rows,
    parallel: int,
) -> tuple[int, int | None]:
    """Check the published index against ``rows`` (module docstring); ``roots`` is the
    root of every published checkpoint by size. (Index heads checked, rows of the
    latest index compared, or None if the latest checkpoint has no index.)"""
    return _checked(
        latest.checkpoint.size, rows, *_published(fetcher, latest, verifiers, roots, parallel)
    )


def _checked(size: int, rows: Rows, heads: int, published: Rows | None) -> tuple[int, int | None]:
    """The heads checked and, the rows compared, their count (None: no index)."""
    if published is None:
        return heads, None
    _compare(size, rows, published)
    return heads, published.count


def _published(
    fetcher: Fetcher,
    latest: SignedCheckpoint,
    verifiers: Sequence[Verifier],
    roots: dict[int, bytes],
    parallel: int,
    stop: threading.Event | None = None,
) -> tuple[int, Rows | None]:
    """The index heads checked, and the latest one's rows (None: it has none). Once
    ``stop`` is set it reads no further object (TlogError: stopped)."""

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise TlogError("the index read was stopped")

    cp = latest.checkpoint

    def opened(s: int) -> IndexHead | None:
        key = layout.index_history_key(s)
        try:
            return open_head(fetcher.fetch(key, MAX_HEAD_SIZE), verifiers)
        except NotFoundError:
            return None  # checkpoints published before the index was built
        except TlogError as exc:
            raise type(exc)(f"{key}: {exc}") from exc

    sizes = sorted(roots)
    head: IndexHead | None = None
    heads = 0
    for s, head in zip(sizes, read_ahead(opened, sizes, parallel), strict=True):
        if head is not None and (head.origin, head.size, head.root) != (cp.origin, s, roots[s]):
            key = layout.index_history_key(s)
            raise VerificationError(f"{key} does not index checkpoint {s}: stale or foreign")
        heads += head is not None
        check_stop()
    if head is None:
        return heads, None  # no index of the latest checkpoint (the last size)
    published = Rows()
    runs = [(seg, first) for seg in head.segments for first in range(0, seg.blocks, RUN)]
    in_flight = min(parallel, RUNS_IN_FLIGHT)
    for part in read_ahead(lambda run: _segment_rows(fetcher, *run), runs, in_flight):
        check_stop()
        published.add_run(part)
    return heads, published


def _compare(size: int, rows: Rows, published: Rows) -> None:
    missing, extra, repeated = rows.compare(published)
    if missing or extra or repeated:
        m, e = missing[:100], extra[:100]
        raise InconsistencyError(
            f"the index of size {size} differs from the entries: {len(missing)} rows "
            f"missing, {len(extra)} extra, {repeated} repeated"
            + _first(m, "missing")
            + _first(e, "extra"),
            evidence={"missing": [_row_text(r) for r in m], "extra": [_row_text(r) for r in e]},
        )


def _segment_rows(fetcher: Fetcher, seg: SegmentInfo, first: int) -> list[bytes]:
    """The rows of blocks ``first .. first + RUN`` of a segment, authenticated."""
    offset, length = seg.byte_range(first, min(seg.blocks, first + RUN) - 1)
    try:
        return parse_rows(seg, first, fetcher.fetch_range(seg.key, offset, length))
    except (TlogError, ValueError) as exc:
        raise VerificationError(f"index segment {seg.key}: {exc}") from None


def _row_text(row: bytes) -> str:
    return f"{row[:16].hex()}@{row_index(row)}"


def _first(rows: list[bytes], what: str) -> str:
    return (
        f"; first {what}: key hash {rows[0][:16].hex()} → entry {row_index(rows[0])}"
        if rows
        else ""
    )
