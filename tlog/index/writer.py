"""The sequencer's side of the index: dedup against it, and a batch's index objects.

docs/index.md "Writing" and "Dedup on the write path". The index of the lock's
checkpoint is read from ``index/heads/<size>`` (immutable: it exists once the batch is
applied, and step 1 applies any committed batch first). A batch's new segments and its
``index/heads/<size>`` are staged with the tiles and created with them in step 6, so
the head of every published checkpoint exists before the checkpoint does (readers fetch
``index/heads/<size>`` for the size the checkpoint names).
"""

from __future__ import annotations

import binascii
import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from tlog import layout
from tlog.admission import Placement
from tlog.checkpoint import Checkpoint
from tlog.errors import (
    ConfigError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    VerificationError,
)
from tlog.index.head import MAX_HEAD_SIZE, IndexHead, open_head
from tlog.index.keys import KEY_HASH_SIZE, key_hashes
from tlog.index.lookup import Runner, hits
from tlog.index.lsm import add_rows
from tlog.index.rows import KeyHashes, rows_of_keys
from tlog.index.segment import ROW_SIZE, BlockStream, SegmentInfo, build_packed, sort_rows
from tlog.note import Note, Signer, Verifier
from tlog.storage import Store
from tlog.tile import hash_tile_for, parse_hash_tile

__all__ = [
    "SegmentFiles",
    "batch_objects",
    "batch_objects_from",
    "empty_head",
    "fresh_segment",
    "known",
    "leaf_hash_at",
    "load",
    "rows_of",
]


def empty_head(cp: Checkpoint) -> IndexHead:
    return IndexHead(cp.origin, cp.size, cp.root)


def init_head(store: Store, note: bytes, signers: Sequence[Signer]) -> None:
    """Create the empty index of a new log's size-0 checkpoint ``note``, unless a run
    that crashed during init already created it (an ECDSA signature would differ: the
    existing head is kept)."""
    key = layout.index_history_key(0)
    try:
        store.read(key, MAX_HEAD_SIZE)
    except NotFoundError:
        head = empty_head(Checkpoint.parse(Note.parse(note).text))
        store.create(key, head.sign(signers))


def load(store: Store, verifiers: Sequence[Verifier], cp: Checkpoint) -> IndexHead:
    """The verified index of exactly ``cp`` (the lock's checkpoint).

    ConfigError if the log predates the index (run ``tlog index rebuild``);
    InconsistencyError if the stored head does not verify or indexes another checkpoint.
    """
    if cp.size == 0:
        return empty_head(cp)
    try:
        data = store.read(layout.index_history_key(cp.size), MAX_HEAD_SIZE)
    except NotFoundError:
        raise ConfigError(
            f"this log has no index at size {cp.size}: run 'tlog index rebuild' first"
        ) from None
    try:
        return open_head(data, verifiers, cp)
    except (MalformedError, VerificationError) as exc:
        raise InconsistencyError(
            f"the index head {layout.index_history_key(cp.size)} is not the lock's: {exc}",
            evidence={"head": data.decode("utf-8", "replace")},
        ) from None


def read_rows(store: Store) -> Callable[[SegmentInfo], list[bytes]]:
    """A function reading a whole live segment's rows, authenticated by recomputing its
    root from every block (a merge reads segments whole)."""

    def read(info: SegmentInfo) -> list[bytes]:
        try:
            data = store.read_range(info.key, 0, info.size)
            stream = BlockStream(info)
            blocks = stream.add(data)
            stream.check()
        except (NotFoundError, MalformedError, VerificationError) as exc:
            raise InconsistencyError(f"index segment {info.key} is unreadable: {exc}") from None
        return _rows(blocks)

    return read


def _rows(blocks: list[bytes]) -> list[bytes]:
    """The rows of a segment's blocks (as :meth:`BlockStream.add` returns them)."""
    return [b[i : i + ROW_SIZE] for b in blocks for i in range(0, len(b), ROW_SIZE)]


