"""The log's committed state as step 1 of the write protocol finds it, rolled forward.

docs/design.md "The write protocol", step 1, and "Round trips". :func:`load` reads the
public ``checkpoint``, ``private/lock`` (with its version) and the staging bundles in
one round of parallel requests, ``checkpoint`` with its version (kept for publishing,
:class:`tlog.publish.Pointers`). Read together, a concurrent commit and publish can land
between the two reads and make the public checkpoint look ahead of the lock: before
refusing a fork, the two are read again one after the other, public first (then the
public checkpoint, which only ever trails the lock, cannot look ahead of it). If the
lock is ahead of the public checkpoint, its batch is rolled forward (steps 6–8 from its
staging bundle). Then a second round, which must follow the lock's read, reads the
freeze markers (:func:`tlog.freeze.refuse_if_frozen`), the lock's index head
``index/heads/<size>`` and whatever the caller's attempt will read (``ahead``), and
``checkpoint`` again only if a roll-forward just replaced it; a third reads the segment
ranges the caller's dedup lookup will read in that index (``lookups``), all at once.

A sequencer that ran before knows the size it last saw (``expect``): the first round
then also reads, at that size, the index head and what the attempt will read —
immutable objects, the same whenever read. If the lock has that size, needs no
roll-forward and every one of them was there, the second round reads only the freeze
markers (still after the lock) with the dedup lookup's ranges: one round trip fewer.
Otherwise the rounds are as above (a guessed read that failed is not remembered).

The version of ``checkpoint`` kept from the first round serves only the compare-and-swap
that publishes (step 7): a swap against a version that is no longer current fails, and
:func:`tlog.publish.publish` then reads the object again. So a version read before the
lock's read is as safe as one read after it; no check reads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, cast

from tlog import layout, tree
from tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from tlog.errors import (
    ConfigError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    StorageError,
    TlogError,
    VerificationError,
)
from tlog.freeze import refuse_if_frozen
from tlog.frozen import FREEZING, FROZEN
from tlog.index import writer as index_writer
from tlog.index.head import MAX_HEAD_SIZE, IndexHead
from tlog.index.keys import key_hash
from tlog.index.lookup import STREAM_BLOCKS
from tlog.index.segment import BLOCK_ROWS
from tlog.keys import LogKeys
from tlog.note import Note
from tlog.prefetch import Prefetch
from tlog.publish import (
    Pointers,
    Read,
    apply_batch,
    checkpoint_size,
    publish,
    publish_batch,
)
from tlog.staging import Staged, collect, committed_bundle
from tlog.tile import ENTRIES, TILE_WIDTH, TileId, partial_width

if TYPE_CHECKING:
    from tlog.witness.client import Witnessing

__all__ = ["Head", "batch_reads", "load", "lookup_reads"]


@dataclass
class Head:
    """The log's committed state as read in step 1."""

    lock: SignedCheckpoint
    note: bytes
    version: str
    recovered: int | None = None
    #: Staging bundles ahead of the lock at load: dead once this run commits.
    stale: tuple[str, ...] = ()
    #: The index of the lock's checkpoint.
    index: IndexHead | None = None
    #: ``checkpoint`` as read, for publishing without reading it again.
    pointers: Pointers = field(default_factory=Pointers)


def load(
    reads: Prefetch,
    keys: LogKeys,
    witnessing: Witnessing | None,
    *,
    appending: bool = True,
    ahead: Callable[[int], Sequence[tuple[str, int]]] = lambda size: (),
    lookups: Callable[[IndexHead], Sequence[tuple[str, int, int]]] | None = None,
    expect: int | None = None,
) -> Head:
    """Step 1 (module docstring): the verified lock, after any roll-forward.

    ``appending``: refuse a frozen log; ``ahead(size)``: the objects (key, limit) the
    caller will read on top of a lock of ``size``, fetched in the second round;
    ``lookups(index)``: the segment ranges the caller's lookup in the lock's index will
    read; ``expect``: the lock's size as the caller last saw it (module docstring).
    """
    store = reads.store
    notes = _Notes(keys)
    guessed = _expected(expect, ahead)
    read, lock, listed = _first_round(reads, notes, guessed)
    public = read[0] if read else None
    note, version = lock
    try:
        signed = notes.open(note)
    except VerificationError as exc:
        why = _other_origin(note, keys.origin) or exc
        raise ConfigError(f"the key does not match this log ({why})") from None
    head = Head(signed, note, version)
    _check_fork(notes, public, head)
    size = signed.checkpoint.size
    if public is None or notes.open(public).checkpoint.size < size:
        _roll_forward(reads, keys, witnessing, head, read)
        head.recovered = size
    # Guessed right, the second round was made with the lookup's ranges, index loaded.
    fast = bool(guessed) and _as_expected(reads, notes, head, guessed, expect, lookups)
    pointer = None if fast else _second_round(reads, head, ahead, again=head.recovered is not None)
    head.pointers = Pointers(read if pointer is None else pointer)
    head.stale = collect(store, size, note, listed)
    if appending:
        refuse_if_frozen(reads)  # after reading the lock (tlog.freeze, step 2)
    if not fast:
        head.index = index_writer.load(reads, notes.verifiers, signed.checkpoint)
        if lookups is not None:  # the third round: the dedup lookup's segment ranges
            reads.fetch([], lookups(head.index), [])
    return head


