"""The duplicate check: no leaf is logged twice (docs/monitor.md "Scan").

Within what a run reads, a :class:`~tlog.monitor.seen.SeenFilter` (fixed memory) flags
the entries whose leaf hash may have been read before; each flag is confirmed exactly
before it is reported: through the index (the UUID looked up, each hit's leaf hash
read from its authenticated tile), else by reading the run's leaf tiles again up to
the entry. Small runs past the log's start also look every UUID up in the index, to
catch a copy of an entry logged before the run (:meth:`Duplicates.lookup`).
"""

from __future__ import annotations

import contextlib

from tlog.client import Client
from tlog.errors import NotFoundError
from tlog.monitor.finding import Finding
from tlog.monitor.leaves import leaf_hashes
from tlog.monitor.seen import SeenFilter
from tlog.tile import TILE_WIDTH

__all__ = ["Duplicates", "duplicate"]


class Duplicates:
    """The duplicate check of one run reading entries from ``read_from``."""

    def __init__(self, client: Client, read_from: int) -> None:
        self.client = client
        self.read_from = read_from
        self._seen = SeenFilter()

    def add(self, first: int, hashes: bytes) -> list[tuple[int, bytes]]:
        """Add the leaf hashes (packed) of entries from ``first``; the (index, leaf
        hash) of those that may have been read before (to :meth:`confirm`)."""
        return [(first + n, hashes[32 * n : 32 * n + 32]) for n in self._seen.add(hashes)]

    def confirm(self, hits: list[tuple[int, bytes]]) -> list[Finding]:
        """The duplicates among ``hits``: each with the first earlier index holding
        the same leaf hash (a hit with none was the filter's false alarm)."""
        if not hits:
            return []
        found: dict[tuple[str, str], list[int]] = {}
        with contextlib.suppress(NotFoundError):  # no index: read the tiles again
            found = self.client.search([("uuid", h.hex()) for _, h in hits])
        out, left = [], []
        for j, h in hits:
            earlier = next(
                (i for i in found.get(("uuid", h.hex()), []) if i < j and self._leaf(i) == h),
                None,
            )
            if earlier is None:
                left.append((j, h))
            else:
                out.append(duplicate(j, h, earlier))
        return out + self._reread(left)

    def _leaf(self, index: int) -> bytes:
        return self.client.leaf_hash(index)

    def _reread(self, hits: list[tuple[int, bytes]]) -> list[Finding]:
        """Confirm ``hits`` by reading the run's leaf tiles again up to the last."""
        if not hits:
            return []
        wanted = {h for _, h in hits}
        out: list[Finding] = []
        end = max(j for j, _ in hits)
        for k in range(self.read_from // TILE_WIDTH, end // TILE_WIDTH + 1):
            for n, h in enumerate(leaf_hashes(self.client, k)):
                i = k * TILE_WIDTH + n
                if i >= self.read_from and h in wanted:
                    wanted.discard(h)
                    out += [duplicate(j, h, i) for j, hh in hits if hh == h and j > i]
            if not wanted:
                break
        return sorted(out, key=lambda f: f.index or 0)

    def lookup(self, lo: int, hi: int, reported: set[int]) -> list[Finding]:
        """Duplicates of entries ``[lo, hi)`` logged before ``lo``, through the index
        (those in ``reported`` are known already)."""
        if lo >= hi:
            return []
        try:
            self.client.index_head()
        except NotFoundError:
            return []
        reader = self.client.reader
        uuids = {}
        for k in range(lo // TILE_WIDTH, -(-hi // TILE_WIDTH)):
            for i, h in enumerate(reader.leaf_hashes(k)):
                if lo <= k * TILE_WIDTH + i < hi and k * TILE_WIDTH + i not in reported:
                    uuids[k * TILE_WIDTH + i] = h
        found = self.client.search([("uuid", h.hex()) for h in uuids.values()])
        out = []
        for index, h in uuids.items():
            for other in found[("uuid", h.hex())]:
                if other < lo and self._leaf(other) == h:
                    out.append(duplicate(index, h, other))
                    break
        return out


def duplicate(index: int, h: bytes, earlier: int) -> Finding:
    return Finding(
        "duplicate",
        f"entry {index} is entry {earlier} again (UUID {h.hex()})",
        index=index,
        uuid=h.hex(),
        evidence={"first_index": earlier},
    )