#: Rows of windows above which dedup streams a segment instead (docs/index.md
#: "Memory": a key with many rows widens a segment's error bound, and with it every
#: window; streamed, memory is one run of blocks).
WINDOW_ROWS = 1 << 18
#: Blocks a streamed merge reads from a segment at a time (one Range read, ~1.6 MB).
RUN_BLOCKS = 256


class SegmentFiles:
    """:class:`tlog.index.lsm.SegmentIO` over ``store``: segments read by range in runs
    of :data:`RUN_BLOCKS` blocks, scratch files from :func:`tempfile.TemporaryFile`
    (``TMPDIR``), merged segments created with :meth:`Store.create_file`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def runs(self, info: SegmentInfo) -> Iterator[bytes]:
        stream = BlockStream(info)
        try:
            for first in range(0, info.blocks, RUN_BLOCKS):
                last = min(info.blocks, first + RUN_BLOCKS) - 1
                yield b"".join(
                    stream.add(self.store.read_range(info.key, *info.byte_range(first, last)))
                )
            stream.check()
        except (NotFoundError, MalformedError, VerificationError) as exc:
            raise InconsistencyError(f"index segment {info.key} is unreadable: {exc}") from None

    def scratch(self) -> BinaryIO:
        return tempfile.TemporaryFile()

    def create(self, key: str, file: BinaryIO) -> None:
        self.store.create_file(key, file)


def known(
    store: Store, head: IndexHead, hashes: Sequence[bytes], *, run: Runner | None = None
) -> dict[bytes, int]:
    """Leaf hash → index, for those of ``hashes`` the log already holds (``run``: how
    a round of segment reads is made, :func:`tlog.index.lookup.lookup`).

    Each hit of the index is re-checked against the leaf hash at that index (read from
    its level-0 hash tile), so a truncated-hash collision can never drop an entry.
    """
    if not hashes or not head.segments:
        return {}
    by_key = {h[:KEY_HASH_SIZE]: h for h in hashes}  # a UUID's key hash (tlog.index.keys)
    found = (
        hits(head, list(by_key), store.read_range, run=run, max_window_rows=WINDOW_ROWS)
        if run
        else hits(head, list(by_key), store.read_range, max_window_rows=WINDOW_ROWS)
    )
    out: dict[bytes, int] = {}
    for key, indices in found.items():
        for index in sorted(indices):
            if leaf_hash_at(store, head.size, index) == by_key[key]:
                out[by_key[key]] = index
                break
    return out


def leaf_hash_at(store: Store, size: int, index: int) -> bytes:
    """The leaf hash at ``index`` of the log of ``size``, from its level-0 hash tile
    (what a dedup hit is re-checked against)."""
    tid = hash_tile_for(0, size, index // 256)
    tile = parse_hash_tile(store.read(tid.path(), tid.max_size()), tid.width or 256)
    return tile[index % 256]


def rows_of(
    entries: Sequence[bytes],
    start: int,
    hashes: Sequence[bytes] | None = None,
    keys: KeyHashes | None = None,
) -> list[bytes]:
    """The index rows of ``entries`` logged from index ``start`` (``hashes``: their
    leaf hashes, when known; ``keys``: their key hashes, when admission computed them,
    which are then not read back from the entries), in no particular order."""
    if keys is not None:
        if len(keys.counts) != len(entries):
            raise ValueError(f"key hashes of {len(keys.counts)} entries for {len(entries)}")
        return rows_of_keys(keys, start)
    sha256 = hashlib.sha256
    if hashes is None:
        hashes = [sha256(b"\x00" + e).digest() for e in entries]
    ats = [i.to_bytes(8, "big") for i in range(start, start + len(entries))]
    if all(e[:1] != b"{" for e in entries):
        # Only raw entries (the hot loop of a million-entry --raw batch): index_keys,
        # inlined. A UUID's key hash is the leaf hash's first 16 bytes (tlog.index.keys).
        out = [h[:16] + at for h, at in zip(hashes, ats, strict=True)]
        hexlify = binascii.hexlify  # bytes, in one call (hexdigest().encode() is two)
        out += [
            sha256(b"sha256:" + hexlify(sha256(e).digest())).digest()[:16] + at
            for e, at in zip(entries, ats, strict=True)
        ]
        return out
    rows: list[bytes] = []
    for entry, h, at in zip(entries, hashes, ats, strict=True):
        rows.extend(k + at for k in key_hashes(entry, h))
    return rows


def batch_objects(
    store: Store,
    head: IndexHead,
    placement: Placement,
    cp: Checkpoint,
    signers: Sequence[Signer],
) -> list[tuple[str, bytes]]:
    """The objects to stage for the batch ``placement`` that makes ``cp`` out of the
    log ``head`` indexes: its new segments and ``index/heads/<size>``.

    A big merged segment is not among them: it is streamed into ``store`` before this
    returns (:func:`tlog.index.lsm.add_rows`), so before the staging bundle. That is
    crash-safe: it is immutable and named by its root, and no head names it until
    the lock commits the one returned here; a crash before the commit leaves an
    object nothing reads, which a replay of the same batch creates again with
    identical bytes (create-if-absent accepts them), and a crash after the commit
    finds it present."""
    mine = rows_of(placement.leaves, placement.start, placement.hashes, placement.keys)
    segments, objects = add_rows(head.segments, mine, read_rows(store), SegmentFiles(store))
    new = IndexHead(cp.origin, cp.size, cp.root, segments)
    objects.append((layout.index_history_key(cp.size), new.sign(signers)))
    return objects


def fresh_segment(
    entries: Sequence[bytes], start: int, hashes: Sequence[bytes], keys: KeyHashes | None = None
) -> tuple[SegmentInfo, bytes]:
    """The segment of a batch's own rows (the one :func:`tlog.index.lsm.add_rows` makes
    of them before any merge) and its bytes: all of a batch's index work that needs
    nothing but its placement, so it can run in a worker process while the tree is
    built (:mod:`tlog.indexer`). With ``keys`` (the entries' key hashes) the entries
    are not read (they may be left out)."""
    mine = rows_of_keys(keys, start) if keys is not None else rows_of(entries, start, hashes)
    return build_packed(b"".join(sort_rows(mine)))


def batch_objects_from(
    store: Store,
    head: IndexHead,
    fresh: tuple[SegmentInfo, bytes],
    cp: Checkpoint,
    signers: Sequence[Signer],
) -> list[tuple[str, bytes]]:
    """:func:`batch_objects`, the batch's segment ``fresh`` (:func:`fresh_segment`)
    given: the same objects, byte for byte (the merges a new segment triggers read its
    rows from ``fresh``, the other segments' from ``store``)."""
    info, data = fresh
    read = read_rows(store)

    def rows(seg: SegmentInfo) -> list[bytes]:
        if seg.root != info.root:
            return read(seg)
        return _rows(BlockStream(info).add(data))  # our own bytes: nothing to authenticate

    segments, made = add_rows((*head.segments, info), [], rows, _WithFresh(store, fresh))
    objects = dict(made)
    objects[info.key] = data
    out = [(s.key, objects[s.key]) for s in segments if s.key in objects]
    new = IndexHead(cp.origin, cp.size, cp.root, segments)
    out.append((layout.index_history_key(cp.size), new.sign(signers)))
    return out


class _WithFresh(SegmentFiles):
    """:class:`SegmentFiles` that serves the batch's own segment (not in the store yet)
    from its bytes, so a streamed merge that takes it in still streams."""

    def __init__(self, store: Store, fresh: tuple[SegmentInfo, bytes]) -> None:
        super().__init__(store)
        self.fresh = fresh

    def runs(self, info: SegmentInfo) -> Iterator[bytes]:
        mine, data = self.fresh
        if info.root != mine.root:
            return super().runs(info)
        return iter([b"".join(BlockStream(mine).add(data))])
