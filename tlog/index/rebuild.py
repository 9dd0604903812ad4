"""Building the index of a log that predates it (``tlog index rebuild``).

Resumable and crash-safe: entries are indexed in chunks of :data:`CHUNK` entries; after
each chunk the new segments are created (immutable, named by their root, so a replay
writes identical bytes) and then the progress — indexed size and live segments — is
written to ``private/index-rebuild``. A killed run resumes from the last progress
written; segments a crash left unreferenced are harmless garbage. At the end the head of
the lock's checkpoint is signed and created as ``index/heads/<size>`` (where readers
find it); from then on the sequencer keeps the index (docs/index.md).

The log must be settled (the lock equal to the public checkpoint) and no sequencer may
run meanwhile: without an index, sequencers refuse to run, so none does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tlog import layout
from tlog.checkpoint import open_checkpoint
from tlog.codec import load_json
from tlog.errors import ConfigError, MalformedError, NotFoundError
from tlog.index import writer
from tlog.index.head import IndexHead
from tlog.index.lsm import add_rows
from tlog.index.segment import SegmentInfo
from tlog.keys import LogKeys
from tlog.storage import Store
from tlog.tile import MAX_BUNDLE_SIZE, TILE_WIDTH, bundle_for, parse_bundle

__all__ = ["CHUNK", "PROGRESS", "Rebuilt", "rebuild"]

PROGRESS = "private/index-rebuild"
#: Entries per chunk (a multiple of the bundle width).
CHUNK = 64 * TILE_WIDTH


@dataclass(frozen=True)
class Rebuilt:
    size: int
    segments: int
    resumed_from: int
    already: bool = False


def rebuild(
    store: Store,
    keys: LogKeys,
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> Rebuilt:
    """Index every entry of the log's lock checkpoint and publish the head."""
    note = store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
    cp = open_checkpoint(note, keys.verifiers(), origin=keys.origin).checkpoint
    try:
        public = store.read(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        public = b""
    if public != note:
        raise ConfigError(
            "the log is not settled (lock and checkpoint differ): run 'tlog sequence' first"
        )
    try:
        store.read(layout.index_history_key(cp.size), 1 << 20)
        return Rebuilt(cp.size, 0, cp.size, already=True)
    except NotFoundError:
        pass
    done, segments = _progress(store)
    start = done
    while done < cp.size:
        end = min(cp.size, done + chunk)
        entries = _entries(store, cp.size, done, end)
        rows = writer.rows_of(entries, done)
        segments, objects = add_rows(
            segments, rows, writer.read_rows(store), writer.SegmentFiles(store)
        )
        if objects:
            store.create_many(objects)
        store.write(PROGRESS, _format(end, segments))
        done = end
        if progress:
            progress(done, cp.size)
    head = IndexHead(cp.origin, cp.size, cp.root, segments)
    store.create(layout.index_history_key(cp.size), head.sign(keys.signers(int)))
    store.delete(PROGRESS)
    return Rebuilt(cp.size, len(segments), start)


def _entries(store: Store, size: int, lo: int, hi: int) -> list[bytes]:
    out: list[bytes] = []
    for n in range(lo // TILE_WIDTH, (hi + TILE_WIDTH - 1) // TILE_WIDTH):
        tid = bundle_for(size, n)
        out.extend(parse_bundle(store.read(tid.path(), MAX_BUNDLE_SIZE), tid.width))
    first = (lo // TILE_WIDTH) * TILE_WIDTH
    return out[lo - first : hi - first]


def _format(size: int, segments: tuple[SegmentInfo, ...]) -> bytes:
    return json.dumps({"size": size, "segments": [s.format() for s in segments]}).encode()


def _progress(store: Store) -> tuple[int, tuple[SegmentInfo, ...]]:
    try:
        doc = load_json(store.read(PROGRESS, 1 << 24), "index rebuild progress")
    except NotFoundError:
        return 0, ()
    try:
        size = doc["size"]
        segments = tuple(SegmentInfo.parse(line) for line in doc["segments"])
        if not isinstance(size, int) or size < 0:
            raise TypeError("size")
    except (KeyError, TypeError) as exc:
        raise MalformedError(
            f"{PROGRESS} is unreadable ({exc}): delete it to start again"
        ) from None
    return size, segments
