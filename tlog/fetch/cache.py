"""A cache of *authenticated* hash tiles, on disk under ``$XDG_CACHE_HOME/tlog``.

Only :class:`~tlog.fetch.tiles.TileReader` writes here, and only tiles it has just
authenticated against a verified checkpoint; nothing fetched goes in unverified.
Layout: ``<root>/<log>/tile/<L>/<N>[.p/<W>]`` (tlog-tiles paths), ``<log>`` being
:func:`log_dirname` of the origin. Full tiles never change. A partial tile is kept
only until a wider or full version of it arrives (the right edge of the last verified
checkpoint), so a warm proof needs no tile GET and the cache does not grow with every
checkpoint. Entry bundles are not cached.

The cache is an optimisation: failures to read or write it are ignored, and proofs
computed from cached tiles are still checked against the checkpoint root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from tlog import merkle
from tlog.tile import TileId


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tlog``, else ``~/.cache/tlog`` (XDG Base Directory spec)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "tlog"


def log_dirname(origin: str) -> str:
    """A file name for a log's origin: percent-encoded, or hashed when too long."""
    name = quote(origin, safe="")
    if len(name) > 120 or name.startswith("."):
        name = "sha256-" + hashlib.sha256(origin.encode()).hexdigest()
    return name


class TileCache(Protocol):
    """Authenticated hash tiles of one log.

    Contract: :meth:`get` returns bytes that were passed to :meth:`put` for that tile,
    or the prefix of a wider version of it (``width`` × 32 bytes), or None.
    """

    def get(self, tile: TileId) -> bytes | None: ...

    def put(self, tile: TileId, data: bytes) -> None: ...


class MemoryTileCache:
    """A :class:`TileCache` in a dict (tests, tools, one-shot processes)."""

    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], bytes] = {}

    def get(self, tile: TileId) -> bytes | None:
        data = self.tiles.get((tile.level, tile.index))
        want = tile.width * merkle.HASH_SIZE
        if data is None or len(data) < want:
            return None
        return data[:want]

    def put(self, tile: TileId, data: bytes) -> None:
        old = self.tiles.get((tile.level, tile.index))
        if old is None or len(old) < len(data):
            self.tiles[(tile.level, tile.index)] = data


class DiskTileCache:
    """A :class:`TileCache` in ``<root>/<log_dirname(origin)>``; writes are atomic."""

    def __init__(self, root: Path, origin: str) -> None:
        self.dir = Path(root) / log_dirname(origin)

    def __repr__(self) -> str:
        return f"DiskTileCache({str(self.dir)!r})"

    def _full_path(self, tile: TileId) -> Path:
        return self.dir / tile.full().path()

    def get(self, tile: TileId) -> bytes | None:
        if tile.is_entries:
            return None
        want = tile.width * merkle.HASH_SIZE
        full = self._full_path(tile)
        candidates = [full]
        if tile.is_partial:
            pdir = full.parent / (full.name + ".p")
            with contextlib.suppress(OSError):
                widths = sorted(int(n) for n in os.listdir(pdir) if n.isdigit())
                candidates += [pdir / str(w) for w in widths if w >= tile.width]
        for path in candidates:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if len(data) % merkle.HASH_SIZE or len(data) < want:
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            return data[:want]
        return None

    def put(self, tile: TileId, data: bytes) -> None:
        if tile.is_entries or len(data) != tile.width * merkle.HASH_SIZE:
            return
        path = self.dir / tile.path()
        full = self._full_path(tile)
        pdir = full.parent / (full.name + ".p")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            # Drop the partial versions this one supersedes.
            for name in os.listdir(pdir) if pdir.is_dir() else []:
                if name.isdigit() and (not tile.is_partial or int(name) < tile.width):
                    with contextlib.suppress(OSError):
                        (pdir / name).unlink()
            if not tile.is_partial:
                with contextlib.suppress(OSError):
                    pdir.rmdir()
        except OSError:
            return
