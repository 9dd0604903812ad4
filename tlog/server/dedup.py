"""Exact dedup against the search index, from segment rows kept in memory.

The sequencer looks every new entry's UUID up in the index of the lock's checkpoint
(docs/index.md "Dedup on the write path"). For a batch of a few hundred entries, the
index reader reads and authenticates every block of each small segment, or a window
of blocks per key in a big one, and joins them with the keys: per batch, work that
grows with the log — the same blocks, read again for every batch. Segments are
immutable and named by their root, so the write server keeps their authenticated rows
(:func:`tlog.index.writer.read_rows`: every block checked against the root the verified
head gives) and answers each key with a binary search. The answer is the index
reader's: every row of the key in every live segment, each hit then re-checked against
the leaf hash at its index, so no truncated-hash collision can drop an entry.

Memory is bounded by rows (:data:`DEFAULT_ROWS`, about 70 bytes each); segments that do
not fit are looked up by the index reader, as without this memo.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence

from tlog.index import writer as index_writer
from tlog.index.head import IndexHead
from tlog.index.keys import KEY_HASH_SIZE, key_hash
from tlog.index.segment import SegmentInfo, row_index
from tlog.storage import Store

__all__ = ["DEFAULT_ROWS", "SegmentRows"]

#: Rows kept at most (all segments together).
DEFAULT_ROWS = 2_000_000


class SegmentRows:
    """Authenticated rows of index segments, by root; :meth:`known` is a drop-in for
    :func:`tlog.index.writer.known` (the sequencer's dedup)."""

    def __init__(self, max_rows: int = DEFAULT_ROWS) -> None:
        self.max_rows = max_rows
        self._kept: OrderedDict[bytes, list[bytes]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def rows(self, store: Store, info: SegmentInfo) -> list[bytes] | None:
        """The segment's sorted rows, authenticated; None if it is too big to keep."""
        if info.rows > self.max_rows // 2:
            return None
        with self._lock:
            got = self._kept.get(info.root)
            if got is not None:
                self._kept.move_to_end(info.root)
                return got
        rows = index_writer.read_rows(store)(info)
        with self._lock:
            if info.root not in self._kept:
                self._kept[info.root] = rows
                self._rows += len(rows)
                while self._rows > self.max_rows:
                    _, old = self._kept.popitem(last=False)
                    self._rows -= len(old)
        return rows

    def known(self, store: Store, head: IndexHead, hashes: Sequence[bytes]) -> dict[bytes, int]:
        """Leaf hash → index, for those of ``hashes`` the log (as ``head`` indexes it)
        already holds; exactly :func:`tlog.index.writer.known`'s answer."""
        if not hashes or not head.segments:
            return {}
        by_key = {key_hash("uuid", h.hex()): h for h in hashes}
        keys = sorted(by_key)
        candidates: dict[bytes, list[int]] = {}
        big: list[SegmentInfo] = []
        for info in head.segments:
            rows = self.rows(store, info)
            if rows is None:
                big.append(info)
                continue
            for key in keys:
                at = bisect.bisect_left(rows, key)
                while at < len(rows) and rows[at][:KEY_HASH_SIZE] == key:
                    candidates.setdefault(key, []).append(row_index(rows[at]))
                    at += 1
        out: dict[bytes, int] = {}
        if big:  # the index reader, on the segments not kept
            rest = IndexHead(head.origin, head.size, head.root, tuple(big))
            out.update(index_writer.known(store, rest, hashes))
        for key, indices in candidates.items():
            h = by_key[key]
            for index in sorted(indices):
                if h in out and out[h] <= index:
                    break
                if index_writer.leaf_hash_at(store, head.size, index) == h:
                    out[h] = index
                    break
        return out
