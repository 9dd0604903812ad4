"""Adding a batch's rows to the index: one new segment, merged geometrically.

docs/index.md "Writing (the LSM)". Size-tiered with fanout :data:`FANOUT`: a segment's
level is ⌊log_FANOUT(rows)⌋, and whenever FANOUT live segments share a
level they are merged into one. A row is therefore rewritten at most once per level, a
batch writes one segment plus amortized O(1) merged ones, and at most FANOUT − 1
segments live per level. IO is injected (``read_rows`` returns a live segment's rows,
authenticated): the sequencer and ``tlog index rebuild`` share this code.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence

from tlog.index.segment import SegmentInfo, build_packed, sort_rows

__all__ = ["FANOUT", "add_rows", "level"]

FANOUT = 4


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
) -> tuple[tuple[SegmentInfo, ...], list[tuple[str, bytes]]]:
    """The live segments after adding ``rows`` (distinct, any order), and the new
    segment objects.

    Segments merged away within this call are never written. The result lists segments
    largest first (ties by root), so equal inputs give byte-identical heads.
    """
    live = list(segments)
    made: dict[bytes, tuple[list[bytes], bytes]] = {}
    if rows:
        fresh = sort_rows(rows)
        info, data = build_packed(b"".join(fresh))
        live.append(info)
        made[info.root] = fresh, data
    while True:
        by_level: dict[int, list[SegmentInfo]] = {}
        for s in live:
            by_level.setdefault(level(s.rows), []).append(s)
        full = [group for _, group in sorted(by_level.items()) if len(group) >= FANOUT]
        if not full:
            break
        group = full[0]
        merged = _merge([made[s.root][0] if s.root in made else read_rows(s) for s in group])
        info, data = build_packed(b"".join(merged))
        for s in group:
            live.remove(s)
            made.pop(s.root, None)
        live.append(info)
        made[info.root] = merged, data
    live.sort(key=lambda s: (-s.rows, s.root))
    objects = [(s.key, made[s.root][1]) for s in live if s.root in made]
    return tuple(live), objects


def _merge(runs: list[list[bytes]]) -> list[bytes]:
    """The sorted union of sorted ``runs``: concatenated and sorted (Timsort finds the
    runs and merges them in C), a row in two runs kept once."""
    out = [row for run in runs for row in run]
    out.sort()
    if any(map(operator.eq, out, itertools.islice(out, 1, None))):
        out = [row for i, row in enumerate(out) if i == 0 or row != out[i - 1]]
    return out
