"""Reading a partial tile, or its full tile when the partial one is gone.

C2SP tlog-tiles v0.1.0 "Partial tiles": a partial tile ``<N>.p/<W>`` may be deleted once
the full tile ``<N>`` exists, and a reader then reads the full one and cuts it to the
width it needs. The same holds for the covers objects (docs/design.md section 2), named
and sized like hash tiles. Nothing here authenticates: :mod:`tlog.fetch.tiles` and
:mod:`tlog.audit` check what these return.
"""

from __future__ import annotations

from collections.abc import Callable

from tlog import layout
from tlog.errors import MalformedError, NotFoundError
from tlog.fetch import Fetcher
from tlog.tile import TileId

__all__ = ["fetch_tile", "parse_named", "read_covers"]


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


def parse_named(
    codec: Callable[[bytes, int], list[bytes]], data: bytes, width: int, path: str
) -> list[bytes]:
    """``codec(data, width)`` (a tile or bundle parser), its MalformedError naming ``path``."""
    try:
        return codec(data, width)
    except MalformedError as exc:
        raise MalformedError(f"{path}: {exc}") from exc
