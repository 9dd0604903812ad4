"""A cache of *authenticated* tiles, on disk under ``$XDG_CACHE_HOME/tlog``.

Only :class:`~tlog.fetch.tiles.TileReader` writes here, and only tiles it has just
authenticated against a verified checkpoint (hash tiles) or checked against
authenticated leaf hashes (entry bundles); nothing fetched goes in unverified.
Layout: ``<root>/<log>/tile/<L>/<N>[.p/<W>]`` and ``tile/entries/...`` (tlog-tiles
paths), ``<log>`` being :func:`log_dirname` of the origin. Full tiles never change. A
partial tile is kept only until a wider or full version of it arrives (the right edge
of the last verified checkpoint), so a warm proof needs no tile GET and the cache does
not grow with every checkpoint.

The cache is an optimisation: failures to read or write it are ignored, and proofs
computed from cached tiles are still checked against the checkpoint root.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

from tlog import merkle
from tlog.codec import decimal
from tlog.errors import MalformedError
from tlog.tile import TILE_WIDTH, TileId
from tlog.xdg import atomic_write, log_dirname, user_dir

__all__ = ["DiskTileCache", "MemoryTileCache", "TileCache", "default_cache_dir", "log_dirname"]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tlog``, else ``~/.cache/tlog`` (XDG Base Directory spec)."""
    return user_dir("cache")


class TileCache(Protocol):
    """Authenticated tiles of one log.

    Contract: :meth:`get` returns ``(width, data)`` where ``data`` was passed to
    :meth:`put` for the tile at the same level and index with that ``width``, which is
    at least the width asked for (a wider version's data is a valid prefix source);
    None if there is none. :meth:`put` is given authenticated data only, so it drops
    any wider version that does not start with it (a damaged or forked tile that
    would otherwise be served, fail and be fetched again on every read).
    """

    def get(self, tile: TileId) -> tuple[int, bytes] | None: ...

    def put(self, tile: TileId, data: bytes) -> None: ...


class MemoryTileCache:
    """A :class:`TileCache` in a dict (tests, tools, one-shot processes)."""

    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], tuple[int, bytes]] = {}

    def get(self, tile: TileId) -> tuple[int, bytes] | None:
        found = self.tiles.get((tile.level, tile.index))
        if found is None or found[0] < tile.width:
            return None
        return found

    def put(self, tile: TileId, data: bytes) -> None:
        old = self.tiles.get((tile.level, tile.index))
        if old is None or old[0] <= tile.width or not old[1].startswith(data):
            self.tiles[(tile.level, tile.index)] = (tile.width, data)


class DiskTileCache:
    """A :class:`TileCache` in ``<root>/<log_dirname(origin)>``; writes are atomic."""

    def __init__(self, root: Path, origin: str) -> None:
        self.dir = Path(root) / log_dirname(origin)

    def __repr__(self) -> str:
        return f"DiskTileCache({str(self.dir)!r})"

    def _full_path(self, tile: TileId) -> Path:
        return self.dir / tile.full().path()

    def get(self, tile: TileId) -> tuple[int, bytes] | None:
        full = self._full_path(tile)
        candidates = [(TILE_WIDTH, full)]
        if tile.is_partial:
            pdir = full.parent / (full.name + ".p")
            with contextlib.suppress(OSError):
                widths = sorted(w for w in map(_width, os.listdir(pdir)) if w is not None)
                candidates += [(w, pdir / str(w)) for w in widths if w >= tile.width]
        for width, path in candidates:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if not tile.is_entries and len(data) != width * merkle.HASH_SIZE:
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            return width, data
        return None

    def put(self, tile: TileId, data: bytes) -> None:
        if not tile.is_entries and len(data) != tile.width * merkle.HASH_SIZE:
            return
        path = self.dir / tile.path()
        full = self._full_path(tile)
        pdir = full.parent / (full.name + ".p")
        try:
            atomic_write(path, data, durable=False)  # a cache: a lost tile is fetched again
            # Drop the partial versions this one supersedes, and wider versions that
            # contradict it (they failed authentication: see TileCache).
            for name in os.listdir(pdir) if pdir.is_dir() else []:
                width = _width(name)
                if width is not None and (not tile.is_partial or width < tile.width):
                    with contextlib.suppress(OSError):
                        (pdir / name).unlink()
                elif width is not None and width > tile.width:
                    _drop_unless_prefix(pdir / name, data)
            if not tile.is_partial:
                with contextlib.suppress(OSError):
                    pdir.rmdir()
            else:
                _drop_unless_prefix(full, data)
        except OSError:
            return


def _width(name: str) -> int | None:
    """The width a partial tile's file name gives (tlog-tiles ``.p/<W>``), else None."""
    try:
        width = decimal(name, "partial tile width", max_digits=3)
    except MalformedError:
        return None
    return width if 0 < width < TILE_WIDTH else None


def _drop_unless_prefix(path: Path, data: bytes) -> None:
    """Remove the cached ``path`` unless it starts with ``data`` (or is absent)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(data))
        if head != data:
            path.unlink()
    except OSError:
        return
