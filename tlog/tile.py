"""C2SP tlog-tiles v0.1.0: tile coordinates, paths and the two tile codecs.

A *hash tile* at level ``L`` and index ``N`` holds up to 256 consecutive node hashes of
tree level ``8*L``: nodes ``N*256 .. N*256+W-1``. An *entry bundle* (``tile/entries/N``)
holds the entries of leaves ``N*256 .. N*256+W-1``, each as a big-endian uint16 length
followed by that many bytes. A tile with ``W < 256`` is *partial*; its path ends in
``.p/<W>``. Tiles are immutable once written; partial tiles are superseded by wider ones.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tlog import merkle
from tlog.errors import MalformedError, OversizeError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
#: Entries are prefixed with a uint16, so none can be longer (tlog-tiles "Log entries").
MAX_ENTRY_SIZE = 0xFFFF
#: Level marker of entry bundles in :class:`TileId`.
ENTRIES = -1
#: Upper bound of a full entry bundle's size in bytes.
MAX_BUNDLE_SIZE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
MAX_HASH_TILE_SIZE = TILE_WIDTH * merkle.HASH_SIZE

# ASCII digits only: ``\d`` would also match other Unicode decimal digits.
_INDEX_PART = re.compile(r"x[0-9]{3}")
_LAST_PART = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067`` (tlog-tiles, "Merkle Tree")."""
    if n < 0:
        raise ValueError(f"negative tile index {n}")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def partial_width(level: int, size: int) -> int:
    """Width of the rightmost tile at hash level ``level`` for a tree of ``size`` (0: none).

    ``floor(size / 256**level) mod 256`` (tlog-tiles, "Partial tiles"); entry bundles use
    level 0.
    """
    return (size >> (TILE_HEIGHT * max(level, 0))) % TILE_WIDTH


@dataclass(frozen=True, order=True)
class TileId:
    """One tile: hash level (or :data:`ENTRIES`), index within the level, and width."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES or 0 <= self.level <= MAX_LEVEL):
            raise MalformedError(f"tile level {self.level} is not in 0..{MAX_LEVEL}")
        if self.index < 0:
            raise MalformedError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedError(f"tile width {self.width} is not in 1..{TILE_WIDTH}")

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    def max_size(self) -> int:
        """The most bytes this tile's object can hold: the bound for reading it."""
        per = 2 + MAX_ENTRY_SIZE if self.is_entries else merkle.HASH_SIZE
        return self.width * per

    def full(self) -> TileId:
        """The full tile this one is a prefix of."""
        return TileId(self.level, self.index)

    def path(self) -> str:
        """The object path, e.g. ``tile/0/x001/234.p/5`` or ``tile/entries/000``."""
        lvl = "entries" if self.is_entries else str(self.level)
        tail = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{lvl}/{encode_index(self.index)}{tail}"

    @classmethod
    def parse(cls, path: str) -> TileId:
        """Parse a tile path strictly: canonical encodings only, anything else refused."""
        parts = path.split("/")
        if len(parts) < 3 or parts[0] != "tile":
            raise MalformedError(f"not a tile path: {path!r}")
        lvl_s = parts[1]
        if lvl_s == "entries":
            level = ENTRIES
        elif _DECIMAL.fullmatch(lvl_s) and len(lvl_s) <= 2:
            level = int(lvl_s)
        else:
            raise MalformedError(f"bad tile level {lvl_s!r} in {path!r}")
        rest = parts[2:]
        width = TILE_WIDTH
        if len(rest) >= 2 and rest[-2].endswith(".p"):
            w = rest[-1]
            if not _DECIMAL.fullmatch(w) or not 1 <= int(w) < TILE_WIDTH:
                raise MalformedError(f"bad partial width {w!r} in {path!r}")
            width = int(w)
            rest = [*rest[:-2], rest[-2][:-2]]
        if not _LAST_PART.fullmatch(rest[-1]) or not all(
            _INDEX_PART.fullmatch(p) for p in rest[:-1]
        ):
            raise MalformedError(f"bad tile index in {path!r}")
        index = 0
        for p in rest:
            index = index * 1000 + int(p.lstrip("x"))
        if encode_index(index) != "/".join(rest):
            raise MalformedError(f"non-canonical tile index in {path!r}")
        return cls(level, index, width)


