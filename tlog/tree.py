"""The tile tree: the maths of a Merkle tree kept in 256-wide tiles, and no IO.

One module for everything that reasons about the tree of a given size as C2SP
tlog-tiles v0.1.0 stores it: which tiles a size needs, the *right edge* (the partial
hash tile at each level), folding an edge to the RFC 6962 root, integrating new leaf
hashes (and entries) into new hash tiles and entry bundles, and the covers objects
(each entry's first covering checkpoint). The writer (:mod:`tlog.sequencer`), the tile
reader (:mod:`tlog.fetch.tiles`) and the auditor (:mod:`tlog.audit`) all use it; IO is
injected as a :data:`ReadTile` function, so any store, fetcher or test double serves.

**The right edge.** For a tree of size N, hash level L (tree level ``8*L``) has a
partial tile of width ``floor(N / 256**L) mod 256`` when that is non-zero
(tlog-tiles "Partial tiles"). The subtrees of RFC 6962's decomposition of ``[0, N)``
(one per set bit of N) all lie inside those tiles, so the edge alone gives the root
(:func:`edge_root`), and is all a writer needs to extend the tree (:func:`integrate`).

**Covers objects** (``checkpoints/covers/<L>/<N>[.p/<W>]`` for L = 0 and 1, named
and sized like the hash tile ``tile/<L>/<N>[.p/<W>]``, :func:`tlog.layout.covers_key`)
find each entry's *first covering checkpoint* (the one whose cosignature time is the
entry's integrated time) without listing. Each lists ascending checkpoint sizes, one
decimal per line:

* level 0, one per entry bundle N: the sizes of the checkpoints whose last entry lies
  in bundle N (the batches that *end* there);
* level 1, one per 256 bundles M: the sizes of the batches that *cross* the end of one
  of M's bundles (a batch with entries on both sides of a bundle boundary).

Entry ``i`` of bundle N was integrated by the batch that holds it: if that batch ended
in bundle N, its size is the first size past ``i`` in the level-0 object of N;
otherwise it crossed N's end and its size is the first size past ``i`` in the
level-1 object of ``N // 256`` (:func:`covering_size`). A batch rewrites the level-0
object of the bundle it ends in (and publishes the final, full object of the bundle it
started in), and the level-1 object of every 256 bundles in which it completes a
bundle: a one-entry batch writes one small object, a million-entry batch about 18, and
no object ever holds more than 256 lines (every line adds an entry, or a bundle
boundary, that no other line adds). An object exists under the name its tile width
gives whenever a reader of that size can ask for it; a bundle that a single batch
filled from end to end has no level-0 object at all (its reader is sent to level 1).

A covers object is only a hint, and a lying server can make an entry's time later,
never earlier: the reader accepts a named size s only if ``i < s <= S`` and the
checkpoint ``checkpoints/<s>`` verifies and is consistent with S, so it is a checkpoint
the log signed and that contains entry i. The log signed no checkpoint whose size lies
between i and the true first covering size, and its checkpoint times never go
backwards, so any other s it can name carries the same time or a later one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tlog import layout, merkle, tile
from tlog.codec import decimal
from tlog.errors import InconsistencyError, MalformedError, NotFoundError, OversizeError
from tlog.tile import ENTRIES, TILE_HEIGHT, TILE_WIDTH, TileId

#: Returns the bytes of one tile or bundle (NotFoundError if it is missing). Callers
#: decide what a missing or oversize object means; this module never does IO.
ReadTile = Callable[[TileId], bytes]
#: Reads an object: ``read(key, limit)`` (a store's read).
ReadObject = Callable[[str, int], bytes]

#: The right edge: hash level → the hashes of that level's partial tile.
Edge = Mapping[int, Sequence[bytes]]


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


def tile_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every complete subtree inside one tile: ``levels[h][i]`` is node ``(h, i)`` of it.

    ``levels[0]`` is the tile's hashes; ``levels[8][0]`` (full tiles only) its root,
    which is hash ``index mod 256`` of the tile above (RFC 6962 §2.1 node hashes).
    """
    sha = hashlib.sha256  # merkle.node_hash, inlined: the reader's and auditor's hot loop
    levels = [list(hashes)]
    row = levels[0]
    while len(row) > 1:
        row = [sha(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        levels.append(row)
    return levels


def edge_root(size: int, edge: Edge) -> bytes:
    """The root of the tree of ``size`` from its right edge (see the module doc).

    ``edge[L]`` must hold the hashes of the partial tile at level L (at least its
    width); MalformedError if a level the root needs is missing or short.
    """
    nodes: list[bytes] = []
    for level, index in merkle.range_nodes(0, size):
        tl, h = divmod(level, TILE_HEIGHT)
        hashes = edge.get(tl)
        start = (index << h) % TILE_WIDTH
        if hashes is None or len(hashes) < start + (1 << h):
            raise MalformedError(f"the right edge of size {size} lacks level {tl}")
        nodes.append(merkle.root(hashes[start : start + (1 << h)]))
    return merkle.fold(nodes) if nodes else merkle.EMPTY_ROOT


def read_edge(size: int, read_tile: ReadTile) -> dict[int, list[bytes]]:
    """The right edge of ``size``, read and parsed but *not* authenticated."""
    return {t.level: tile.parse_hash_tile(read_tile(t), t.width) for t in edge_tiles(size)}


def read_tail(size: int, read_tile: ReadTile) -> list[bytes]:
    """The entries of the partial entry bundle of ``size`` (the last < 256), unchecked."""
    width = tile.partial_width(0, size)
    if not width:
        return []
    return tile.parse_bundle(read_tile(TileId(ENTRIES, size // TILE_WIDTH, width)), width)


@dataclass(frozen=True)
class Growth:
    """A tree grown by a batch: its new size and root, and every tile to write."""

    size: int
    root: bytes
    #: New entry bundles (if entries were given) then hash tiles, level by level.
    tiles: tuple[tuple[TileId, bytes], ...]
    #: The right edge of the new tree.
    edge: Mapping[int, tuple[bytes, ...]]

    @property
    def objects(self) -> list[tuple[str, bytes]]:
        """The tiles as (tlog-tiles path, bytes)."""
        return [(tid.path(), data) for tid, data in self.tiles]


def grow(size: int, edge: Edge, hashes: Sequence[bytes]) -> Growth:
    """Append leaf ``hashes`` to the tree of ``size`` whose right edge is ``edge``.

    Pure: every hash tile that changes (old partial hashes + new ones at each level,
    as full or partial tiles) and the new root. ``edge`` is trusted; authenticate it
    first (:func:`integrate` does).
    """
    widths = {level: len(hs) for level, hs in edge.items() if hs}
    if widths != {t.level: t.width for t in edge_tiles(size)}:
        raise MalformedError(f"edge of widths {widths} is not the right edge of size {size}")
    new_size = size + len(hashes)
    tiles: list[tuple[TileId, bytes]] = []
    new_edge: dict[int, tuple[bytes, ...]] = {}
    level, added = 0, hashes
    while added:
        first = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH
        base = [*edge.get(level, ()), *added]
        parents: list[bytes] = []
        for i in range(0, len(base), TILE_WIDTH):
            chunk = base[i : i + TILE_WIDTH]
            tiles.append(
                (TileId(level, first + i // TILE_WIDTH, len(chunk)), tile.format_hash_tile(chunk))
            )
            if len(chunk) == TILE_WIDTH:
                parents.append(merkle.root(chunk))
            else:
                new_edge[level] = tuple(chunk)
        added = parents
        level += 1
    for lvl, hs in edge.items():  # levels the batch did not reach keep their partial tile
        if lvl >= level:
            new_edge[lvl] = tuple(hs)
    return Growth(new_size, edge_root(new_size, new_edge), tuple(tiles), new_edge)


def bundles(
    size: int, tail: Sequence[bytes], entries: Sequence[bytes]
) -> list[tuple[TileId, bytes]]:
    """The entry bundles that change when ``entries`` follow the tree of ``size``, whose
    partial bundle holds ``tail``."""
    first = size // TILE_WIDTH
    both = [*tail, *entries]
    return [
        (
            TileId(ENTRIES, first + i // TILE_WIDTH, len(both[i : i + TILE_WIDTH])),
            tile.format_bundle(both[i : i + TILE_WIDTH]),
        )
        for i in range(0, len(both), TILE_WIDTH)
    ]


def integrate(
    size: int,
    root: bytes,
    hashes: Sequence[bytes],
    read_tile: ReadTile,
    *,
    entries: Sequence[bytes] | None = None,
    tail: Sequence[bytes] | None = None,
) -> Growth:
    """Append leaf ``hashes`` to the committed tree (``size``, ``root``) stored in tiles.

    Reads the right edge with ``read_tile`` and refuses (InconsistencyError) to build
    on one that does not fold to ``root``. With ``entries`` (whose leaf hashes must be
    ``hashes``) the new entry bundles come first; ``tail``, the partial bundle's entries
    if the caller has them, is read otherwise, and must match the edge's leaf hashes.
    """
    edge = read_edge(size, read_tile)
    got = edge_root(size, edge)
    if got != root:
        raise InconsistencyError(
            f"the right-edge tiles give root {got.hex()}, but the tree of size {size} has "
            f"root {root.hex()}: refusing to build on a damaged log"
        )
    grown = grow(size, edge, hashes)
    if entries is None:
        return grown
    if len(entries) != len(hashes):
        raise ValueError(f"{len(entries)} entries for {len(hashes)} leaf hashes")
    tail = read_tail(size, read_tile) if tail is None else tail
    if [merkle.leaf_hash(e) for e in tail] != list(edge.get(0, ())):
        tid = TileId(ENTRIES, size // TILE_WIDTH, tile.partial_width(0, size))
        raise InconsistencyError(f"entry bundle {tid.path()} does not match its hash tile")
    return Growth(grown.size, grown.root, (*bundles(size, tail, entries), *grown.tiles), grown.edge)


# -- covers objects ---------------------------------------------------------------------


def parse_covers(data: bytes, what: str) -> list[int]:
    """Ascending decimal checkpoint sizes, one per ``\\n``-terminated line (module doc);
    an empty object lists none."""
    if len(data) > layout.MAX_COVER_SIZE:
        raise OversizeError(f"{what} is {len(data)} bytes, over {layout.MAX_COVER_SIZE}")
    if not data:
        return []
    if not data.endswith(b"\n"):
        raise MalformedError(f"{what} does not end with a newline")
    sizes: list[int] = []
    for line in data[:-1].split(b"\n"):
        try:
            s = decimal(line, f"{what}: checkpoint size")
        except MalformedError:
            raise MalformedError(f"{what}: {line[:30]!r} is not a checkpoint size") from None
        if sizes and s <= sizes[-1]:
            raise MalformedError(f"{what}: sizes are not ascending ({sizes[-1]}, {s})")
        sizes.append(s)
    return sizes


def format_covers(sizes: Sequence[int]) -> bytes:
    """The covers object listing ``sizes`` (ascending, at most one tile's width)."""
    if len(sizes) > TILE_WIDTH or list(sizes) != sorted(set(sizes)):
        raise MalformedError(f"a covers object lists at most {TILE_WIDTH} ascending sizes")
    return b"".join(b"%d\n" % s for s in sizes)


def covers_tile(level: int, index: int, size: int) -> TileId:
    """The covers object ``index`` of ``level`` (0: per bundle, 1: per 256 bundles) as a
    reader or writer of a tree of ``size`` names it: the hash tile's id at that size."""
    return tile.hash_tile_for(level, size, index)


def _listed(read: ReadTile, tid: TileId) -> list[int]:
    return parse_covers(read(tid), layout.covers_key(tid))


def covering_size(index: int, size: int, read_covers: ReadTile) -> int | None:
    """The size of the first checkpoint covering leaf ``index`` of a tree of ``size``, per
    the covers objects ``read_covers`` returns (NotFoundError: treated as listing
    nothing); None if they name none. At most two reads, the second only for entries of
    a batch that crossed a bundle's end. The caller checks ``index < s <= size`` and
    that checkpoint ``s`` verifies (module docstring: a hint, never trusted)."""
    bundle = index // TILE_WIDTH
    tids = [covers_tile(0, bundle, size)]
    if bundle < size // TILE_WIDTH:  # a complete bundle: a batch may have crossed its end
        tids.append(covers_tile(1, bundle // TILE_WIDTH, size))
    for tid in tids:
        try:
            listed = _listed(read_covers, tid)
        except NotFoundError:
            continue
        for s in listed:
            if s > index:
                return s
    return None


def covers(size: int, new_size: int, read_covers: ReadTile) -> list[tuple[TileId, bytes]]:
    """The covers objects of a batch growing the log from ``size`` to ``new_size``, by the
    tile id naming each (:func:`tlog.layout.covers_key` gives its key; module docstring).

    ``read_covers`` returns the committed tree's objects this needs (at most one per
    level-1 object touched and one level-0 object); a missing one is an
    InconsistencyError: the committed tree must have published it.
    """
    if not 0 <= size < new_size:
        raise ValueError(f"a batch grows the tree: {size} -> {new_size}")
    first, last = size // TILE_WIDTH, (new_size - 1) // TILE_WIDTH
    out: list[tuple[TileId, bytes]] = []
    prior = _prior(read_covers, covers_tile(0, first, size)) if size % TILE_WIDTH else []
    if prior and prior[-1] != size:
        what = layout.covers_key(covers_tile(0, first, size))
        raise InconsistencyError(f"{what} does not end with the tree's size {size}")
    if first != last and prior:  # the bundle this batch started in is now complete
        out.append((covers_tile(0, first, new_size), format_covers(prior)))
        prior = []
    out.append((covers_tile(0, last, new_size), format_covers([*prior, new_size])))
    completed = new_size // TILE_WIDTH  # bundles first .. completed - 1 complete now
    for group in range(first // TILE_WIDTH, (completed - 1) // TILE_WIDTH + 1):
        if completed <= first:
            break
        lo, hi = group * TILE_WIDTH, (group + 1) * TILE_WIDTH
        had = min(TILE_WIDTH, max(0, size // TILE_WIDTH - lo))
        listed = _prior(read_covers, covers_tile(1, group, size)) if had else []
        if max(first, lo) < min(last, hi):  # crossed the end of a bundle of this group
            listed.append(new_size)
        out.append((covers_tile(1, group, new_size), format_covers(listed)))
    return out


def _prior(read_covers: ReadTile, tid: TileId) -> list[int]:
    try:
        return _listed(read_covers, tid)
    except (NotFoundError, MalformedError) as exc:
        raise InconsistencyError(
            f"covers object {layout.covers_key(tid)} of the committed tree: {exc}"
        ) from None


def committed_tile(read: ReadObject, tid: TileId) -> bytes:
    """Tile ``tid`` of the committed tree a sequencer builds on, read with ``read``; a
    missing one is InconsistencyError (the log is damaged, not merely behind)."""
    try:
        return read(tid.path(), tid.max_size())
    except NotFoundError:
        raise InconsistencyError(
            f"right-edge tile {tid.path()} of the committed tree is missing"
        ) from None


def committed_covers(read: ReadObject, tid: TileId) -> bytes:
    """The covers object named like ``tid`` of the committed tree, read with ``read``;
    a missing one is InconsistencyError."""
    key = layout.covers_key(tid)
    try:
        return read(key, layout.MAX_COVER_SIZE)
    except NotFoundError:
        raise InconsistencyError(
            f"integrated-time index {key} of the committed tree is missing"
        ) from None
