"""The sequencer's side of the index: dedup against it, and a batch's index objects.

docs/index.md "Writing" and "Dedup on the write path". The index of the lock's
checkpoint is read from ``index/heads/<size>`` (immutable: it exists once the batch is
applied, and step 1 applies any committed batch first). A batch's new segments and its
``index/heads/<size>`` are staged with the tiles and created with them in step 6;
:func:`publish` swaps ``index/head`` in step 7, just before ``checkpoint``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

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
from tlog.index.keys import index_keys, key_hash
from tlog.index.lookup import lookup
from tlog.index.lsm import add_rows
from tlog.index.segment import SegmentInfo, make_row, parse_rows
from tlog.note import Note, Signer, Verifier
from tlog.publish import publish as put
from tlog.storage import Store
from tlog.tile import hash_tile_for, parse_hash_tile

__all__ = ["batch_objects", "empty_head", "known", "load", "publish", "rows_of"]


def empty_head(cp: Checkpoint) -> IndexHead:
    return IndexHead(cp.origin, cp.size, cp.root)


def init_head(store: Store, note: bytes, signers: Sequence[Signer]) -> None:
    """Create and publish the empty index of a new log's size-0 checkpoint ``note``,
    unless a run that crashed during init already created it (an ECDSA signature
    would differ: the existing head is kept)."""
    key = layout.index_history_key(0)
    try:
        store.read(key, MAX_HEAD_SIZE)
    except NotFoundError:
        head = empty_head(Checkpoint.parse(Note.parse(note).text))
        store.create(key, head.sign(signers))
    publish(store, 0)


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
    """A function reading a whole live segment's rows, authenticated."""

    def read(info: SegmentInfo) -> list[bytes]:
        try:
            data = store.read_range(info.key, 0, info.size)
        except (NotFoundError, MalformedError) as exc:
            raise InconsistencyError(f"index segment {info.key} is unreadable: {exc}") from None
        return parse_rows(info, 0, data)

    return read


def known(store: Store, head: IndexHead, hashes: Sequence[bytes]) -> dict[bytes, int]:
    """Leaf hash → index, for those of ``hashes`` the log already holds.

    Each hit of the index is re-checked against the leaf hash at that index (read from
    its level-0 hash tile), so a truncated-hash collision can never drop an entry.
    """
    if not hashes or not head.segments:
        return {}
    by_key = {key_hash("uuid", h.hex()): h for h in hashes}
    hits = lookup(head, list(by_key), store.read_range)
    out: dict[bytes, int] = {}
    for key, indices in hits.items():
        for index in indices:
            if _leaf_hash(store, head.size, index) == by_key[key]:
                out[by_key[key]] = index
                break
    return out


def _leaf_hash(store: Store, size: int, index: int) -> bytes:
    tid = hash_tile_for(0, size, index // 256)
    tile = parse_hash_tile(store.read(tid.path(), tid.max_size()), tid.width or 256)
    return tile[index % 256]


def rows_of(
    entries: Sequence[bytes], start: int, hashes: Sequence[bytes] | None = None
) -> list[bytes]:
    """The index rows of ``entries`` logged from index ``start``."""
    rows: list[bytes] = []
    sha256 = hashlib.sha256
    for i, entry in enumerate(entries):
        h = hashes[i] if hashes is not None else sha256(b"\x00" + entry).digest()
        if entry[:1] != b"{":  # a raw entry: index_keys, inlined (the hot loop of --raw)
            at = (start + i).to_bytes(8, "big")
            rows.append(sha256(b"uuid:" + h.hex().encode()).digest()[:16] + at)
            digest = sha256(entry).hexdigest().encode()
            rows.append(sha256(b"sha256:" + digest).digest()[:16] + at)
            continue
        for kind, value in index_keys(entry, h.hex()):
            rows.append(make_row(key_hash(kind, value), start + i))
    return rows


def batch_objects(
    store: Store,
    head: IndexHead,
    placement: Placement,
    cp: Checkpoint,
    signers: Sequence[Signer],
) -> list[tuple[str, bytes]]:
    """The objects to stage for the batch ``placement`` that makes ``cp`` out of the
    log ``head`` indexes: its new segments and ``index/heads/<size>``."""
    rows = rows_of(placement.leaves, placement.start, placement.hashes)
    segments, objects = add_rows(head.segments, rows, read_rows(store))
    new = IndexHead(cp.origin, cp.size, cp.root, segments)
    objects.append((layout.index_history_key(cp.size), new.sign(signers)))
    return objects


def publish(store: Store, size: int) -> None:
    """Make ``index/heads/<size>`` the public ``index/head`` unless a newer one is
    (compare-and-swap, never rolled back). Nothing to do if there is no such head
    (a log that predates the index)."""
    try:
        note = store.read(layout.index_history_key(size), MAX_HEAD_SIZE)
    except NotFoundError:
        return
    put(store, layout.INDEX_HEAD, note, size, _size_of, MAX_HEAD_SIZE)


def _size_of(note: bytes) -> int:
    return IndexHead.parse(Note.parse(note).text).size
