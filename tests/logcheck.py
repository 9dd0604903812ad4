"""Re-verify a whole log in a Store from scratch (used after every fault in the tests).

Independent of the sequencer's code paths: entries come from the bundles, every tile is
recomputed naively from the leaf hashes, every historical checkpoint is checked
against the tree of its size.
"""

from __future__ import annotations

from tlog import layout, merkle, tile, tree
from tlog.checkpoint import Checkpoint, open_checkpoint
from tlog.index.head import MAX_HEAD_SIZE, open_head
from tlog.index.keys import index_keys, key_hash
from tlog.index.segment import make_row, parse_rows
from tlog.keys import LogKeys
from tlog.storage import Store


def entries_of(store: Store, size: int) -> list[bytes]:
    out: list[bytes] = []
    for n in range((size + 255) // 256):
        tid = tile.bundle_for(size, n)
        out += tile.parse_bundle(store.read(tid.path(), tile.MAX_BUNDLE_SIZE), tid.width)
    return out


def check_log(store: Store, keys: LogKeys, *, settled: bool = True) -> list[bytes]:
    """Assert the log is whole and consistent; return its entries.

    ``settled``: the last run finished, so lock == public checkpoint and nothing is left
    in staging.
    """
    vs = keys.verifiers()
    public = store.read(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
    cp = open_checkpoint(public, vs, origin=keys.origin)
    size = cp.checkpoint.size
    if settled:
        assert store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE) == public
        assert store.list(layout.STAGING_PREFIX) == []
    entries = entries_of(store, size)
    assert len(entries) == size
    hashes = [merkle.leaf_hash(e) for e in entries]
    read = merkle.leaves_reader(hashes)
    assert merkle.root(hashes) == cp.checkpoint.root
    for tid in tile.tiles_for_size(size):
        base = tid.index * 256
        want = read([(8 * tid.level, base + i) for i in range(tid.width)])
        assert store.read(tid.path(), tile.MAX_HASH_TILE_SIZE) == b"".join(want), tid.path()
    sizes = []
    for key in store.list(layout.HISTORY_PREFIX):
        name = key[len(layout.HISTORY_PREFIX) :]
        if not name.isdigit():
            continue
        hist = open_checkpoint(store.read(key, layout.MAX_CHECKPOINT_SIZE), vs, origin=keys.origin)
        n = hist.checkpoint.size
        assert n == int(name) and n <= size
        assert hist.checkpoint.root == merkle.root(hashes[:n]), f"history {n} is not a prefix"
        sizes.append(n)
    assert size in sizes
    # Integrated-time index: each leaf's first covering checkpoint, as the covers objects
    # name it, is the first published checkpoint past it.
    sizes.sort()

    def read(tid: tile.TileId) -> bytes:
        return store.read(layout.covers_key(tid), layout.MAX_COVER_SIZE)

    for i in [*range(0, size, 97), size - 1] if size else []:
        assert tree.covering_size(i, size, read) == next(s for s in sizes if s > i), i
    check_index(store, keys, cp.checkpoint, entries, sizes)
    return entries


def check_index(
    store: Store, keys: LogKeys, cp: Checkpoint, entries: list[bytes], sizes: list[int]
) -> None:
    """The index head of ``cp``'s size indexes exactly ``cp``; its segments hold exactly the
    rows re-derived from the entries; every history checkpoint has its head."""
    vs = keys.verifiers()
    head = open_head(store.read(layout.index_history_key(cp.size), MAX_HEAD_SIZE), vs, cp)
    assert "index/head" not in store.list("index/"), "no mutable index head is written"
    got: list[bytes] = []
    for seg in head.segments:
        got += parse_rows(seg, 0, store.read(seg.key, seg.size))
    want = {
        make_row(key_hash(kind, value), i)
        for i, e in enumerate(entries)
        for kind, value in index_keys(e)
    }
    assert len(got) == len(set(got)) and set(got) == want, "index rows differ from the entries"
    for n in sizes:
        hist = store.read(layout.history_key(n), layout.MAX_CHECKPOINT_SIZE)
        past = open_checkpoint(hist, vs, origin=keys.origin).checkpoint
        open_head(store.read(layout.index_history_key(n), MAX_HEAD_SIZE), vs, past)
