"""Adding a batch's rows to the index: one new segment, merged geometrically.

docs/index.md "Writing (the LSM)". Size-tiered with fanout :data:`FANOUT`: a segment's
level is ⌊log_FANOUT(rows)⌋, and whenever FANOUT live segments share a
level they are merged into one. A row is therefore rewritten at most once per level, a
batch writes one segment plus amortized O(1) merged ones, and at most FANOUT − 1
segments live per level. IO is injected (``read_rows`` returns a live segment's rows,
authenticated; :class:`SegmentIO` streams big merges): the sequencer and ``tlog index
rebuild`` share this code.

**Memory** (docs/index.md "Memory"). A merge into fewer than :data:`STREAM_FROM` rows
is made in memory (the rows as Python objects, Timsort merging the runs in C). A bigger
one is *streamed*: each input is read in runs of blocks (:meth:`SegmentIO.runs`,
authenticated when its last run is read, by recomputing its root), the inputs merged
a step at a time (:func:`merge_runs`) into a scratch file, and only at the end, once
every input verified, is the merged segment built from that file in two passes
(:func:`tlog.index.segment.build_file`) and created in the store, streamed
(:meth:`SegmentIO.create`). A merged run that is merged again within the call is never
built or written: it is read back from its scratch file.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from tlog.errors import InconsistencyError
from tlog.index.segment import ROW_SIZE, SegmentInfo, build_file, build_packed, sort_rows

__all__ = ["FANOUT", "STREAM_FROM", "SegmentIO", "add_rows", "level", "merge_runs"]

FANOUT = 4
#: Rows from which a merge is streamed through scratch files rather than made in memory.
STREAM_FROM = 1 << 18
#: Bytes of a scratch file read at a time.
_FILE_RUN = 1 << 20
#: Rows of an input a step of :func:`merge_runs` takes at most: a step's rows are Python
#: objects, and 4 inputs' runs of 256 blocks (or a merge made in memory, one chunk) would
#: make hundreds of thousands of them at once (tens of MB at a million-entry batch's
#: merges, found by peak RSS).
STEP_ROWS = 8192


class SegmentIO(Protocol):
    """How a streamed merge reads, spills and writes (the store's side, injected)."""

    def runs(self, info: SegmentInfo) -> Iterator[bytes]:
        """The live segment's rows, packed, in order, a run of blocks at a time; the
        iterator raises InconsistencyError, after the last run at the latest, unless
        every block read makes the head's root."""
        ...

    def scratch(self) -> BinaryIO:
        """A new empty temporary file (readable and writable), removed when closed."""
        ...

    def create(self, key: str, file: BinaryIO) -> None:
        """Create the object ``key`` with ``file``'s bytes (:meth:`Store.create_file`)."""
        ...


@dataclass(eq=False)  # compared by identity (live.remove)
class _Made:
    """A segment made within this call: its sorted rows in memory, or packed in a
    scratch file."""

    rows: int
    memory: list[bytes] | None = None
    spill: BinaryIO | None = None

    def in_memory(self) -> list[bytes]:
        assert self.memory is not None, "a spilled run is only ever merged streamed"
        return self.memory

    def chunks(self) -> Iterator[bytes]:
        if self.memory is not None:  # in steps' pieces (no second copy of every row)
            rows = self.memory
            yield from (b"".join(rows[i : i + STEP_ROWS]) for i in range(0, len(rows), STEP_ROWS))
            return
        assert self.spill is not None
        self.spill.seek(0)
        while chunk := self.spill.read(_FILE_RUN - _FILE_RUN % ROW_SIZE):
            yield chunk


def level(rows: int) -> int:
    """⌊log_FANOUT(rows)⌋: a small segment is never rewritten into one of its own level
    (which would rewrite a growing segment on every merge of small batches)."""
    lv, n = 0, rows
    while n >= FANOUT:
        n //= FANOUT
        lv += 1
    return lv


def add_rows(
    segments: Sequence[SegmentInfo],
    rows: list[bytes],
    read_rows: Callable[[SegmentInfo], list[bytes]],
    io: SegmentIO | None = None,
    *,
    stream_from: int = STREAM_FROM,
) -> tuple[tuple[SegmentInfo, ...], list[tuple[str, bytes]]]:
    """The live segments after adding ``rows`` (distinct, any order), and the new
    segment objects to stage.

    Segments merged away within this call are never written. With ``io``, merges into
    ``stream_from`` rows or more are streamed, and their segments created through
    ``io`` before this returns (not staged: content-addressed and named by no head
    until the caller commits one, docs/index.md "Memory"). The result lists segments
    largest first (ties by root), so equal inputs give byte-identical heads.
    """
    live: list[SegmentInfo | _Made] = list(segments)
    if rows:
        live.append(_Made(len(rows), memory=sort_rows(rows)))
    while True:
        by_level: dict[int, list[SegmentInfo | _Made]] = {}
        for s in live:
            by_level.setdefault(level(s.rows), []).append(s)
        full = [group for _, group in sorted(by_level.items()) if len(group) >= FANOUT]
        if not full:
            break
        group = full[0]
        for s in group:
            live.remove(s)
        if io is not None and sum(s.rows for s in group) >= stream_from:
            live.append(_stream(group, io))
        else:
            merged = _merge(
                [s.in_memory() if isinstance(s, _Made) else read_rows(s) for s in group]
            )
            live.append(_Made(len(merged), memory=merged))
    done: list[SegmentInfo] = []
    objects: dict[str, bytes] = {}
    for s in live:
        if isinstance(s, SegmentInfo):
            done.append(s)
        elif s.memory is not None:
            info, data = build_packed(b"".join(s.memory))
            done.append(info)
            objects[info.key] = data
        else:
            assert io is not None and s.spill is not None
            done.append(_write(s.spill, s.rows, io))
    done.sort(key=lambda s: (-s.rows, s.root))
    return tuple(done), [(s.key, objects[s.key]) for s in done if s.key in objects]


def _stream(group: list[SegmentInfo | _Made], io: SegmentIO) -> _Made:
    """The merge of ``group`` into a scratch file (every input read whole, so every
    store input is authenticated before this returns)."""
    spill = io.scratch()
    try:
        inputs = [s.chunks() if isinstance(s, _Made) else io.runs(s) for s in group]
        n = merge_runs(inputs, spill.write)
        spill.flush()
    except BaseException:
        spill.close()
        raise
    finally:
        for s in group:
            if isinstance(s, _Made) and s.spill is not None:
                s.spill.close()
    return _Made(n, spill=spill)


def _write(spill: BinaryIO, rows: int, io: SegmentIO) -> SegmentInfo:
    """The segment of the ``rows`` packed in ``spill``, built and created through ``io``."""
    with spill, io.scratch() as out:
        info = build_file(spill, rows, out)
        io.create(info.key, out)
    return info


def _merge(runs: list[list[bytes]]) -> list[bytes]:
    """The sorted union of sorted ``runs``: concatenated and sorted (Timsort finds the
    runs and merges them in C), a row in two runs kept once."""
    out = [row for run in runs for row in run]
    out.sort()
    if any(map(operator.eq, out, itertools.islice(out, 1, None))):
        out = [row for i, row in enumerate(out) if i == 0 or row != out[i - 1]]
    return out


def merge_runs(inputs: Iterable[Iterator[bytes]], emit: Callable[[bytes], object]) -> int:
    """The sorted union of sorted runs of packed rows, each given as chunks (each a
    whole number of rows), passed to ``emit`` in order, packed; returns its row count.

    Each input's chunks are cut into pieces of at most :data:`STEP_ROWS` rows. A step
    takes, from every input, its rows up to the smallest of the inputs' current pieces'
    last rows (so one input's whole piece), and merges them in memory (:func:`_merge`):
    only one step's rows, at most one piece per input, are Python objects at a time.
    Every input is read to its end (so an authenticating iterator checks its root).
    """
    cut = [_cut(it) for it in inputs]
    heads = [_Cursor(chunk, 0, it) for it in cut if (chunk := _next(it))]
    count, last = 0, b""
    while heads:
        if len(heads) == 1:  # the rest of the last input, as it comes
            cur = heads.pop()
            chunk, pos, it = cur.chunk, cur.pos, cur.it
            while chunk:
                if chunk[pos : pos + ROW_SIZE] == last:
                    pos += ROW_SIZE
                if pos < len(chunk):
                    emit(chunk[pos:] if pos else chunk)
                    count += (len(chunk) - pos) // ROW_SIZE
                    last = chunk[-ROW_SIZE:]
                chunk, pos = _next(it), 0
            break
        bound = min(h.chunk[-ROW_SIZE:] for h in heads)
        runs: list[list[bytes]] = []
        for h in heads:
            chunk, pos = h.chunk, h.pos
            h.pos = _after(chunk, bound, pos // ROW_SIZE) * ROW_SIZE
            runs.append([chunk[i : i + ROW_SIZE] for i in range(pos, h.pos, ROW_SIZE)])
        # No input finished its piece: the bound's own piece is unsorted (a damaged
        # segment), and the merge would step forever. This stops it; it is not what
        # refuses a damaged input (a small enough piece can be out of order with the
        # next one and pass here): the input's root, checked at its end, does that.
        if all(h.pos < len(h.chunk) for h in heads):
            raise InconsistencyError(
                "index segment rows out of order in a merge (a damaged segment)",
                evidence={"bound": bound.hex()},
            )
        merged = _merge(runs)
        if merged and merged[0] == last:
            del merged[0]
        if merged:
            emit(b"".join(merged))
            count, last = count + len(merged), merged[-1]
        for h in heads:
            if h.pos == len(h.chunk):
                h.chunk, h.pos = _next(h.it), 0
        heads = [h for h in heads if h.chunk]
    return count


@dataclass
class _Cursor:
    """An input of :func:`merge_runs`: its current chunk, the offset of its first row
    not yet merged, and the chunks to come."""

    chunk: bytes
    pos: int
    it: Iterator[bytes]


def _cut(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` in pieces of at most :data:`STEP_ROWS` rows."""
    step = STEP_ROWS * ROW_SIZE
    for chunk in chunks:
        if len(chunk) <= step:
            yield chunk
        else:
            yield from (chunk[i : i + step] for i in range(0, len(chunk), step))


def _next(it: Iterator[bytes]) -> bytes:
    """The next non-empty chunk of ``it``, or b"" once it is exhausted."""
    for chunk in it:
        if chunk:
            return chunk
    return b""


def _after(packed: bytes, row: bytes, lo: int) -> int:
    """The first row of ``packed`` from ``lo`` on that sorts after ``row`` (binary
    search on whole rows)."""
    hi = len(packed) // ROW_SIZE
    while lo < hi:
        mid = (lo + hi) // 2
        if packed[mid * ROW_SIZE : mid * ROW_SIZE + ROW_SIZE] <= row:
            lo = mid + 1
        else:
            hi = mid
    return lo
