"""tlog.tile against C2SP tlog-tiles v0.1.0: paths, partial widths, tile sets, codecs."""

from __future__ import annotations

import hashlib
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import tile
from tlog.errors import MalformedError, OversizeError
from tlog.tile import ENTRIES, TILE_WIDTH, TileId

PROPERTY = settings(max_examples=100, deadline=None)

#: The path grammar of tlog-tiles "Merkle Tree" and "Log entries", written out.
PATH_GRAMMAR = re.compile(
    r"tile/(entries|0|[1-9]|[1-5][0-9]|6[0-3])/(x[0-9]{3}/)*[0-9]{3}"
    r"(\.p/([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5]))?"
)


def _h(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


# --- index encoding and paths -----------------------------------------------------


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1001, "x001/001"),
        (1234067, "x001/x234/067"),  # the spec's example
        (10**6, "x001/x000/000"),
        (2**40, "x001/x099/x511/x627/776"),
    ],
)
def test_encode_index(n: int, want: str) -> None:
    assert tile.encode_index(n) == want


def test_encode_index_negative() -> None:
    with pytest.raises(ValueError):
        tile.encode_index(-1)


def test_paths() -> None:
    assert TileId(0, 0).path() == "tile/0/000"
    assert TileId(2, 1234067, 5).path() == "tile/2/x001/x234/067.p/5"
    assert TileId(ENTRIES, 1000).path() == "tile/entries/x001/000"
    assert TileId(ENTRIES, 3, 255).path() == "tile/entries/003.p/255"
    assert TileId(63, 0, 1).path() == "tile/63/000.p/1"


@PROPERTY
@given(st.integers(-1, 63), st.integers(0, 2**40), st.integers(1, 256))
def test_path_round_trip(level: int, index: int, width: int) -> None:
    tid = TileId(level, index, width)
    p = tid.path()
    assert PATH_GRAMMAR.fullmatch(p), p
    assert TileId.parse(p) == tid
    assert tid.is_entries is (level == ENTRIES)
    assert tid.is_partial is (width < TILE_WIDTH)
    assert tid.full() == TileId(level, index)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile",
        "tile/0",
        "tile/0/",
        "tiles/0/000",
        "/tile/0/000",
        "tile//000",
        "tile/0/1",
        "tile/0/01",
        "tile/0/0000",
        "tile/0/1234",
        "tile/0/001/234",  # missing x prefix
        "tile/0/x01/234",  # 2-digit groups
        "tile/0/x1/234",
        "tile/0/x0001/234",
        "tile/0/x001/34",
        "tile/0/x001/x234",  # last group with x
        "tile/0/x000/001",  # leading x000 group
        "tile/0/x000/x001/000",
        "tile/0/X001/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/07",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/5/",
        "tile/0/000.p/5/6",
        "tile/0/000.p/-1",
        "tile/0/000.p/+5",
        "tile/0/000.p/ 5",
        "tile/0/000.q/5",
        "tile/0/x001.p/5",
        "tile/0/.p/5",
        "tile/01/000",
        "tile/00/000",
        "tile/64/000",
        "tile/100/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/ 1/000",
        "tile/ENTRIES/000",
        "tile/entry/000",
        "tile/0/000/",  # trailing slash
        "tile/0/000/000",  # extra segment
        "tile/0/x001/000/000",
        "tile/entries/000/",
        "tile/entries/000.p/256",
        "tile/0/000\n",
        # Non-ASCII decimal digits (Python's \d would match them).
        "tile/1\u0660/000",
        "tile/\u0661/000",
        "tile/0/\u0660\u0660\u0661",
        "tile/0/x\u0660\u0660\u0661/000",
        "tile/0/000.p/1\u0660",
        "tile/0/000.p/\u0665",
    ],
)
def test_parse_refuses_non_canonical(path: str) -> None:
    with pytest.raises(MalformedError):
        TileId.parse(path)


