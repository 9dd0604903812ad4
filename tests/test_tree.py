"""tlog.tree: edges, roots, integration and covers objects against naive RFC 6962 maths."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import layout, merkle, tile, tree
from tlog.errors import InconsistencyError, MalformedError, NotFoundError, OversizeError
from tlog.tile import ENTRIES, TILE_WIDTH, TileId

PROPERTY = settings(max_examples=40, deadline=None)


def _h(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def entry(i: int) -> bytes:
    return b"entry %d" % i


def naive_tiles(hashes: list[bytes]) -> dict[TileId, bytes]:
    """Every hash tile of the tree over ``hashes``, computed node by node."""
    read = merkle.leaves_reader(hashes)
    out: dict[TileId, bytes] = {}
    for tid in tile.tiles_for_size(len(hashes)):
        base = tid.index * TILE_WIDTH
        out[tid] = b"".join(read([(8 * tid.level, base + i) for i in range(tid.width)]))
    return out


class Log:
    """A log grown through tree.integrate and tree.covers, objects kept in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.size = 0
        self.root = merkle.EMPTY_ROOT
        self.covers_bytes: list[int] = []

    def read_tile(self, tid: TileId) -> bytes:
        return self.objects[tid.path()]

    def read_covers(self, tid: TileId) -> bytes:
        try:
            return self.objects[layout.covers_key(tid)]
        except KeyError:
            raise NotFoundError(layout.covers_key(tid)) from None

    def append(self, first: int, count: int, *, with_entries: bool = True) -> tree.Growth:
        new = [entry(i) for i in range(first, first + count)]
        hashes = [merkle.leaf_hash(e) for e in new]
        grown = tree.integrate(
            self.size, self.root, hashes, self.read_tile, entries=new if with_entries else None
        )
        self.objects.update(grown.objects)
        covers = tree.covers(self.size, grown.size, self.read_covers)
        self.objects.update((layout.covers_key(t), data) for t, data in covers)
        self.covers_bytes.append(sum(len(data) for _, data in covers))
        self.size, self.root = grown.size, grown.root
        return grown


# -- tiles inside one tile ------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 37, 255, 256])
def test_tile_levels_are_the_complete_subtrees(width: int) -> None:
    hashes = [_h(i) for i in range(width)]
    levels = tree.tile_levels(hashes)
    assert levels[0] == hashes
    for height, row in enumerate(levels):
        assert len(row) == width >> height
        for index, node in enumerate(row):
            assert node == merkle.root(hashes[index << height : (index + 1) << height])
    if width == TILE_WIDTH:
        assert levels[tile.TILE_HEIGHT] == [merkle.root(hashes)]


# -- the right edge -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 65_535, 65_536, 65_537, 70_000])
def test_edge_tiles_are_the_partial_tiles(size: int) -> None:
    edge = tree.edge_tiles(size)
    assert edge == [t for t in tile.tiles_for_size(size) if t.is_partial]
    assert sum(t.width << (8 * t.level) for t in edge) == size


@PROPERTY
@given(st.integers(0, 2_000) | st.sampled_from([65_536, 65_537, 65_790]))
def test_folding_the_edge_gives_the_tree_root(size: int) -> None:
    hashes = [_h(i) for i in range(size)]
    tiles = naive_tiles(hashes)
    edge = tree.read_edge(size, lambda t: tiles[t])
    assert set(edge) == {t.level for t in tree.edge_tiles(size)}
    assert tree.edge_root(size, edge) == merkle.root(hashes)


def test_edge_root_refuses_a_missing_or_short_level() -> None:
    hashes = [_h(i) for i in range(257)]
    edge = tree.read_edge(257, naive_tiles(hashes).__getitem__)
    with pytest.raises(MalformedError, match="lacks level 1"):
        tree.edge_root(257, {0: edge[0]})
    with pytest.raises(MalformedError, match="lacks level 0"):
        tree.edge_root(257, {0: [], 1: edge[1]})


# -- integration ----------------------------------------------------------------------


