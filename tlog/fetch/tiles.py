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
node they need). Tiles from the cache are authenticated the same way (their parents
are cached too, so a warm read costs no GET); a cached tile that fails is fetched
afresh.

A partial tile that is gone (404) is read from the full tile at the same place and cut
to the width the checkpoint implies (tlog-tiles "Partial tiles"); only that prefix is
authenticated, so only that prefix is cached. Entry bundles are cached once every entry
matched its authenticated leaf hash, and checked again when read from the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tlog import merkle, tile, tree
from tlog.checkpoint import Checkpoint
from tlog.errors import MalformedError, NotFoundError, VerificationError
from tlog.fetch import Fetcher
from tlog.fetch.cache import TileCache
from tlog.fetch.partial import fetch_tile, parse_named, read_covers
from tlog.fetch.readahead import PARALLEL, read_ahead
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId

#: How many authenticated entry bundles a reader keeps in memory.
BUNDLE_MEMORY = 4
#: How many authenticated hash tiles a reader keeps in memory (least recently used
#: dropped first; 16 KiB each with their inner levels, so 16 MiB). The right-edge
#: tiles are kept besides, whatever this says.
MEMORY_TILES = 1024

__all__ = [
    "BUNDLE_MEMORY",
    "MEMORY_TILES",
    "TileReader",
    "fetch_tile",  # from tlog.fetch.partial, where it lives
    "read_covers",
]

_Key = tuple[int, int]
HASH = merkle.HASH_SIZE


