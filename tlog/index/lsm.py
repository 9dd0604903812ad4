"""Adding a batch's rows to the index: one new segment, merged geometrically.

docs/index.md "Writing (the LSM)". Size-tiered with fanout :data:`FANOUT`: a segment's
level is ⌊log_FANOUT(rows)⌋, and whenever FANOUT live segments share a
level they are merged into one. A row is therefore rewritten at most once per level, a
batch writes one segment plus amortized O(1) merged ones, and at most FANOUT − 1
segments live per level. IO is injected (``read_rows`` returns a live segment's rows,
authenticated): the sequencer and ``tlog index rebuild`` share this code.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence

from tlog.index.segment import SegmentInfo, build, parse_rows

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
    rows: Iterable[bytes],
    read_rows: Callable[[SegmentInfo], list[bytes]],
) -> tuple[tuple[SegmentInfo, ...], list[tuple[str, bytes]]]:
    """The live segments after adding ``rows`` (distinct), and the new segment objects.

    Segments merged away within this call are never written. The result lists segments
    largest first (ties by root), so equal inputs give byte-identical heads.
    """
    fresh = sorted(rows)  # distinct: one row per (key, entry), as rows_of makes them
    live = list(segments)
    made: dict[bytes, bytes] = {}
    if fresh:
        info, data = build(fresh)
        live.append(info)
        made[info.root] = data
    while True:
        by_level: dict[int, list[SegmentInfo]] = {}
        for s in live:
            by_level.setdefault(level(s.rows), []).append(s)
        full = [group for _, group in sorted(by_level.items()) if len(group) >= FANOUT]
        if not full:
            break
        group = full[0]
        merged = _merge([_rows(s, made, read_rows) for s in group])
        info, data = build(merged)
        for s in group:
            live.remove(s)
            made.pop(s.root, None)
        live.append(info)
        made[info.root] = data
    live.sort(key=lambda s: (-s.rows, s.root))
    objects = [(s.key, made[s.root]) for s in live if s.root in made]
    return tuple(live), objects


def _rows(
    info: SegmentInfo, made: dict[bytes, bytes], read_rows: Callable[[SegmentInfo], list[bytes]]
) -> list[bytes]:
    if info.root in made:
        return parse_rows(info, 0, made[info.root])
    return read_rows(info)


def _merge(runs: list[list[bytes]]) -> list[bytes]:
    out: list[bytes] = []
    last = None
    for row in heapq.merge(*runs):
        if row != last:
            out.append(row)
            last = row
    return out