@PROPERTY
@given(st.lists(st.integers(1, 300), min_size=1, max_size=8))
def test_any_split_into_batches_gives_the_same_tiles_and_root(batches: list[int]) -> None:
    log = Log()
    for count in batches:
        log.append(log.size, count)
    hashes = [merkle.leaf_hash(entry(i)) for i in range(log.size)]
    assert log.root == merkle.root(hashes)
    want = naive_tiles(hashes)
    for tid, data in want.items():
        assert log.objects[tid.path()] == data, tid.path()
    for n in range(-(-log.size // TILE_WIDTH)):
        bundle = tile.bundle_for(log.size, n)
        got = tile.parse_bundle(log.objects[bundle.path()], bundle.width)
        assert got == [entry(i) for i in range(n * TILE_WIDTH, n * TILE_WIDTH + bundle.width)]


def test_integration_across_levels_matches_one_batch() -> None:
    split, whole = Log(), Log()
    for first, count in ((0, 65_530), (65_530, 10), (65_540, 5)):
        split.append(first, count, with_entries=False)
    grown = whole.append(0, 65_545, with_entries=False)
    assert split.root == whole.root == grown.root
    edge = tree.read_edge(65_545, split.read_tile)
    assert set(edge) == {0, 2}  # level 1 is full: 256 full level-0 tiles
    assert dict(grown.edge) == {level: tuple(hs) for level, hs in edge.items()}
    for tid in tile.tiles_for_size(65_545):
        assert split.objects[tid.path()] == whole.objects[tid.path()], tid.path()


def test_hash_tiles_are_written_through_the_tile_codec() -> None:
    grown = tree.grow(0, {}, [_h(i) for i in range(300)])
    assert [t for t, _ in grown.tiles] == [TileId(0, 0), TileId(0, 1, 44), TileId(1, 0, 1)]
    for tid, data in grown.tiles:
        assert tile.parse_hash_tile(data, tid.width)
    with pytest.raises(MalformedError):
        tree.grow(0, {}, [b"short"])


def test_grow_refuses_an_edge_of_another_size() -> None:
    edge = tree.grow(0, {}, [_h(i) for i in range(300)]).edge
    assert {level: len(hs) for level, hs in edge.items()} == {0: 44, 1: 1}
    for size in (0, 299, 301, 556):
        with pytest.raises(MalformedError, match="not the right edge"):
            tree.grow(size, edge, [_h(0)])
    assert tree.grow(300, edge, [_h(0)]).size == 301


def test_a_damaged_edge_or_tail_is_not_built_upon() -> None:
    log = Log()
    log.append(0, 10)
    wrong_root = bytes(32)
    with pytest.raises(InconsistencyError, match="right-edge tiles give root"):
        tree.integrate(10, wrong_root, [_h(0)], log.read_tile)
    with pytest.raises(InconsistencyError, match=r"tile/entries/000.p/10 does not match"):
        tree.integrate(10, log.root, [_h(0)], log.read_tile, entries=[b"x"], tail=[b"?"] * 10)
    with pytest.raises(ValueError):
        tree.integrate(10, log.root, [_h(0)], log.read_tile, entries=[])


def test_read_tail_is_the_partial_bundle() -> None:
    log = Log()
    log.append(0, 300)
    assert tree.read_tail(300, log.read_tile) == [entry(i) for i in range(256, 300)]
    assert tree.read_tail(256, log.read_tile) == []


# -- covers objects -------------------------------------------------------------------


class Covers:
    """Only the covers objects of a log grown batch by batch (no tree needed)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.sizes: list[int] = []
        self.written: list[list[tuple[str, bytes]]] = []

    def read(self, tid: TileId) -> bytes:
        try:
            return self.objects[layout.covers_key(tid)]
        except KeyError:
            raise NotFoundError(layout.covers_key(tid)) from None

    def grow(self, count: int) -> None:
        size = self.sizes[-1] if self.sizes else 0
        out = [(layout.covers_key(t), d) for t, d in tree.covers(size, size + count, self.read)]
        for key, data in out:
            assert key not in self.objects or self.objects[key] == data, "rewrote " + key
        self.objects.update(out)
        self.written.append(out)
        self.sizes.append(size + count)

    def truth(self, index: int) -> int:
        return next(s for s in self.sizes if s > index)


def test_covers_name_each_entrys_first_covering_checkpoint() -> None:
    log = Log()
    sizes = []
    for count in (1, 2, 13, 240, 1, 255, 16, 100, 3, 70, 600, 256, 44):
        log.append(log.size, count)
        sizes.append(log.size)
    for i in range(log.size):
        assert tree.covering_size(i, log.size, log.read_covers) == next(s for s in sizes if s > i)
    assert log.objects["checkpoints/covers/0/001"] == b"257\n512\n"
    assert log.objects["checkpoints/covers/0/002"] == b"528\n628\n631\n701\n"
    assert "checkpoints/covers/0/003" not in log.objects  # filled by the batch that ends at 1301
    assert log.objects["checkpoints/covers/0/005"] == b"1301\n"
    assert log.objects["checkpoints/covers/0/006.p/65"] == b"1557\n1601\n"
    # The batches that crossed bundle ends: 701..1301 and 1301..1557.
    assert log.objects["checkpoints/covers/1/000.p/6"] == b"1301\n1557\n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 40_000), min_size=1, max_size=12), st.randoms())
def test_covers_agree_with_every_split(counts: list[int], rnd: random.Random) -> None:
    log = Covers()
    for count in counts:
        log.grow(count)
        size = log.sizes[-1]
        probes = {0, size - 1, *(rnd.randrange(size) for _ in range(30))}
        probes |= {b * TILE_WIDTH + d for b in range(0, size // TILE_WIDTH, 97) for d in (0, 255)}
        for i in sorted(p for p in probes if p < size):
            assert tree.covering_size(i, size, log.read) == log.truth(i), i


@pytest.mark.slow
def test_a_batchs_covers_cost_is_constant() -> None:
    log = Covers()
    for _ in range(70_000):  # one-entry batches across two groups of 256 bundles
        log.grow(1)
    per_batch = [sum(len(d) for _, d in w) for w in log.written]
    # A small object per batch (two at each bundle end), never over 256 sizes.
    assert max(len(w) for w in log.written) == 2
    assert max(per_batch) <= 2 * TILE_WIDTH * 6
    assert sum(per_batch) / len(per_batch) < TILE_WIDTH * 6 / 2 + 10
    # A big batch writes a handful of objects, not one per bundle.
    log.grow(1_000_000)
    assert len(log.written[-1]) == 2 + 16
    assert tree.covering_size(500_000, log.sizes[-1], log.read) == 1_070_000


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"10", MalformedError, "newline"),
        (b"\n", MalformedError, "not a checkpoint size"),
        (b"010\n", MalformedError, "not a checkpoint size"),
        (b"1\n\n", MalformedError, "not a checkpoint size"),
        (b"+1\n", MalformedError, "not a checkpoint size"),
        (b"\xd9\xa1\n", MalformedError, "not a checkpoint size"),  # Arabic-Indic one
        (b"1" * 20 + b"\n", MalformedError, "not a checkpoint size"),
        (b"20\n10\n", MalformedError, "not ascending"),
        (b"10\n10\n", MalformedError, "not ascending"),
        (b"1\n" * 3000, OversizeError, "over"),
    ],
)
def test_parse_covers_refuses(data: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        tree.parse_covers(data, "covers")


def test_format_covers() -> None:
    assert tree.parse_covers(tree.format_covers([3, 16, 256]), "c") == [3, 16, 256]
    assert tree.parse_covers(tree.format_covers([]), "c") == []
    for bad in ([2, 1], [1, 1], list(range(1, 258))):
        with pytest.raises(MalformedError):
            tree.format_covers(bad)


def test_covers_refuse_a_damaged_or_missing_history() -> None:
    log = Log()
    log.append(0, 10)
    key = layout.covers_key(TileId(0, 0, 10))
    log.objects[key] = b"9\n"
    with pytest.raises(InconsistencyError, match="does not end with the tree's size 10"):
        tree.covers(10, 11, log.read_covers)
    log.objects[key] = b"junk\n"
    with pytest.raises(InconsistencyError, match="not a checkpoint size"):
        tree.covers(10, 11, log.read_covers)
    del log.objects[key]
    with pytest.raises(InconsistencyError, match=r"covers/0/000\.p/10"):
        tree.covers(10, 11, log.read_covers)
    assert tree.covers(256, 257, log.read_covers) == [(TileId(0, 1, 1), b"257\n")]


def test_covers_keys_are_laid_out_like_hash_tiles() -> None:
    assert layout.covers_key(TileId(0, 1_234_067, 5)) == "checkpoints/covers/0/x001/x234/067.p/5"
    assert layout.covers_key(TileId(1, 3)) == "checkpoints/covers/1/003"
    assert layout.cover_for(300, 700) == "checkpoints/covers/0/001"
    assert layout.cover_for(600, 700) == "checkpoints/covers/0/002.p/188"
    for bad in (TileId(ENTRIES, 1), TileId(2, 0)):
        with pytest.raises(MalformedError):
            layout.covers_key(bad)
    with pytest.raises(MalformedError):
        layout.cover_for(700, 700)