@dataclass(frozen=True)
class _Fetched:
    """A tile's hashes or a bundle's entries as a scan read them ahead, unchecked."""

    items: list[bytes]
    path: str
    cached: bool


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
        parallel: int = PARALLEL,
        memory_tiles: int = MEMORY_TILES,
    ) -> None:
        self.checkpoint = checkpoint
        self.size = checkpoint.size
        self._fetcher = fetcher
        self._cache = cache
        #: Fetches in flight at once (:func:`tlog.fetch.readahead.read_ahead`).
        self.parallel = max(1, parallel)
        self._memory = max(16, memory_tiles)
        #: Authenticated tiles of this tree: (level, index) → the tile's levels (its
        #: hashes at this size's width, then the nodes above them), each level's hashes
        #: in one byte string; least recently used first.
        self._tiles: OrderedDict[_Key, list[bytes]] = OrderedDict()
        #: The right-edge tiles: kept whatever the memory bound (they vouch for the rest).
        self._edge = {(t.level, t.index) for t in tree.edge_tiles(self.size)}
        self._edge_ok = False
        self._bundles: OrderedDict[int, list[bytes]] = OrderedDict()

    # -- public API -------------------------------------------------------------------

    @property
    def held(self) -> int:
        """How many authenticated hash tiles are in memory (at most ``memory_tiles``
        plus the right edge, between two requests)."""
        return len(self._tiles)

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
        level = self._levels((0, bundle_index))[0]
        return [level[i : i + HASH] for i in range(0, tid.width * HASH, HASH)]

    def entries(self, bundle_index: int) -> list[bytes]:
        """The entries of bundle ``bundle_index``, each checked against its leaf hash."""
        kept = self._bundles.get(bundle_index)
        if kept is not None:
            self._bundles.move_to_end(bundle_index)
            return kept
        tid = tile.bundle_for(self.size, bundle_index)
        hashes = self.leaf_hashes(bundle_index)
        entries = self._cached_bundle(tid, hashes)
        if entries is None:
            entries, exact = self._fetch_bundle(tid)
            for i, entry in enumerate(entries):
                if merkle.leaf_hash(entry) != hashes[i]:
                    raise VerificationError(
                        f"{tid.path()}: entry {i} (log index {bundle_index * TILE_WIDTH + i}) "
                        f"does not match its leaf hash in tile/0/{tile.encode_index(bundle_index)}"
                    )
            if exact and self._cache is not None:
                self._cache.put(tid, tile.format_bundle(entries))
        self._bundles[bundle_index] = entries
        while len(self._bundles) > BUNDLE_MEMORY:
            self._bundles.popitem(last=False)
        return entries

    def _cached_bundle(self, tid: TileId, hashes: list[bytes]) -> list[bytes] | None:
        found = self._cache.get(tid) if self._cache is not None else None
        if found is None:
            return None
        width, data = found
        try:
            entries = tile.parse_bundle(data, width)[: tid.width]
        except MalformedError:
            return None
        if len(entries) != tid.width or any(
            merkle.leaf_hash(e) != h for e, h in zip(entries, hashes, strict=False)
        ):
            return None
        return entries

    def _fetch_bundle(self, tid: TileId) -> tuple[list[bytes], bool]:
        """The bundle's entries, and whether they came from exactly ``tid``'s object."""
        data, got = fetch_tile(self._fetcher, tid)
        return parse_named(tile.parse_bundle, data, got.width, got.path())[: tid.width], got == tid

    def entry(self, index: int) -> bytes:
        """The authenticated entry at log ``index``."""
        if not 0 <= index < self.size:
            raise NotFoundError(f"no entry {index} in a log of size {self.size}")
        return self.entries(index // TILE_WIDTH)[index % TILE_WIDTH]

    # -- scans ------------------------------------------------------------------------

    def scan(
        self, k0: int = 0, k1: int | None = None, *, entries: bool = True
    ) -> Iterator[tuple[int, list[bytes], list[bytes]]]:
        """For each bundle ``k`` of ``[k0, k1)`` (default: to the end), in order: ``(k,
        its authenticated leaf hashes, its entries)``, each entry checked against its
        leaf hash (``[]`` without ``entries``).

        The level-0 tiles and bundles are fetched :attr:`parallel` at a time ahead of
        the caller (:func:`~tlog.fetch.readahead.read_ahead`), and each is authenticated
        as it is handed over, as :meth:`leaf_hashes` and :meth:`entries` would: a tile
        against its parent, authenticated first. Hash tiles go through the cache;
        bundles do not (a scan reads each once, and disk use must not grow with the
        log). Memory: the read-ahead window and :data:`MEMORY_TILES` tiles.
        """
        count = -(-self.size // TILE_WIDTH)
        k1 = count if k1 is None else k1
        if not 0 <= k0 <= k1 <= count:
            raise NotFoundError(f"no bundles {k0}..{k1} in a log of {count} bundles")
        if k0 == k1:
            return
        self.authenticate(self._edge)
        items = ((k, part) for k in range(k0, k1) for part in (0, 1)[: 1 + entries])
        fetched = read_ahead(self._scan_fetch, items, self.parallel)
        for k in range(k0, k1):
            leaf_tile = next(fetched)
            if leaf_tile is not None:
                self._accept_leaf_tile(k, leaf_tile)
            hashes = self.leaf_hashes(k)
            bundle = next(fetched) if entries else None
            if bundle is None:
                yield k, hashes, []
                continue
            if len(bundle.items) != len(hashes):
                raise VerificationError(
                    f"{bundle.path} holds {len(bundle.items)} of {len(hashes)} entries"
                )
            for i, (entry, h) in enumerate(zip(bundle.items, hashes, strict=True)):
                if merkle.leaf_hash(entry) != h:
                    raise VerificationError(
                        f"{bundle.path}: entry {i} (log index {k * TILE_WIDTH + i}) does not "
                        f"match its leaf hash in tile/0/{tile.encode_index(k)}"
                    )
            yield k, hashes, bundle.items

    def _scan_fetch(self, item: tuple[int, int]) -> _Fetched | None:
        """In a worker: bundle ``k`` (part 1), or its level-0 tile (part 0; None if
        already held), unchecked."""
        k, part = item
        if part:
            bid = tile.bundle_for(self.size, k)
            data, got = fetch_tile(self._fetcher, bid)
            entries = parse_named(tile.parse_bundle, data, got.width, got.path())[: bid.width]
            return _Fetched(entries, got.path(), cached=False)
        if (0, k) in self._tiles:
            return None
        tid = tile.hash_tile_for(0, self.size, k)
        hashes = self._cached(tid)
        if hashes is not None:
            return _Fetched(hashes, tid.path(), cached=True)
        return _Fetched(self._fetch_hash_tile(tid), tid.path(), cached=False)

    def _accept_leaf_tile(self, k: int, fetched: _Fetched) -> None:
        """Authenticate level-0 tile ``k`` read ahead by a scan, against its parent. A
        cached tile that fails is left out: :meth:`leaf_hashes` fetches it afresh."""
        key = (0, k)
        if key in self._tiles:
            return
        self.authenticate({(1, k >> TILE_HEIGHT)})  # full: its parent vouches for it
        self._evict()
        try:
            self._verify({key: self._tile_id(key)}, {key: fetched.items})
        except (VerificationError, MalformedError):
            if not fetched.cached:
                raise

    # -- authentication ---------------------------------------------------------------

    def _key_of(self, level: int, index: int) -> _Key:
        tl, h = divmod(level, TILE_HEIGHT)
        return tl, (index << h) >> TILE_HEIGHT

    def _node(self, level: int, index: int) -> bytes:
        tl, h = divmod(level, TILE_HEIGHT)
        base = index << h
        at = ((base % TILE_WIDTH) >> h) * HASH
        return self._levels((tl, base >> TILE_HEIGHT))[h][at : at + HASH]

    def _levels(self, key: _Key) -> list[bytes]:
        """An authenticated tile's levels, marked as the most recently used."""
        self._tiles.move_to_end(key)
        return self._tiles[key]

    def _evict(self) -> None:
        """Drop the least recently used tiles beyond the memory bound (not the edge's).

        Called only before tiles are loaded, so every tile a caller has just had
        authenticated stays until its next request."""
        tiles, spared = self._tiles, 0
        while len(tiles) - spared > self._memory:
            key = next(iter(tiles))
            if key in self._edge:
                tiles.move_to_end(key)
                spared += 1
            else:
                del tiles[key]

    def _tile_id(self, key: _Key) -> TileId:
        return tile.hash_tile_for(key[0], self.size, key[1])

    def authenticate(self, keys: set[_Key]) -> None:
        """Make the tiles ``keys`` (and whatever vouches for them) authenticated.

        Tiles come from the cache when it has them, else from the fetcher; either way
        they are checked. If a check fails and cached tiles took part, all of them are
        fetched afresh and the check is made once more (a damaged cache is not fatal).
        """
        if all(k in self._tiles for k in keys):
            return
        self._evict()
        want = self._closure(keys)
        loaded, from_cache = self._load(want, use_cache=True)
        try:
            self._verify(want, loaded)
        except (VerificationError, MalformedError):
            if not from_cache:
                raise
            loaded, _ = self._load(want, use_cache=False)
            self._verify(want, loaded)

    def _closure(self, keys: set[_Key]) -> dict[_Key, TileId]:
        """The tiles to load: ``keys``, the parents of full ones up to the right edge,
        and the right edge itself unless already authenticated.
        """
        want: dict[_Key, TileId] = {}
        stack = [k for k in keys if k not in self._tiles]
        while stack:
            key = stack.pop()
            if key in self._tiles or key in want:
                continue
            tid = self._tile_id(key)
            want[key] = tid
            if not tid.is_partial:
                stack.append((key[0] + 1, key[1] >> TILE_HEIGHT))
        if not self._edge_ok:
            for t in tree.edge_tiles(self.size):
                want.setdefault((t.level, t.index), t)
        return want

    def _load(
        self, want: dict[_Key, TileId], *, use_cache: bool
    ) -> tuple[dict[_Key, list[bytes]], set[_Key]]:
        """Hashes of the wanted tiles, unchecked: (by key, keys that came from the cache).

        A right-edge tile whose children are all wanted too is computed from them (its
        hashes *are* their roots) instead of being read; the root check then covers the
        children as well.
        """
        loaded: dict[_Key, list[bytes]] = {}
        from_cache: set[_Key] = set()
        to_fetch: list[TileId] = []
        for key, tid in want.items():
            if tid.is_partial and key[0] > 0 and self._computable(tid, want):
                continue
            hashes = self._cached(tid) if use_cache else None
            if hashes is None:
                to_fetch.append(tid)
            else:
                loaded[key] = hashes
                from_cache.add(key)
        loaded.update(self._fetch_all(to_fetch))
        for key, tid in sorted(want.items()):
            if key not in loaded:  # computable: its children are loaded by now
                loaded[key] = [
                    merkle.root(loaded[(key[0] - 1, key[1] * TILE_WIDTH + i)])
                    for i in range(tid.width)
                ]
        return loaded, from_cache

    def _computable(self, tid: TileId, want: dict[_Key, TileId]) -> bool:
        children = [(tid.level - 1, tid.index * TILE_WIDTH + i) for i in range(tid.width)]
        return all(c in want and not want[c].is_partial for c in children)

    def _verify(self, want: dict[_Key, TileId], loaded: dict[_Key, list[bytes]]) -> None:
        """Authenticate ``loaded`` top-down; accept (and cache) each tile once proven."""
        levels = {key: tree.tile_levels(hashes) for key, hashes in loaded.items()}
        if not self._edge_ok:
            self._check_edge(levels)
            for t in tree.edge_tiles(self.size):
                key = (t.level, t.index)
                if key in want:
                    self._accept(key, t, levels[key])
            self._edge_ok = True
        for key in sorted(want, key=lambda k: (-k[0], k[1])):
            if key in self._tiles:
                continue
            tid = want[key]
            parent_key = (key[0] + 1, key[1] >> TILE_HEIGHT)
            parent = self._levels(parent_key)[0]  # authenticated first: higher level
            at = key[1] % TILE_WIDTH * HASH
            if levels[key][-1][0] != parent[at : at + HASH]:
                ptid = self._tile_id(parent_key)
                raise VerificationError(
                    f"{tid.path()} does not hash to its entry in {ptid.path()} "
                    f"(checkpoint size {self.size})"
                )
            self._accept(key, tid, levels[key])

    def _check_edge(self, levels: dict[_Key, list[list[bytes]]]) -> None:
        """The right-edge tiles must fold to the checkpoint's root (see module doc)."""
        edge = tree.edge_tiles(self.size)
        got = tree.edge_root(self.size, {t.level: levels[(t.level, t.index)][0] for t in edge})
        if got != self.checkpoint.root:
            paths = ", ".join(t.path() for t in edge)
            raise VerificationError(
                f"right-edge tiles {paths} do not hash to the root of checkpoint "
                f"{self.checkpoint.origin} size {self.size}"
            )

    def _accept(self, key: _Key, tid: TileId, levels: list[list[bytes]]) -> None:
        self._tiles[key] = [b"".join(level) for level in levels]
        if self._cache is not None:
            self._cache.put(tid, self._tiles[key][0])

    def _cached(self, tid: TileId) -> list[bytes] | None:
        if self._cache is None:
            return None
        found = self._cache.get(tid)
        if found is None:
            return None
        width, data = found
        if width < tid.width or len(data) != width * merkle.HASH_SIZE:
            return None
        return tile.parse_hash_tile(data[: tid.width * merkle.HASH_SIZE], tid.width)

    # -- fetching ---------------------------------------------------------------------

    def _fetch_all(self, tids: list[TileId]) -> dict[_Key, list[bytes]]:
        tids = sorted(tids)
        results = read_ahead(self._fetch_hash_tile, tids, min(self.parallel, len(tids)))
        return {(t.level, t.index): r for t, r in zip(tids, results, strict=True)}

    def _fetch_hash_tile(self, tid: TileId) -> list[bytes]:
        data, got = fetch_tile(self._fetcher, tid)
        return parse_named(tile.parse_hash_tile, data, got.width, got.path())[: tid.width]
