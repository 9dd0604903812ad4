"""Level-0 hash tiles read for a scan, kept nowhere.

A scan reads each leaf tile once, so it authenticates them itself and keeps none,
rather than passing them through the client's :class:`~tlog.fetch.tiles.TileReader`,
whose cache they would fill (or churn) for nothing; and the hashing is done in the
worker that checks the tile's bundle, not in the monitor's process. A full tile is
checked by its root (RFC 6962 §2.1), which must equal the level-8 node the reader
authenticates from the level-1 tile above it (1/256 as many tiles); the one partial
tile at the right edge comes through the reader, which checks it against the
checkpoint.
"""

from __future__ import annotations

from tlog import merkle, tile
from tlog.client import Client
from tlog.errors import VerificationError
from tlog.fetch.tiles import fetch_tile
from tlog.tile import TILE_HEIGHT, TILE_WIDTH

__all__ = ["LeafTile", "fetch_leaf_tile", "leaf_hashes", "leaf_roots"]

#: A leaf tile as fetched: its bytes, its width, and the root it must have (None: the
#: bytes were authenticated by the reader already).
LeafTile = tuple[bytes, int, bytes | None]


def leaf_roots(client: Client, k0: int, k1: int) -> dict[int, bytes]:
    """The authenticated roots of the full leaf tiles among ``k0``..``k1 - 1``."""
    full = range(k0, min(k1, client.reader.size // TILE_WIDTH))
    if not full:
        return {}
    return dict(zip(full, client.reader.read([(TILE_HEIGHT, k) for k in full]), strict=True))


def fetch_leaf_tile(client: Client, k: int, roots: dict[int, bytes]) -> LeafTile:
    """Leaf tile ``k``: fetched (to be checked against ``roots[k]``) if it is full,
    else from the reader. The reader is not called for a full tile (so this may run in
    threads for full tiles)."""
    if k not in roots:
        hashes = client.reader.leaf_hashes(k)
        return b"".join(hashes), len(hashes), None
    data, got = fetch_tile(client.fetcher, tile.hash_tile_for(0, client.reader.size, k))
    return data, got.width, roots[k]


def leaf_hashes(client: Client, k: int) -> list[bytes]:
    """The authenticated leaf hashes of tile ``k``, checked here."""
    roots = leaf_roots(client, k, k + 1)
    data, width, root = fetch_leaf_tile(client, k, roots)
    hashes = tile.parse_hash_tile(data, width)[: TILE_WIDTH if root else width]
    if root is not None and merkle.root(hashes) != root:
        raise VerificationError(f"tile/0/{tile.encode_index(k)} does not match the tree's root")
    return hashes
