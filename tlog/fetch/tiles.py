"""The hash tree of one verified checkpoint, read from tiles authenticated before use.

:class:`TileReader` is a :data:`tlog.merkle.NodeReader` over C2SP tlog-tiles v0.1.0
hash tiles, plus the entry bundles checked against the leaf hashes. It does no IO of
its own: the :class:`~tlog.fetch.Fetcher` and the :class:`~tlog.fetch.cache.TileCache`
are injected.

**Every tile is authenticated against the checkpoint before any hash of it is used
or cached**, by one of two rules:

* *The right edge.* For a tree of size N, level L holds a partial tile of width
  ``floor(N / 256**L) mod 256`` when that is non-zero. Those tiles alone determine the
  subtrees of RFC 6962's decomposition of ``[0, N)`` (one per set bit of N), hence the
  root: they are fetched together and accepted only if they fold to the checkpoint's
  root hash. A partial tile of width W whose W children at the level below are all at
  hand is computed from them instead of fetched (its hashes *are* their roots), and
  those children are then authenticated by the same root check.
* *A full tile* (L, K) is accepted only if its Merkle root equals hash ``K mod 256``
  of its parent tile (L+1, K // 256), itself authenticated first (full or right-edge).

There is no third case: a tile whose hashes are only partly checked is never used
(unlike readers that, when several right-edge nodes fall in one tile, check only the
node they need). Tiles from the cache were authenticated when they were put there.

A partial tile that is gone (404) is read from the full tile at the same place and cut
to the width the checkpoint implies (tlog-tiles "Partial tiles"); only that prefix is
authenticated, so the full tile is not cached in that case.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tlog import merkle, tile
from tlog.checkpoint import Checkpoint
from tlog.errors import MalformedError, NotFoundError, VerificationError
from tlog.fetch import Fetcher
from tlog.fetch.cache import TileCache
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId

#: How many tiles one batch fetches concurrently.
PARALLEL_FETCHES = 4
#: How many authenticated entry bundles a reader keeps in memory.
BUNDLE_MEMORY = 4

_Key = tuple[int, int]


def edge_tiles(size: int) -> list[TileId]:
    """The partial hash tiles at the right edge of a tree of ``size``, lowest level first."""
    out: list[TileId] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        width = tile.partial_width(level, size)
        if width:
            out.append(TileId(level, size >> (TILE_HEIGHT * (level + 1)), width))
        level += 1
    return out


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree hash inside one tile: ``levels[h][i]`` is node (h, i)."""
    levels = [hashes]
    row = hashes
    while len(row) > 1:
        row = [merkle.node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        levels.append(row)
    return levels


class TileReader:
    """Nodes and entries of the tree a verified checkpoint commits to.

    Use :meth:`read` as a :data:`~tlog.merkle.NodeReader`; any node must be a complete
    subtree of the tree, that is inside ``[0, size)``. Every complete subtree of a
    smaller tree that the log's later checkpoint is consistent with is also one of this
    tree, so one reader over the latest checkpoint serves proofs for older sizes too.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        fetcher: Fetcher,
        cache: TileCache | None = None,
        *,
        parallel: int = PARALLEL_FETCHES,
    ) -> None:
        self.checkpoint = checkpoint
        self.size = checkpoint.size
        self._fetcher = fetcher
        self._cache = cache
        self._parallel = max(1, parallel)
        #: Authenticated tiles of this tree: (level, index) → hashes at this size's width.
        self._tiles: dict[_Key, list[list[bytes]]] = {}
        self._edge_ok = False
        self._bundles: OrderedDict[int, list[bytes]] = OrderedDict()

    # -- public API -------------------------------------------------------------------

    def read(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hashes of complete subtrees ``(level, index)``, from authenticated tiles."""
        keys: set[_Key] = set()
        for level, index in coords:
            if level < 0 or index < 0 or (index + 1) << level > self.size:
                raise VerificationError(
                    f"node ({level}, {index}) is not in the tree of size {self.size}"
                )
            keys.add(self._key_of(level, index))
        self.authenticate(keys)
        return [self._node(level, index) for level, index in coords]

    def leaf_hashes(self, bundle_index: int) -> list[bytes]:
        """The authenticated leaf hashes of level-0 tile ``bundle_index``."""
        tid = tile.hash_tile_for(0, self.size, bundle_index)
        self.authenticate({(0, bundle_index)})
        return self._tiles[(0, bundle_index)][0][: tid.width]

    def entries(self, bundle_index: int) -> list[bytes]:
        """The entries of bundle ``bundle_index``, each checked against its leaf hash."""
        cached = self._bundles.get(bundle_index)
        if cached is not None:
            self._bundles.move_to_end(bundle_index)
            return cached
        tid = tile.bundle_for(self.size, bundle_index)
        limit = tid.width * (2 + tile.MAX_ENTRY_SIZE)
        try:
            data = self._fetcher.fetch(tid.path(), limit)
            entries = _parse(tile.parse_bundle, data, tid.width, tid.path())
        except NotFoundError:
            if not tid.is_partial:
                raise
            full = tid.full()
            data = self._fetcher.fetch(full.path(), tile.MAX_BUNDLE_SIZE)
            entries = _parse(tile.parse_bundle, data, TILE_WIDTH, full.path())[: tid.width]
        hashes = self.leaf_hashes(bundle_index)
        for i, entry in enumerate(entries):
            if merkle.leaf_hash(entry) != hashes[i]:
                raise VerificationError(
                    f"{tid.path()}: entry {i} (log index {bundle_index * TILE_WIDTH + i}) "
                    f"does not match its leaf hash in tile/0/{tile.encode_index(bundle_index)}"
                )
        self._bundles[bundle_index] = entries
        while len(self._bundles) > BUNDLE_MEMORY:
            self._bundles.popitem(last=False)
        return entries

    def entry(self, index: int) -> bytes:
        """The authenticated entry at log ``index``."""
        if not 0 <= index < self.size:
            raise NotFoundError(f"no entry {index} in a log of size {self.size}")
        return self.entries(index // TILE_WIDTH)[index % TILE_WIDTH]

    # -- authentication ---------------------------------------------------------------

    def _key_of(self, level: int, index: int) -> _Key:
        tl, h = divmod(level, TILE_HEIGHT)
        return tl, (index << h) >> TILE_HEIGHT

    def _node(self, level: int, index: int) -> bytes:
        tl, h = divmod(level, TILE_HEIGHT)
        base = index << h
        levels = self._tiles[(tl, base >> TILE_HEIGHT)]
        return levels[h][(base % TILE_WIDTH) >> h]

    def _tile_id(self, key: _Key) -> TileId:
        return tile.hash_tile_for(key[0], self.size, key[1])

    def authenticate(self, keys: set[_Key]) -> None:
        """Make the tiles ``keys`` (and whatever vouches for them) authenticated."""
        want: dict[_Key, TileId] = {}
        stack = [k for k in keys if k not in self._tiles]
        if not stack:
            return
        while stack:
            key = stack.pop()
            if key in self._tiles or key in want:
                continue
            tid = self._tile_id(key)
            if self._from_cache(key, tid):
                continue
            want[key] = tid
            if not tid.is_partial:
                stack.append((key[0] + 1, key[1] >> TILE_HEIGHT))
        edge = [t for t in edge_tiles(self.size) if (t.level, t.index) not in self._tiles]
        if not self._edge_ok:
            for t in edge:
                want.setdefault((t.level, t.index), t)
        # A right-edge tile whose children are all at hand is computed, not fetched.
        synthesized: set[_Key] = set()
        for t in sorted(edge):
            key = (t.level, t.index)
            if key not in want or t.level == 0:
                continue
            children = [(t.level - 1, t.index * TILE_WIDTH + i) for i in range(t.width)]
            if all(c in want or c in self._tiles for c in children):
                synthesized.add(key)
        fetched = self._fetch_all([tid for k, tid in want.items() if k not in synthesized])
        for key in sorted(synthesized):
            row = []
            for i in range(want[key].width):
                child = (key[0] - 1, key[1] * TILE_WIDTH + i)
                known = self._tiles.get(child)
                row.append(known[-1][0] if known else merkle.root(fetched[child]))
            fetched[key] = row
        if not self._edge_ok:
            stale = [t for t in edge_tiles(self.size) if (t.level, t.index) in self._tiles]
            try:
                self._check_edge(fetched, synthesized)
            except VerificationError:
                if not stale:
                    raise
                # A cached edge tile may be stale or damaged: check fresh copies once.
                for t in stale:
                    del self._tiles[(t.level, t.index)]
                fetched.update(self._fetch_all(stale))
                self._check_edge(fetched, synthesized)
        # Top-down: every full tile against its (already authenticated) parent.
        for key in sorted(fetched, key=lambda k: (-k[0], k[1])):
            if key in self._tiles:
                continue
            tid = want[key]
            parent_key = (key[0] + 1, key[1] >> TILE_HEIGHT)
            levels = _levels(fetched[key])
            parent = self._tiles.get(parent_key)
            if parent is None:  # unreachable: the closure fetched it
                raise VerificationError(f"{tid.path()}: no authenticated parent tile")
            if levels[-1][0] != parent[0][key[1] % TILE_WIDTH]:
                ptid = self._tile_id(parent_key)
                raise VerificationError(
                    f"{tid.path()} does not hash to its entry in {ptid.path()} "
                    f"(checkpoint size {self.size})"
                )
            self._accept(key, tid, levels)

    def _check_edge(self, fetched: dict[_Key, list[bytes]], synthesized: set[_Key]) -> None:
        edge = edge_tiles(self.size)
        rows: dict[int, list[list[bytes]]] = {}
        for t in edge:
            key = (t.level, t.index)
            rows[t.level] = self._tiles[key] if key in self._tiles else _levels(fetched[key])
        nodes = []
        for level, index in merkle.range_nodes(0, self.size):
            tl, h = divmod(level, TILE_HEIGHT)
            nodes.append(rows[tl][h][((index << h) % TILE_WIDTH) >> h])
        got = merkle.fold(nodes) if nodes else merkle.EMPTY_ROOT
        if got != self.checkpoint.root:
            paths = ", ".join(t.path() for t in edge)
            raise VerificationError(
                f"right-edge tiles {paths} do not hash to the root of checkpoint "
                f"{self.checkpoint.origin} size {self.size}"
            )
        for t in edge:
            key = (t.level, t.index)
            if key not in self._tiles:
                self._accept(key, t, rows[t.level], cache=key not in synthesized)
        # The children a synthesized edge tile was computed from are now proven too.
        for key in synthesized:
            for i in range(self._tile_id(key).width):
                child = (key[0] - 1, key[1] * TILE_WIDTH + i)
                if child not in self._tiles:
                    self._accept(child, self._tile_id(child), _levels(fetched[child]))
        self._edge_ok = True

    def _accept(
        self, key: _Key, tid: TileId, levels: list[list[bytes]], cache: bool = True
    ) -> None:
        self._tiles[key] = levels
        if cache and self._cache is not None:
            self._cache.put(tid, b"".join(levels[0]))

    def _from_cache(self, key: _Key, tid: TileId) -> bool:
        if self._cache is None:
            return False
        data = self._cache.get(tid)
        if data is None or len(data) != tid.width * merkle.HASH_SIZE:
            return False
        self._tiles[key] = _levels(tile.parse_hash_tile(data, tid.width))
        return True

    # -- fetching ---------------------------------------------------------------------

    def _fetch_all(self, tids: list[TileId]) -> dict[_Key, list[bytes]]:
        tids = sorted(tids)
        if len(tids) > 1 and self._parallel > 1:
            with ThreadPoolExecutor(min(self._parallel, len(tids))) as pool:
                results = list(pool.map(self._fetch_hash_tile, tids))
        else:
            results = [self._fetch_hash_tile(t) for t in tids]
        return {(t.level, t.index): r for t, r in zip(tids, results, strict=True)}

    def _fetch_hash_tile(self, tid: TileId) -> list[bytes]:
        try:
            data = self._fetcher.fetch(tid.path(), tid.width * merkle.HASH_SIZE)
            return _parse(tile.parse_hash_tile, data, tid.width, tid.path())
        except NotFoundError:
            if not tid.is_partial:
                raise
        full = tid.full()
        data = self._fetcher.fetch(full.path(), tile.MAX_HASH_TILE_SIZE)
        return _parse(tile.parse_hash_tile, data, TILE_WIDTH, full.path())[: tid.width]


def _parse(
    codec: Callable[[bytes, int], list[bytes]], data: bytes, width: int, path: str
) -> list[bytes]:
    try:
        return codec(data, width)
    except MalformedError as exc:
        raise MalformedError(f"{path}: {exc}") from exc
