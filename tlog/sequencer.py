"""The batch sequencer: appends a batch of entries to a log in a Store.

The write protocol (docs/design.md "The write protocol"; after Sunlight), with the lock's
compare-and-swap as the only coordination between concurrent sequencers:

1. **Load.** Read ``private/lock`` (with its version) and the public ``checkpoint``.
   Lock ahead of public → roll the committed batch forward from its staging bundle.
   Public ahead of lock, or the same size with another root → refuse (fork evidence).
2. **Admit.** Validate each input (:mod:`tlog.admission`, in parallel when an executor
   is given) and place it: new, refused, duplicate, or already logged (found in the
   index of the lock's checkpoint). A bad input gets a reason, the rest goes on.
3. **Build.** New tiles and bundles from the right-edge (partial) tiles and the new leaf
   hashes only; the right edge is first checked against the lock's root.
4. **Stage.** Write one staging bundle holding every object the batch will publish,
   the batch's index segments and index head included (docs/index.md).
5. **Commit.** Sign the new checkpoint and swap it into the lock (``If-Match``). Losing
   means another sequencer won: delete our staging bundle and start again from 1.
6. **Apply.** Create every tile, bundle, covers and index object, the index head
   ``index/heads/<size>`` among them (``If-None-Match: *``; identical bytes are success,
   different bytes are a corruption alarm), and ``checkpoints/<size>`` (after the
   witnesses' cosignatures, if any: fail-closed, a later run's roll-forward retries).
7. **Publish.** Swap ``checkpoint``. Only now are the entries acknowledged.
8. **Clean.** Delete the consumed ``pending/`` objects, the staging bundle, and the
   staging bundles that were there when the run loaded (they can never commit now).

A crash anywhere leaves a log the next run completes: before step 5 nothing is visible;
after it, the lock names a staging bundle that steps 6–8 replay idempotently. A
:class:`Watcher` hears each step begin (progress; an interrupt before step 5).

A batch is streamed (docs/design.md "Streaming batches"): committed in chunks of at most
``chunk_entries`` inputs or ``chunk_bytes`` bytes, each a whole run of steps 1–8, so
memory is bounded by those and not by the batch; a later chunk deduplicates against the
earlier ones through the index, as any run does. Meanwhile (docs/design.md "Throughput"):
:mod:`tlog.feed` reads, admits and hashes the next chunk, :mod:`tlog.indexer`'s worker
computes a big chunk's index segment during step 3, a folder store's helper process makes
the tile files from step 3 on (``prepare_many``), the next chunk's from this one's step 6
(:func:`tlog.guess.ahead`), reads go in parallel rounds (:mod:`tlog.prefetch`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import cast

from tlog import admission, layout, merkle, tree
from tlog import guess as guessing
from tlog.admission import Candidate, Outcome, Placement, Refused
from tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from tlog.errors import (
    ConfigError,
    ConflictError,
    MalformedError,
    NotFoundError,
    NothingAdmitted,
    StorageError,
    TlogError,
)
from tlog.feed import Chunk, Feed, feed
from tlog.head import Head, batch_reads, load, lookup_reads
from tlog.index import writer as index_writer
from tlog.index.head import IndexHead
from tlog.indexer import Indexer
from tlog.keys import LogKeys, load_keys
from tlog.note import Note, sign
from tlog.prefetch import THREADS, Prefetch
from tlog.publish import apply_batch, publish_batch
from tlog.queue import reject, taken
from tlog.result import Result
from tlog.staging import Staged
from tlog.storage import Store
from tlog.witness.client import Witnessing

__all__ = ["Candidate", "Outcome", "Result", "Sequencer", "Watcher", "peek_origin"]

MAX_ATTEMPTS = 20
#: Inputs per commit of a streamed batch (the default of ``Sequencer(chunk_entries=)``).
CHUNK_ENTRIES = 65_536
#: Input bytes per commit of a streamed batch (the default of ``chunk_bytes``).
CHUNK_BYTES = 8 << 20


class Watcher:
    """Hears a run as it goes (progress on a terminal, interrupts); this one does nothing.

    ``step(n)``: protocol step n (1–8 above) of a chunk begins; ``admitted(done, total)``:
    inputs admitted so far (``total`` 0: not known, the batch is streamed);
    ``committed(size)``: this chunk is in the lock (end of step 5). ``step``/``admitted``
    may raise to abandon the run before a commit (nothing more is logged); from step 6
    on, the next run publishes the committed chunk."""

    def step(self, number: int) -> None: ...
    def admitted(self, done: int, total: int) -> None: ...
    def committed(self, size: int) -> None: ...


def peek_origin(store: Store) -> str:
    """The origin of the log in ``store``, read from its lock (unverified: used only to
    pick the key to verify with). ConfigError if the log was never initialised."""
    try:
        data = store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
        return Checkpoint.parse(Note.parse(data).text).origin
    except NotFoundError:
        raise ConfigError("no log here: run 'tlog init' first") from None
    except MalformedError as exc:
        raise StorageError(f"the log's lock is unreadable: {exc}") from None


def sequencer_for(
    store: Store, key_source: str, timestamp_key: Path | None = None, **kwargs: object
) -> Sequencer:
    """A Sequencer for the log in ``store``, with its keys loaded for the log's origin.

    ``kwargs`` go to :class:`Sequencer` (``clock``, ``watcher``, ``witnessing``, ``known``, ...)."""
    # KMS is found from the AWS environment (AWS_ENDPOINT_URL_KMS), never --endpoint-url.
    keys = load_keys(key_source, peek_origin(store), timestamp_key=timestamp_key)
    return Sequencer(store, keys, **kwargs)  # type: ignore[arg-type]


class Sequencer:
    """Runs the write protocol above against one Store with one log's keys.

    ``clock`` gives the POSIX time for checkpoint timestamps (never earlier than the
    previous checkpoint's); ``watcher`` hears the run's steps; ``witnessing`` gets each
    checkpoint cosigned before it is published (step 7); ``known`` is step 2's index
    lookup (:func:`tlog.index.writer.known` when None); ``chunk_entries`` and
    ``chunk_bytes`` bound one commit of a streamed batch (module docstring).
    """

    def __init__(
        self,
        store: Store,
        keys: LogKeys,
        *,
        clock: Callable[[], float] = time.time,
        watcher: Watcher | None = None,
        witnessing: Witnessing | None = None,
        known: Callable[[Store, IndexHead, Sequence[bytes]], dict[bytes, int]] | None = None,
        chunk_entries: int = CHUNK_ENTRIES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if chunk_entries < 1 or chunk_bytes < 1:
            raise ConfigError("a commit holds at least one entry")
        self.store, self.keys, self.clock = store, keys, clock
        self.watcher = watcher or Watcher()
        self.witnessing, self.known = witnessing, known
        self.chunk_entries, self.chunk_bytes = chunk_entries, chunk_bytes
        #: The lock's size as this sequencer last saw it (step 1 reads ahead on it).
        self._seen: int | None = None
        #: The feed's next chunk if read (a stream's), and the guess made on it ahead.
        self._coming: Feed | None = None
        self._early: tuple[Chunk, guessing.Guess] | None = None

    # -- step 0: a new log --------------------------------------------------------

    def init(self) -> SignedCheckpoint:
        """Create the empty log (size 0). ConfigError if a log already exists here."""
        existing = self._get(layout.LOCK)
        if existing is not None:
            cp = Checkpoint.parse(Note.parse(existing).text)
            raise ConfigError(f"a log already exists here (origin {cp.origin!r}, size {cp.size})")
        if self.store.list(layout.TILE_PREFIX[:-1]) or self._get(layout.CHECKPOINT) is not None:
            raise ConfigError(
                "this location already holds log objects but no lock: refusing to init"
            )
        note = self._sign(Checkpoint(self.keys.origin, 0, merkle.EMPTY_ROOT), 0)
        self.store.swap(layout.LOCK, note, None)
        self.store.create(layout.history_key(0), note)
        index_writer.init_head(self.store, note, self.keys.signers(int))
        self.store.write(layout.CHECKPOINT, note)
        return self._open(note)

    def _get(self, key: str) -> bytes | None:
        """The checkpoint-sized object at ``key``, or None."""
        try:
            return self.store.read(key, layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            return None

    # -- the run ------------------------------------------------------------------

    def sequence(
        self,
        candidates: Iterable[Candidate],
        admit: admission.Admit | None = None,
        *,
        executor: Executor | None = None,
        chunk: int = admission.ADMIT_CHUNK,
    ) -> Result:
        """Append the admissible candidates and publish a checkpoint covering them.

        :meth:`stream`, gathered: returns once the last chunk is published, with every
        input's outcome. NothingAdmitted (with every outcome) if nothing is admissible.
        """
        results: list[Result] = []
        try:
            results.extend(self.stream(candidates, admit, executor=executor, chunk=chunk))
        except NothingAdmitted as exc:
            outs = tuple(o for r in results for o in r.outcomes)
            raise NothingAdmitted(str(exc), outs + tuple(exc.outcomes)) from None
        last = results[-1]
        return Result(
            last.checkpoint,
            last.note,
            next((r.recovered for r in results if r.recovered is not None), None),
            sum(r.writes for r in results),
            tuple(p for r in results for p in r.placements),
            next((r.cleanup_error for r in results if r.cleanup_error), None),
        )

    def stream(
        self,
        candidates: Iterable[Candidate],
        admit: admission.Admit | None = None,
        *,
        executor: Executor | None = None,
        chunk: int = admission.ADMIT_CHUNK,
    ) -> Iterator[Result]:
        """Append the admissible candidates, one published result per committed chunk.

        ``admit=None`` is raw mode; with an executor, pieces of ``chunk`` inputs are
        admitted in parallel, ahead of the chunk being committed. Refused inputs are
        reported in the outcomes (refused queue items move aside,
        :func:`tlog.queue.reject`); queue items another run already sequenced are
        reported as duplicates. A chunk with nothing new writes nothing (its result
        carries its outcomes). If no input at all is admissible, NothingAdmitted is
        raised at the end (after any recovery of an earlier run), without outcomes:
        they were in the results.
        """
        ahead = max(admission.AHEAD, self.chunk_entries // max(1, chunk))
        with (
            ThreadPoolExecutor(THREADS, thread_name_prefix="tlog-io") as pool,
            Indexer() as indexer,
        ):
            pieces = admission.admit_stream(
                candidates,
                admit,
                executor,
                chunk=chunk,
                ahead=ahead,
                ahead_bytes=min(admission.AHEAD_BYTES, self.chunk_bytes),
                progress=self.watcher.admitted,
            )
            inputs, wrote, last = 0, False, None
            chunks = admission.chunks(pieces, self.chunk_entries, self.chunk_bytes)
            with closing(feed(chunks)) as ready:
                self._coming = ready
                try:
                    for admitted in ready:
                        inputs += len(admitted[0])
                        result = self._chunk(admitted, pool, indexer, last)
                        wrote, last = wrote or result.wrote, result.checkpoint.checkpoint
                        yield result
                finally:
                    self._coming = self._early = None
                    guessing.discard(self.store)  # files made ahead and not taken
            if not inputs:
                self._load(Prefetch(self.store, pool))  # a committed batch is published
                raise NothingAdmitted(
                    "the batch is empty: nothing to sequence, nothing written", ()
                )
        if not wrote:
            raise NothingAdmitted(
                f"none of the {inputs} inputs could be admitted: nothing written", ()
            )

    def recover(self) -> Result:
        """Run only step 1 (and the roll-forward it may need); publish nothing new."""
        with ThreadPoolExecutor(THREADS, thread_name_prefix="tlog-io") as pool:
            head = self._load(Prefetch(self.store, pool), appending=False)
        return Result(head.lock, head.note, head.recovered, 0)

    def _chunk(
        self, chunk: Chunk, pool: Executor, indexer: Indexer, last: Checkpoint | None
    ) -> Result:
        """Steps 1–8 for one chunk of admitted inputs (with their leaf hashes); ``last``:
        the checkpoint this run published last, which steps 2–3 are guessed on."""
        cands, leaves, hashes = chunk
        indexer.warm(len(cands))  # a big chunk's worker is ready by the time it is placed
        guessing.warm(self.store, indexer.takes(len(cands)))  # and the files' maker
        wanted = [h for h in hashes if h] if None in hashes else cast(list[bytes], hashes)
        reads = Prefetch(self.store, pool)
        early, self._early = self._early, None  # guessed while the last chunk was applied
        made = early[1] if early and early[0] is chunk else None
        if made is None and last:
            made = guessing.guess(reads, last, chunk, indexer)  # with step 1
        head = self._load(reads, wanted=wanted)
        made = made or guessing.guess(reads, head.lock.checkpoint, chunk, indexer)
        for attempt in range(MAX_ATTEMPTS):
            self.watcher.step(2)
            placement, tail = self._place(reads, head, cands, leaves, hashes)
            indexer.placed(placement)
            built = guessing.built(made, head.lock.checkpoint, placement)
            made = None
            consumed = placement.consumed(cands)
            if not placement.leaves:
                guessing.discard(self.store)
                reject(self.store, cands, leaves)
                for key in consumed:  # queue items the log already holds
                    self.store.delete(key)
                return Result(head.lock, head.note, head.recovered, 0, (placement,))
            try:
                note, writes, warning = self._append(
                    reads, head, placement, consumed, (tail, built), indexer
                )
                break
            except ConflictError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                reads = Prefetch(self.store, pool)
                head = self._load(reads, wanted=wanted)
        try:
            if placement.slots is not None:  # None: nothing refused, no loop over inputs
                reject(self.store, cands, leaves)
        except TlogError as exc:
            warning = warning or f"moving refused queue items aside failed: {exc}"
        self._seen = (published := self._open(note)).checkpoint.size
        return Result(published, note, head.recovered, writes, (placement,), warning)

    # -- step 1 -------------------------------------------------------------------

    def _open(self, note: bytes) -> SignedCheckpoint:
        return open_checkpoint(note, self.keys.verifiers(), origin=self.keys.origin)

    def _load(
        self, reads: Prefetch, *, appending: bool = True, wanted: Sequence[bytes] = ()
    ) -> Head:
        """Step 1 (:func:`tlog.head.load`), reading ahead what placing and building
        the leaves hashed ``wanted`` will read, and looking them up in the index."""
        self.watcher.step(1)
        ahead = partial(batch_reads, len(wanted)) if appending else (lambda size: ())
        # A dedup hook of its own (the write server's) reads what it needs itself.
        find = partial(lookup_reads, wanted) if wanted and self.known is None else None
        to_load = partial(load, appending=appending, ahead=ahead, lookups=find)
        head = to_load(reads, self.keys, self.witnessing, expect=self._seen)
        self._seen = head.lock.checkpoint.size
        return head

    # -- step 2 -------------------------------------------------------------------

    def _place(
        self,
        reads: Prefetch,
        head: Head,
        candidates: Sequence[Candidate],
        leaves: Sequence[bytes | Refused],
        hashes: Sequence[bytes | None],
    ) -> tuple[Placement, list[bytes]]:
        """Each input's place on top of ``head``, and the committed tree's last bundle."""
        cp = head.lock.checkpoint
        tail = tree.read_tail(cp.size, partial(tree.committed_tile, reads.read))
        gone = taken(self.store, candidates)
        assert head.index is not None
        wanted = [h for h in hashes if h] if None in hashes else cast(list[bytes], hashes)
        logged = (self.known or index_writer.known)(reads, head.index, wanted)
        return admission.place(
            candidates, leaves, hashes, start=cp.size, taken=gone, tail=tail, logged=logged
        ), tail

    # -- steps 3–8, one attempt ---------------------------------------------------

    def _append(
        self,
        reads: Prefetch,
        head: Head,
        placement: Placement,
        pending: list[str],
        tail_built: tuple[list[bytes], tree.Growth | None],
        indexer: Indexer,
    ) -> tuple[bytes, int, str | None]:
        """Steps 3–8 for one attempt: the note, objects written, any clean-up failure
        (``tail_built``: the committed tree's last bundle, and the tree built by a
        right guess, :func:`tlog.guess.guess`)."""
        old = head.lock.checkpoint
        self.watcher.step(3)
        indexer.begin(placement)  # a big batch's index, on another core meanwhile
        tail, built = tail_built
        try:
            try:
                if built is None:
                    read_tile = partial(tree.committed_tile, reads.read)
                    edge = (old.size, old.root, placement.hashes, read_tile)
                    built = tree.integrate(*edge, entries=placement.leaves, tail=tail)
                    guessing.prepare(self.store, built.objects)  # made while it is staged
                read_covers = partial(tree.committed_covers, reads.read)
                covers = tree.covers(old.size, built.size, read_covers)
                self.watcher.step(4)
                new = Checkpoint(old.origin, built.size, built.root)
                note = self._sign(new, head.lock.timestamp or 0)
                assert head.index is not None
                signers = self.keys.signers(int)
                index = indexer.objects(reads, head.index, placement, new, signers)
            except BaseException:
                indexer.close()  # a job nobody will collect: stop it now
                raise
            objects = (*built.objects, *((layout.covers_key(t), d) for t, d in covers), *index)
            del built, covers, index
            staged = Staged(note, objects, tuple(pending))
            skey = layout.staging_key(new.size, note)
            self.store.create(skey, staged.format())
            try:
                self.watcher.step(5)
            except BaseException:
                self.store.delete(skey)  # abandoned before the commit: nothing is logged
                raise
            self._commit(head, note, skey)
            self.watcher.committed(new.size)
            self.watcher.step(6)
            self._early = self._ahead(reads, new, staged.objects, indexer)
            published = apply_batch(reads, staged, new.size, self.witnessing)
        except BaseException:
            guessing.discard(self.store)  # files made ahead (step 6 takes its own)
            raise
        self.watcher.step(7)
        warning = publish_batch(reads, staged, published, new.size, head.pointers, head.stale)
        self.watcher.step(8)
        return published, len(staged.objects) + 2, warning

    def _ahead(
        self, reads: Prefetch, cp: Checkpoint, objects: Sequence[tuple[str, bytes]], ix: Indexer
    ) -> tuple[Chunk, guessing.Guess] | None:
        """The next chunk guessed on ``cp`` (:func:`tlog.guess.ahead`). The batch is
        committed: a failure only means no guess, and what it started is dropped (step 6
        then writes this chunk's files itself)."""
        try:
            return guessing.ahead(self._coming, reads, cp, objects, ix)
        except Exception:
            ix.close()
            guessing.discard(self.store)
            return None

    def _commit(self, head: Head, note: bytes, skey: str) -> None:
        """Step 5: swap ``note`` into the lock; on failure our staging bundle goes."""
        try:
            self.store.swap(layout.LOCK, note, head.version)
        except (ConflictError, StorageError):
            # A retried request can report a failure or conflict with its own landed
            # write: only then is the batch committed.
            if self._get(layout.LOCK) != note:
                self.store.delete(skey)
                raise

    def _sign(self, cp: Checkpoint, prev_ts: int) -> bytes:
        signers = self.keys.signers(lambda: max(int(self.clock()), prev_ts))
        return sign(cp.format(), signers).format()
