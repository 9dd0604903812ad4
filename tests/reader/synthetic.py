"""An in-memory published log of up to ``capacity`` leaves, served as tiles on demand.

Leaf ``i`` is the entry ``b"leaf %d"``; tiles are computed from the leaf hashes when
asked for, so a test can publish any size without building objects. ``tamper[path]``
rewrites one object; ``missing`` paths answer NotFoundError; ``fetched`` records paths.
"""

from __future__ import annotations

from collections.abc import Callable

from tlog import merkle, tile
from tlog.checkpoint import Checkpoint
from tlog.errors import MalformedError, NotFoundError, OversizeError
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId


def leaf(i: int) -> bytes:
    return b"leaf %d" % i


class SyntheticLog:
    def __init__(self, capacity: int, size: int | None = None) -> None:
        self.leaves = [merkle.leaf_hash(leaf(i)) for i in range(capacity)]
        self.node_reader = merkle.leaves_reader(self.leaves)
        self.size = capacity if size is None else size
        self.tamper: dict[str, Callable[[bytes], bytes]] = {}
        self.missing: set[str] = set()
        self.fetched: list[str] = []

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return Checkpoint("synthetic.example/log", size, merkle.tree_root(size, self.node_reader))

    def object(self, path: str) -> bytes:
        """The genuine bytes at ``path`` for the published size (NotFoundError if none)."""
        tid = TileId.parse(path)
        level = max(tid.level, 0)
        first = tid.index * TILE_WIDTH
        # A tile exists once the tree has all its nodes (full) or for any width up to
        # what the tree has (partial tiles of earlier sizes are kept).
        have = (self.size >> (TILE_HEIGHT * level)) - first
        if have < tid.width:
            raise NotFoundError(f"no object {path}")
        if tid.is_entries:
            return tile.format_bundle([leaf(first + i) for i in range(tid.width)])
        nodes = [(TILE_HEIGHT * level, first + i) for i in range(tid.width)]
        return tile.format_hash_tile(self.node_reader(nodes))

    def fetch(self, path: str, limit: int) -> bytes:
        self.fetched.append(path)
        if path in self.missing:
            raise NotFoundError(f"no object {path}")
        try:
            data = self.object(path)
        except MalformedError as exc:
            raise NotFoundError(str(exc)) from exc
        if path in self.tamper:
            data = self.tamper[path](data)
        if len(data) > limit:
            raise OversizeError(f"{path} over {limit}")
        return data

    def tile_fetches(self) -> list[str]:
        return [p for p in self.fetched if p.startswith("tile/")]


def flip(offset: int, bit: int = 0) -> Callable[[bytes], bytes]:
    def fn(data: bytes) -> bytes:
        b = bytearray(data)
        b[offset % len(b)] ^= 1 << bit
        return bytes(b)

    return fn
