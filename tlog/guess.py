"""The guess: a chunk's steps 2–3 begun before its index lookup, kept if they were right.

docs/design.md "Throughput". The dedup lookup (step 2) almost always finds none of a
big chunk's entries already logged, and what follows it — the chunk's index segment,
its tree, and, in a folder store, making its files (most of a tile's cost on a disk) —
depends only on the placement. So, on the checkpoint the run's last chunk published (or
once step 1 has read the lock, for its first), the sequencer places the chunk as if the
lookup found nothing, hands that placement to the index worker
(:meth:`tlog.indexer.Indexer.guess`), builds the tree and has a folder store make the
files on a thread (:meth:`tlog.storage.folder.FolderStore.prepare_many`); the lookup
runs meanwhile. If the placement turns out to be the guess, steps 3 on use them;
otherwise they are dropped and redone. Nothing here writes an object: the files are
temp files until step 6 links those whose bytes are the batch's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from tlog import admission, tree
from tlog.admission import Placement
from tlog.checkpoint import Checkpoint
from tlog.errors import TlogError
from tlog.feed import Chunk, Feed
from tlog.indexer import Indexer
from tlog.prefetch import Prefetch
from tlog.storage import Store
from tlog.storage.folder import FolderStore

__all__ = ["Guess", "ahead", "discard", "guess", "prepare", "preparing", "warm"]

#: Seconds between looks at the feed while files are made ahead (:func:`ahead`).
_POLL = 0.002

#: A guessed placement, the checkpoint it was placed on, and the tree it builds.
Guess = tuple[Placement, Checkpoint, tree.Growth]


def guess(reads: Prefetch, cp: Checkpoint, chunk: Chunk, indexer: Indexer) -> Guess | None:
    """Steps 2–3 of ``chunk`` on the log at ``cp``, guessing that none of its entries
    is logged (None when not worth it: a small chunk, or the run's last chunk had
    duplicates; or when the tiles do not make ``cp``: a guess proves nothing)."""
    return _guess(reads.read, reads.store, cp, chunk, indexer)


def ahead(
    coming: Feed | None,
    reads: Prefetch,
    cp: Checkpoint,
    objects: Sequence[tuple[str, bytes]],
    indexer: Indexer,
) -> tuple[Chunk, Guess] | None:
    """:func:`guess` of the next chunk, if the feed ``coming`` has it read, on the tree
    of ``cp`` that the chunk being applied makes (its ``objects``, not yet created, are
    read before the store's): its files are made while this chunk's are linked and
    published (the chunk is waited for while files made ahead are still being
    written, and no longer).
    Only a guess: kept if the next chunk's step 1 finds the lock at ``cp`` and its
    placement is the guess (:func:`built`)."""
    if coming is None:
        return None
    chunk = coming.peek()
    while chunk is None and coming.waiting() and preparing(reads.store):
        chunk = coming.peek(_POLL)  # a wait that costs nothing: step 6 waits for files
    if chunk is None:
        return None
    made = dict(objects)

    def read(key: str, limit: int) -> bytes:
        data = made.get(key)
        return reads.read(key, limit) if data is None else data

    guessed = _guess(read, reads.store, cp, chunk, indexer)
    return None if guessed is None else (chunk, guessed)


def _guess(
    read: Callable[[str, int], bytes], store: Store, cp: Checkpoint, chunk: Chunk, indexer: Indexer
) -> Guess | None:
    cands, leaves, hashes = chunk
    if not indexer.guessing or not indexer.takes(len(cands)):
        return None
    spec = admission.place(cands, leaves, hashes, start=cp.size, taken=set())
    indexer.guess(spec)
    read_tile = partial(tree.committed_tile, read)
    try:
        tail = tree.read_tail(cp.size, read_tile)
        edge = (cp.size, cp.root, spec.hashes, read_tile)
        built = tree.integrate(*edge, entries=spec.leaves, tail=tail)
    except TlogError:
        return None  # step 3 proper raises it, if the chunk has anything to add
    prepare(store, built.objects)
    return spec, cp, built


def built(made: Guess | None, cp: Checkpoint, placement: Placement) -> tree.Growth | None:
    """The tree of the guess ``made`` if ``placement``, on the log at ``cp``, is what it
    guessed: the same checkpoint, start and leaf hashes in the same order (a placement
    can drop leaves from the guess, and so reorder them: of two queue items for one
    entry, the first taken by another run, the second takes its entry's place later)."""
    if made is None:
        return None
    spec, base, growth = made
    same = spec.start == placement.start and spec.hashes == placement.hashes
    return growth if same and base == cp else None


def prepare(store: Store, objects: Sequence[tuple[str, bytes]]) -> None:
    """Have a folder store make these objects' files on a thread meanwhile; step 6
    links those whose bytes are the batch's (other stores: nothing)."""
    if isinstance(store, FolderStore):
        store.prepare_many(objects)


def warm(store: Store, big: bool) -> None:
    """Have a folder store start its file maker now if a ``big`` chunk comes."""
    if big and isinstance(store, FolderStore):
        store.prepare_many(())


def preparing(store: Store) -> bool:
    """Whether a folder store is still writing files :func:`prepare` asked for."""
    return isinstance(store, FolderStore) and store.preparing()


def discard(store: Store) -> None:
    """Remove the files :func:`prepare` had made that step 6 did not take."""
    if isinstance(store, FolderStore):
        store.discard_prepared()