def test_tile_id_invariants() -> None:
    for bad in [(-2, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(MalformedError):
            TileId(*bad)


# --- partial widths and tile sets -------------------------------------------------


@PROPERTY
@given(st.integers(0, 2**64), st.integers(0, 7))
def test_partial_width_formula(size: int, level: int) -> None:
    # tlog-tiles "Partial Tiles": floor(s / 256**l) mod 256.
    assert tile.partial_width(level, size) == (size // 256**level) % 256


def test_partial_width_entries_is_level_0() -> None:
    assert tile.partial_width(ENTRIES, 70000) == tile.partial_width(0, 70000) == 112


def naive_tiles(size: int) -> set[TileId]:
    """Count the hashes each tile holds, level by level (each level-l hash covers 256**l leaves)."""
    counts: dict[tuple[int, int], int] = {}
    level = 0
    while 256**level <= size:
        for i in range(size // 256**level):
            counts[(level, i // 256)] = counts.get((level, i // 256), 0) + 1
        level += 1
    return {TileId(lvl, n, w) for (lvl, n), w in counts.items()}


def test_tiles_for_size_spec_examples() -> None:
    # tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    # one partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    # tile of width 17, and one partial level 2 tile of width 1."
    tiles = list(tile.tiles_for_size(70000))
    want = [TileId(0, n) for n in range(273)]
    want += [TileId(0, 273, 112), TileId(1, 0), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert tiles == want
    # "a tree of size 256 will be represented by a full level 0 tile and a partial
    # level 1 tile of width 1."
    assert list(tile.tiles_for_size(256)) == [TileId(0, 0), TileId(1, 0, 1)]
    assert list(tile.tiles_for_size(0)) == []
    assert list(tile.tiles_for_size(1)) == [TileId(0, 0, 1)]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 70_000))
def test_tiles_for_size_matches_naive(size: int) -> None:
    got = list(tile.tiles_for_size(size))
    assert len(got) == len(set(got))
    assert set(got) == naive_tiles(size)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 65535, 65536, 65537, 70000])
def test_tiles_for_size_edges(size: int) -> None:
    assert set(tile.tiles_for_size(size)) == naive_tiles(size)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 511, 512, 65536, 70000, 16_777_217])
def test_hash_tile_for_and_bundle_for(size: int) -> None:
    for t in tile.tiles_for_size(size):
        assert tile.hash_tile_for(t.level, size, t.index) == t
        if t.level == 0:
            assert tile.bundle_for(size, t.index) == TileId(ENTRIES, t.index, t.width)
    for level in range(4):
        past = -(-(size // 256**level) // 256)  # first index with no hashes at all
        with pytest.raises(MalformedError):
            tile.hash_tile_for(level, size, past)
    with pytest.raises(MalformedError):
        tile.bundle_for(size, -(-size // 256))


# --- hash tiles -------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 255, 256])
def test_hash_tile_round_trip(width: int) -> None:
    hashes = [_h(i) for i in range(width)]
    data = tile.format_hash_tile(hashes)
    assert len(data) == 32 * width
    assert tile.parse_hash_tile(data, width) == hashes
    for bad in [0, 1, 31, 32 * width - 1, 32 * width + 1, 32 * width + 32]:
        if bad != 32 * width:
            wrong = data[:bad] if bad < len(data) else data + bytes(bad - len(data))
            with pytest.raises(MalformedError):
                tile.parse_hash_tile(wrong, width)
    if width > 1:
        with pytest.raises(MalformedError):
            tile.parse_hash_tile(data, width - 1)
    with pytest.raises(MalformedError):
        tile.parse_hash_tile(data, width + 1)


def test_format_hash_tile_refuses() -> None:
    with pytest.raises(MalformedError):
        tile.format_hash_tile([])
    with pytest.raises(MalformedError):
        tile.format_hash_tile([_h(i) for i in range(257)])
    with pytest.raises(MalformedError):
        tile.format_hash_tile([_h(0), _h(1)[:31]])
    with pytest.raises(MalformedError):
        tile.format_hash_tile([_h(0) + b"\x00"])


# --- entry bundles ----------------------------------------------------------------


@PROPERTY
@given(st.lists(st.binary(max_size=600), min_size=1, max_size=256))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    data = tile.format_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert tile.parse_bundle(data, len(entries)) == entries


def test_bundle_layout() -> None:
    assert tile.format_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"


def test_bundle_max_entry() -> None:
    big = bytes(range(256)) * 255 + bytes(range(255))
    assert len(big) == 65535
    data = tile.format_bundle([big, b"x"])
    assert data[:2] == b"\xff\xff"
    assert tile.parse_bundle(data, 2) == [big, b"x"]
    with pytest.raises(OversizeError):
        tile.format_bundle([b"x", big + b"!"])


def test_format_bundle_refuses_counts() -> None:
    with pytest.raises(MalformedError):
        tile.format_bundle([])
    with pytest.raises(MalformedError):
        tile.format_bundle([b"x"] * 257)
    assert tile.parse_bundle(tile.format_bundle([b"x"] * 256), 256) == [b"x"] * 256


ENTRIES_SAMPLE = [b"first", b"", b"\x00\x01", bytes(300), b"last entry"]
BUNDLE = tile.format_bundle(ENTRIES_SAMPLE)


def test_bundle_truncated_everywhere() -> None:
    for cut in range(len(BUNDLE)):
        with pytest.raises(MalformedError):
            tile.parse_bundle(BUNDLE[:cut], len(ENTRIES_SAMPLE))


@pytest.mark.parametrize(
    "extra", [b"\x00", b"\x00\x00", b"\x00\x01x", b"\x00\x05", b"junk", tile.format_bundle([b"6"])]
)
def test_bundle_trailing_bytes(extra: bytes) -> None:
    with pytest.raises(MalformedError):
        tile.parse_bundle(BUNDLE + extra, len(ENTRIES_SAMPLE))


def test_bundle_wrong_count() -> None:
    n = len(ENTRIES_SAMPLE)
    for width in [1, n - 1, n + 1, 256]:
        with pytest.raises(MalformedError):
            tile.parse_bundle(BUNDLE, width)
    with pytest.raises(MalformedError):
        tile.parse_bundle(b"", 1)


def test_bundle_length_prefix_is_big_endian() -> None:
    # A little-endian reader would see 0x0100 = 256 bytes here and fail.
    data = struct.pack(">H", 1) + b"x" + struct.pack(">H", 256) + bytes(256)
    assert tile.parse_bundle(data, 2) == [b"x", bytes(256)]


# --- read bounds ------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 17, 256])
def test_max_size_bounds_the_largest_valid_object(width: int) -> None:
    hashes = TileId(0, 3, width)
    assert hashes.max_size() == len(tile.format_hash_tile([_h(i) for i in range(width)]))
    bundle = TileId(ENTRIES, 3, width)
    assert bundle.max_size() == width * (2 + tile.MAX_ENTRY_SIZE)
    assert TileId(ENTRIES, 3).max_size() == tile.MAX_BUNDLE_SIZE
    assert TileId(2, 0).max_size() == tile.MAX_HASH_TILE_SIZE
