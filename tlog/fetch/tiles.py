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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tlog import layout, merkle, tile, tree
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
        return _parse(tile.parse_bundle, data, got.width, got.path())[: tid.width], got == tid

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
        """Make the tiles ``keys`` (and whatever vouches for them) authenticated.

        Tiles come from the cache when it has them, else from the fetcher; either way
        they are checked. If a check fails and cached tiles took part, all of them are
        fetched afresh and the check is made once more (a damaged cache is not fatal).
        """
        if all(k in self._tiles for k in keys):
            return
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
            parent = self._tiles[parent_key]  # authenticated first: higher level
            if levels[key][-1][0] != parent[0][key[1] % TILE_WIDTH]:
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
        self._tiles[key] = levels
        if self._cache is not None:
            self._cache.put(tid, b"".join(levels[0]))

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
        if len(tids) > 1 and self._parallel > 1:
            with ThreadPoolExecutor(min(self._parallel, len(tids))) as pool:
                results = list(pool.map(self._fetch_hash_tile, tids))
        else:
            results = [self._fetch_hash_tile(t) for t in tids]
        return {(t.level, t.index): r for t, r in zip(tids, results, strict=True)}

    def _fetch_hash_tile(self, tid: TileId) -> list[bytes]:
        data, got = fetch_tile(self._fetcher, tid)
        return _parse(tile.parse_hash_tile, data, got.width, got.path())[: tid.width]


def fetch_tile(
    fetcher: Fetcher,
    tid: TileId,
    key: Callable[[TileId], str] = TileId.path,
    limit: Callable[[TileId], int] = TileId.max_size,
) -> tuple[bytes, TileId]:
    """The object of ``tid``, or of its full tile if ``tid`` is partial and gone (404),
    with the TileId it came from (tlog-tiles "Partial tiles"). The caller cuts a full
    tile to ``tid``'s width. ``key`` names the object (tiles and bundles by default,
    covers objects with :func:`tlog.layout.covers_key`); ``limit`` bounds the read.
    """
    try:
        return fetcher.fetch(key(tid), limit(tid)), tid
    except NotFoundError:
        if not tid.is_partial:
            raise
    full = tid.full()
    try:
        return fetcher.fetch(key(full), limit(full)), full
    except NotFoundError as exc:
        raise NotFoundError(f"{key(tid)} is missing and so is {key(full)} ({exc})") from exc


def read_covers(fetcher: Fetcher) -> Callable[[TileId], bytes]:
    """A :data:`tlog.tree.ReadTile` of covers objects through ``fetcher``: bounded, and
    the full object when the partial one is gone (as for tiles)."""

    def read(tid: TileId) -> bytes:
        return fetch_tile(fetcher, tid, layout.covers_key, _covers_limit)[0]

    return read


def _covers_limit(_: TileId) -> int:
    return layout.MAX_COVER_SIZE


def _parse(
    codec: Callable[[bytes, int], list[bytes]], data: bytes, width: int, path: str
) -> list[bytes]:
    try:
        return codec(data, width)
    except MalformedError as exc:
        raise MalformedError(f"{path}: {exc}") from exc