def _second_round(
    reads: Prefetch,
    head: Head,
    ahead: Callable[[int], Sequence[tuple[str, int]]],
    *,
    again: bool,
) -> Read | None:
    """Fetch what the rest of the load and the attempt read (module docstring); with
    ``again`` (a roll-forward replaced it), the public checkpoint with its version."""
    size = head.lock.checkpoint.size
    wanted = [(FREEZING, layout.MAX_CHECKPOINT_SIZE), (FROZEN, layout.MAX_CHECKPOINT_SIZE)]
    if size:
        wanted.append((layout.index_history_key(size), MAX_HEAD_SIZE))
    pointer = partial(_optional, reads, layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
    got = reads.fetch([*wanted, *ahead(size)], (), [pointer] if again else [])
    return got[0] if got else None


def _expected(
    expect: int | None, ahead: Callable[[int], Sequence[tuple[str, int]]]
) -> list[tuple[str, int]]:
    """What the second round would read on a lock of size ``expect`` but the freeze
    markers (which must be read after the lock): its index head and ``ahead``."""
    if not expect:
        return []
    return [(layout.index_history_key(expect), MAX_HEAD_SIZE), *ahead(expect)]


def _as_expected(
    reads: Prefetch,
    notes: _Notes,
    head: Head,
    guessed: Sequence[tuple[str, int]],
    expect: int | None,
    lookups: Callable[[IndexHead], Sequence[tuple[str, int, int]]] | None,
) -> bool:
    """The second round when the first read right (module docstring): the lock has size
    ``expect``, no roll-forward, every ``guessed`` object there and the index head
    valid; then only the freeze markers and the lookup's ranges are read. False (and
    nothing read) otherwise."""
    cp = head.lock.checkpoint
    if cp.size != expect or head.recovered is not None:
        return False
    if not all(reads.has(key) for key, _ in guessed):
        return False
    try:
        index = index_writer.load(reads, notes.verifiers, cp)
    except TlogError:
        return False  # the second round as always: its reads and checks, in their order
    markers = [(FREEZING, layout.MAX_CHECKPOINT_SIZE), (FROZEN, layout.MAX_CHECKPOINT_SIZE)]
    reads.fetch(markers, lookups(index) if lookups is not None else ())
    head.index = index
    return True


def _guess_read(reads: Prefetch, key: str, limit: int) -> None:
    """Read a guessed object for later (best effort: nothing is kept of a failure,
    and the second round reads it again if it is needed)."""
    with contextlib.suppress(TlogError):
        reads.put(key, reads.store.read(key, limit))


def _first_round(
    reads: Prefetch, notes: _Notes, guessed: Sequence[tuple[str, int]] = ()
) -> tuple[Read | None, tuple[bytes, str], list[str]]:
    """The public checkpoint and the lock, each with its version, and the staging
    bundles listed, read at once, with the ``guessed`` objects (module docstring)."""
    store = reads.store
    public = partial(_optional, reads, layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
    first: list[Callable[[], object]] = [
        public,
        partial(_lock, reads),
        partial(store.list, layout.STAGING_PREFIX),
        *(partial(_guess_read, reads, key, limit) for key, limit in guessed),
    ]
    got = reads.run(first)
    read = cast(Read | None, got[0])
    lock = cast(tuple[bytes, str], got[1])
    if _ahead_of_lock(notes, read[0] if read else None, lock):  # perhaps a race: again
        read = public()
        lock = _lock(reads)
    return read, lock, cast(list[str], got[2])


def _optional(reads: Prefetch, key: str, limit: int) -> Read | None:
    try:
        return reads.read_versioned(key, limit)
    except NotFoundError:
        return None


def batch_reads(new: int, size: int) -> list[tuple[str, int]]:
    """What placing and building up to ``new`` leaves on a tree of ``size`` reads: the
    right edge, the tail bundle and the covers objects it extends."""
    wanted = [(t.path(), t.max_size()) for t in tree.edge_tiles(size)]
    width = partial_width(0, size)
    if width:
        bundle = TileId(ENTRIES, size // TILE_WIDTH, width)
        wanted.append((bundle.path(), bundle.max_size()))
        first = size // TILE_WIDTH
        covers = [tree.covers_tile(0, first, size)]
        if (size + new) // TILE_WIDTH > first and first % TILE_WIDTH:
            covers.append(tree.covers_tile(1, first // TILE_WIDTH, size))
        wanted += [(layout.covers_key(t), layout.MAX_COVER_SIZE) for t in covers]
    return wanted


#: Batches up to this many leaves have their dedup lookup's reads made in round 3.
PREDICTED = 1024


def lookup_reads(hashes: Sequence[bytes], index: IndexHead) -> list[tuple[str, int, int]]:
    """The segment ranges the first round of ``index_writer.known(store, index,
    hashes)`` reads (:func:`tlog.index.lookup.lookup`: a window of blocks per key in a
    big segment, a small segment whole), so that round 3 of the load reads them. A
    prediction: a range it misses is read when the lookup asks for it, one round later."""
    if len(hashes) > PREDICTED:
        return []  # a big batch: its lookup streams segments, and rounds do not matter
    keys = sorted({key_hash("uuid", h.hex()) for h in hashes})
    out: list[tuple[str, int, int]] = []
    for seg in index.segments:
        if len(keys) >= seg.blocks:
            if seg.blocks <= STREAM_BLOCKS:
                out.append((seg.key, *seg.byte_range(0, seg.blocks - 1)))
            continue
        blocks = sorted(
            {
                j
                for a, b in map(seg.window, keys)
                for j in range(a // BLOCK_ROWS, (b - 1) // BLOCK_ROWS + 1)
            }
        )
        first = prev = blocks[0]
        for j in [*blocks[1:], -1]:
            if j != prev + 1:
                out.append((seg.key, *seg.byte_range(first, prev)))
                first = j
            prev = j
    return out


def _lock(reads: Prefetch) -> tuple[bytes, str]:
    try:
        return reads.read_versioned(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        raise ConfigError("no log here: run 'tlog init' first") from None


def _other_origin(note: bytes, origin: str) -> str | None:
    """Why keys for ``origin`` are not this log's, if its lock names another origin
    (read unverified, to name both)."""
    try:
        theirs = Checkpoint.parse(Note.parse(note).text).origin
    except MalformedError:
        return None
    if theirs == origin:
        return None
    return f"the key is for origin {origin!r}, the log's origin is {theirs!r}"


class _Notes:
    """The log's checkpoints as one load opens them: each note verified once (the load
    meets the lock's and the public checkpoint's notes more than once), with the log's
    verifiers made once."""

    def __init__(self, keys: LogKeys) -> None:
        self.origin = keys.origin
        self.verifiers = keys.verifiers()
        self._opened: dict[bytes, SignedCheckpoint] = {}

    def open(self, note: bytes) -> SignedCheckpoint:
        """The verified checkpoint of ``note`` (:func:`tlog.checkpoint.open_checkpoint`)."""
        if note not in self._opened:
            self._opened[note] = open_checkpoint(note, self.verifiers, origin=self.origin)
        return self._opened[note]


def _ahead_of_lock(notes: _Notes, public: bytes | None, lock: tuple[bytes, str]) -> bool:
    """Whether the public checkpoint looks ahead of the lock (or forked from it)."""
    if public is None:
        return False
    try:
        pcp, lcp = (notes.open(n).checkpoint for n in (public, lock[0]))
    except TlogError:
        return True  # decided after the reads in order
    return pcp.size > lcp.size or (pcp.size == lcp.size and pcp.root != lcp.root)


def _check_fork(notes: _Notes, public: bytes | None, head: Head) -> None:
    if public is None:
        return
    try:
        pcp = notes.open(public).checkpoint
    except TlogError as exc:
        raise InconsistencyError(
            f"the public checkpoint does not verify with the log key: {exc}",
            evidence={"public": public.decode("utf-8", "replace")},
        ) from None
    lcp = head.lock.checkpoint
    if pcp.size > lcp.size or (pcp.size == lcp.size and pcp.root != lcp.root):
        raise InconsistencyError(
            f"public checkpoint (size {pcp.size}, root {pcp.root.hex()}) is not behind "
            f"the lock (size {lcp.size}, root {lcp.root.hex()}): "
            "refusing to write to a forked log",
            evidence={"lock": head.note.decode(), "public": public.decode()},
        )


def _roll_forward(
    reads: Prefetch,
    keys: LogKeys,
    witnessing: Witnessing | None,
    head: Head,
    public: Read | None,
) -> None:
    """Steps 6–8 for the batch the lock names, from its staging bundle; ``public``:
    ``checkpoint`` as the first round read it (the version its swap expects)."""
    store, size = reads.store, head.lock.checkpoint.size
    if not size:
        index_writer.init_head(store, head.note, keys.signers(int))
    staged = committed_bundle(store, size, head.note) if size else Staged(head.note, ())
    if staged is None:  # applied already: only the publishing may be missing
        history = _optional(reads, layout.history_key(size), layout.MAX_CHECKPOINT_SIZE)
        note = history[0] if history else head.note
        limit = layout.MAX_CHECKPOINT_SIZE
        publish(store, layout.CHECKPOINT, note, size, checkpoint_size, limit, known=public)
        return
    note = apply_batch(reads, staged, size, witnessing)
    error = publish_batch(reads, staged, note, size, Pointers(public), ())
    if error:  # rolling another run's batch forward: its clean-up is this run's work
        raise StorageError(error)