def hash_tile_for(level: int, size: int, index: int) -> TileId:
    """The hash tile (full, or partial at the right edge) at ``level``/``index`` for ``size``."""
    full_tiles = size >> (TILE_HEIGHT * (level + 1))
    if index < full_tiles:
        return TileId(level, index)
    width = partial_width(level, size)
    if index == full_tiles and width:
        return TileId(level, index, width)
    raise MalformedError(f"tile {level}/{index} is past the end of a tree of size {size}")


def bundle_for(size: int, index: int) -> TileId:
    """The entry bundle (full, or partial at the right edge) ``index`` for ``size``."""
    tid = hash_tile_for(0, size, index)
    return TileId(ENTRIES, tid.index, tid.width)


def tiles_for_size(size: int) -> Iterator[TileId]:
    """Every hash tile of the published tree of ``size``, level by level (no entries)."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for n in range(count // TILE_WIDTH):
            yield TileId(level, n)
        if count % TILE_WIDTH:
            yield TileId(level, count // TILE_WIDTH, count % TILE_WIDTH)
        level += 1


def format_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """Concatenate 1..256 hashes."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise MalformedError(f"a hash tile holds 1..{TILE_WIDTH} hashes, not {len(hashes)}")
    lengths = set(map(len, hashes))  # checked in C: the writer's hot path
    if lengths != {merkle.HASH_SIZE}:
        bad = min(lengths - {merkle.HASH_SIZE})
        raise MalformedError(f"hash of {bad} bytes in a hash tile")
    return b"".join(hashes)


def parse_hash_tile(data: bytes, width: int) -> list[bytes]:
    """Split a hash tile of ``width`` hashes; any other length is refused."""
    if len(data) != width * merkle.HASH_SIZE:
        raise MalformedError(
            f"hash tile is {len(data)} bytes, want {width * merkle.HASH_SIZE} for width {width}"
        )
    return [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def format_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1..256 entries, each as uint16-BE length ‖ bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedError(f"an entry bundle holds 1..{TILE_WIDTH} entries, not {len(entries)}")
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_SIZE:
            raise OversizeError(f"entry of {len(e)} bytes is over {MAX_ENTRY_SIZE} bytes")
        out += struct.pack(">H", len(e))
        out += e
    return bytes(out)


def parse_bundle(data: bytes, width: int) -> list[bytes]:
    """Decode an entry bundle that must hold exactly ``width`` entries and nothing more."""
    # The hot path of every reader and auditor: one length read and one slice per entry.
    # Anything irregular is decoded again by _parse_bundle, which names the fault.
    entries: list[bytes] = []
    append = entries.append
    pos, n = 0, len(data)
    try:
        while pos < n:
            end = pos + 2 + (data[pos] << 8 | data[pos + 1])
            append(data[pos + 2 : end])
            pos = end
    except IndexError:
        pass
    if pos == n and len(entries) == width:
        return entries
    return _parse_bundle(data, width)


def _parse_bundle(data: bytes, width: int) -> list[bytes]:
    """:func:`parse_bundle`, checking as it goes: the error names what is wrong."""
    entries: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if len(entries) == width:
            raise MalformedError(f"{n - pos} bytes after its {width} entries")
        if pos + 2 > n:
            raise MalformedError("entry bundle is truncated inside a length prefix")
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > n:
            raise MalformedError(
                f"entry bundle is truncated: entry {len(entries)} wants {length} bytes, "
                f"{n - pos} left"
            )
        entries.append(data[pos : pos + length])
        pos += length
    if len(entries) != width:
        raise MalformedError(f"entry bundle has {len(entries)} entries, want {width}")
    return entries
