"""TileReader: every tile authenticated before use or caching, partial → full fallback,
the cache, entry bundles; and RFC 6962 proofs from tiles for many (index, size) pairs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import merkle
from tlog.errors import MalformedError, NotFoundError, VerificationError
from tlog.fetch.cache import DiskTileCache, MemoryTileCache
from tlog.fetch.tiles import TileReader
from tlog.tile import TileId
from tlog.tree import edge_tiles

from .synthetic import SyntheticLog, flip, leaf

CAPACITY = 70_000  # three tile levels: crosses 256 and 65,536
BIG = SyntheticLog(CAPACITY)


def reader_for(log: SyntheticLog, size: int, cache: MemoryTileCache | None = None) -> TileReader:
    log.size = size
    return TileReader(log.checkpoint(size), log, cache)


def check_inclusion(log: SyntheticLog, index: int, size: int) -> None:
    r = reader_for(log, size)
    proof = merkle.inclusion_proof(index, size, r.read)
    root = log.checkpoint(size).root
    leaf_hash = merkle.leaf_hash(leaf(index))
    assert r.read([(0, index)]) == [leaf_hash]
    merkle.verify_inclusion(index, size, leaf_hash, proof, root)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(index, size, leaf_hash, bad, root)
    if proof:
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(index, size, leaf_hash, proof[:-1], root)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(index, size, leaf_hash, [*proof, root], root)
    if size > 1:
        other = (index + 1) % size
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(other, size, leaf_hash, proof, root)


def check_consistency(log: SyntheticLog, size1: int, size2: int) -> None:
    r = reader_for(log, size2)
    proof = merkle.consistency_proof(size1, size2, r.read)
    root1, root2 = log.checkpoint(size1).root, log.checkpoint(size2).root
    merkle.verify_consistency(size1, size2, root1, root2, proof)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(VerificationError):
            merkle.verify_consistency(size1, size2, root1, root2, bad)
    if size1 < size2:
        with pytest.raises(VerificationError):
            merkle.verify_consistency(size1, size2, root2, root2, proof)


SMALL = SyntheticLog(600)


@pytest.mark.parametrize("size", [*range(1, 40), 255, 256, 257, 511, 512, 513, 600])
def test_inclusion_every_index_small_trees(size: int) -> None:
    for index in range(size) if size < 40 else range(0, size, 7):
        check_inclusion(SMALL, index, size)


@pytest.mark.parametrize("size2", [*range(1, 34), 256, 257, 300, 512, 600])
def test_consistency_every_pair_small_trees(size2: int) -> None:
    for size1 in range(1, size2 + 1) if size2 < 40 else range(1, size2 + 1, 11):
        check_consistency(SMALL, size1, size2)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inclusion_property_three_levels(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, CAPACITY))
    index = data.draw(st.integers(0, size - 1))
    check_inclusion(BIG, index, size)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_consistency_property_three_levels(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, CAPACITY))
    size1 = data.draw(st.integers(1, size2))
    check_consistency(BIG, size1, size2)


def test_reads_outside_the_tree_are_refused() -> None:
    r = reader_for(SMALL, 100)
    with pytest.raises(VerificationError):
        r.read([(0, 100)])
    with pytest.raises(VerificationError):
        r.read([(7, 0)])  # covers [0, 128): not complete in a tree of 100


# -- every fetched tile is authenticated -------------------------------------------------

#: Sizes whose right edge holds several nodes per tile: 779 = 3·256 + 0b1011 (level-0
#: edge nodes at heights 3, 1, 0 in one tile), 66,825 = 65,536 + 5·256 + 9 (two edge
#: tiles and a width-1 top tile), 70,000.
TAMPER_SIZES = [1, 11, 256, 779, 66_825, 70_000]


def fetched_tiles(log: SyntheticLog, size: int, coords: list[tuple[int, int]]) -> list[str]:
    log.fetched.clear()
    reader_for(log, size).read(coords)
    return sorted(set(log.tile_fetches()))


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_a_flipped_bit_in_any_fetched_tile_is_caught(size: int) -> None:
    log = SyntheticLog(CAPACITY)
    for index in sorted({0, size // 2, size - 1}):
        coords = [*merkle.inclusion_nodes(index, size), (0, index)]
        paths = fetched_tiles(log, size, coords)
        assert paths
        for path in paths:
            width = TileId.parse(path).width
            for pos in sorted({0, width // 2, width - 1}):
                log.tamper = {path: flip(pos * 32 + 5)}
                cache = MemoryTileCache()
                with pytest.raises(VerificationError):
                    reader_for(log, size, cache).read(coords)
                # Nothing unverified was cached: every cached tile is genuine.
                for (level, idx), (w, data) in cache.tiles.items():
                    assert data == log.object(TileId(level, idx, w).path())
        log.tamper = {}


def test_an_unneeded_hash_sharing_a_right_edge_tile_is_still_checked() -> None:
    """Leaf 778 of 779 is the last hash of the level-0 edge tile tile/0/003.p/11; a lie
    in hash 9 (part of another edge node) must be caught even though the reader only
    needs hash 10 — the shape where some readers skip authenticating the tile.
    """
    log = SyntheticLog(1000)
    r0 = reader_for(log, 779)
    assert r0.read([(0, 778)]) == [merkle.leaf_hash(leaf(778))]
    log.tamper = {"tile/0/003.p/11": flip(9 * 32)}
    with pytest.raises(VerificationError, match="right-edge tiles"):
        reader_for(log, 779).read([(0, 778)])
    # Also when the lie is in a higher edge tile than the one holding the node.
    log.tamper = {"tile/1/000.p/3": flip(0)}
    with pytest.raises(VerificationError):
        reader_for(log, 779).read([(0, 778)])


def test_full_tile_checked_against_its_parent() -> None:
    log = SyntheticLog(1000)
    log.tamper = {"tile/0/001": flip(200 * 32)}
    with pytest.raises(VerificationError, match="tile/0/001 does not hash to its entry"):
        reader_for(log, 779).read([(0, 256)])


@pytest.mark.parametrize(
    ("path", "fn", "error"),
    [
        ("tile/0/003.p/11", lambda d: d[:-1], MalformedError),
        ("tile/0/003.p/11", lambda d: d[:-32], MalformedError),
        ("tile/0/001", lambda d: d[:-32], MalformedError),
    ],
)
def test_wrong_size_tiles(path: str, fn, error: type[Exception]) -> None:  # type: ignore[no-untyped-def]
    log = SyntheticLog(1000)
    log.tamper = {path: fn}
    with pytest.raises(error, match=path.replace(".", r"\.")):
        reader_for(log, 779).read([(0, 256), (0, 778)])


def test_partial_tile_falls_back_to_the_full_one() -> None:
    log = SyntheticLog(1100)  # the log has grown: tile/0/003 is full, the old partial gone
    log.missing = {"tile/0/003.p/11", "tile/entries/003.p/11"}
    cache = MemoryTileCache()
    r = TileReader(log.checkpoint(779), log, cache)
    assert r.read([(0, 778)]) == [merkle.leaf_hash(leaf(778))]
    assert "tile/0/003" in log.fetched
    assert r.entry(778) == leaf(778)
    # Only the authenticated prefix is cached, at the checkpoint's width.
    assert cache.tiles[(0, 3)] == (11, log.object("tile/0/003")[: 11 * 32])
    assert (-1, 3) not in cache.tiles  # bundle came from the full one: not cached


def test_no_partial_and_no_full_is_not_found() -> None:
    log = SyntheticLog(1000)
    log.missing = {"tile/0/003.p/11"}
    with pytest.raises(NotFoundError):
        reader_for(log, 779).read([(0, 778)])


def test_warm_cache_costs_no_tile_fetch_and_damaged_cache_is_refetched() -> None:
    log = SyntheticLog(CAPACITY)
    cache = MemoryTileCache()
    size, index = 66_825, 12_345
    coords = merkle.inclusion_nodes(index, size)
    first = reader_for(log, size, cache).read(coords)
    reader_for(log, size, cache).entry(index)
    log.fetched.clear()
    r = reader_for(log, size, cache)
    assert r.read(coords) == first
    assert r.entry(index) == leaf(index)
    assert log.tile_fetches() == []
    # A damaged cached tile is detected and fetched afresh, then replaced.
    w, data = cache.tiles[(0, index // 256)]
    cache.tiles[(0, index // 256)] = (w, data[:40] + bytes([data[40] ^ 1]) + data[41:])
    assert reader_for(log, size, cache).read(coords) == first
    assert cache.tiles[(0, index // 256)] == (w, data)
    assert log.tile_fetches()
    # A damaged cached bundle too.
    w, data = cache.tiles[(-1, index // 256)]
    cache.tiles[(-1, index // 256)] = (w, data[:-1] + b"X")
    log.fetched.clear()
    assert reader_for(log, size, cache).entry(index) == leaf(index)
    assert log.tile_fetches() == ["tile/entries/048"]


def test_width_one_edge_tile_is_computed_from_the_full_tile_below() -> None:
    """Size 65,800: tile/2/000.p/1 holds the root of tile/1/000, which the proof of an
    index below 65,536 fetches anyway; it is computed, not fetched."""
    log = SyntheticLog(CAPACITY)
    size = 65_800
    paths = fetched_tiles(log, size, merkle.inclusion_nodes(100, size))
    assert "tile/2/000.p/1" not in paths
    assert paths == sorted(["tile/0/000", "tile/0/257.p/8", "tile/1/000", "tile/1/001.p/1"])
    # ...and a lie in that full tile is still caught (by the root check).
    log.tamper = {"tile/1/000": flip(7 * 32)}
    with pytest.raises(VerificationError):
        reader_for(log, size).read(merkle.inclusion_nodes(100, size))


def test_entry_bundle_checked_against_leaf_hashes() -> None:
    log = SyntheticLog(1000)
    log.tamper = {"tile/entries/001": flip(2 + 3)}
    with pytest.raises(VerificationError, match=r"tile/entries/001: entry 0 \(log index 256\)"):
        reader_for(log, 779).entry(300)
    log.tamper = {"tile/entries/001": lambda d: d + b"\0\0"}
    with pytest.raises(MalformedError, match="tile/entries/001"):
        reader_for(log, 779).entry(300)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65_536, 65_537, 66_825])
def test_edge_tiles_fold_to_the_root(size: int) -> None:
    assert sum(t.width << (8 * t.level) for t in edge_tiles(size)) == size
    r = reader_for(BIG, size)
    assert merkle.tree_root(size, r.read) == BIG.checkpoint(size).root


def test_a_stray_file_in_the_disk_cache_is_ignored(tmp_path: Path) -> None:
    cache = DiskTileCache(tmp_path, "o.example/log")
    tile = TileId(0, 0, 3)
    cache.put(tile, b"\1" * 96)
    pdir = cache.dir / "tile/0/000.p"
    for stray in ("\u00b2", "07", "999", "x"):  # "²".isdigit() is True; int("²") fails
        (pdir / stray).write_bytes(b"\2" * 64)
    assert cache.get(TileId(0, 0, 2)) == (3, b"\1" * 96)
    cache.put(TileId(0, 0, 4), b"\1" * 128)
    assert cache.get(tile) == (4, b"\1" * 128)
