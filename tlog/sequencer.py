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
6. **Apply.** Create every tile, bundle, covers and index object (``If-None-Match: *``;
   identical bytes are success, different bytes are a corruption alarm).
7. **Publish.** Get the note cosigned by the witnesses, if any (fail-closed: a later
   run's roll-forward retries), then create ``checkpoints/<size>``,
   then swap ``checkpoint``. Only now are the entries acknowledged.
8. **Clean.** Delete the consumed ``pending/`` objects, the staging bundle, and the
   staging bundles that were there when the run loaded (they can never commit now).

A crash anywhere leaves a log the next run completes: before step 5 nothing is visible;
after it, the lock names a staging bundle that steps 6–8 replay idempotently. A
:class:`Watcher` hears each step begin (progress; an interrupt before step 5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from tlog import admission, layout, merkle, tree
from tlog.admission import Candidate, Outcome, Placement, Refused
from tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from tlog.errors import (
    ConfigError,
    ConflictError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    NothingAdmitted,
    StorageError,
    TlogError,
    VerificationError,
)
from tlog.freeze import refuse_if_frozen
from tlog.index import writer as index_writer
from tlog.index.head import IndexHead
from tlog.keys import LogKeys, load_keys
from tlog.note import Note, sign
from tlog.publish import publish
from tlog.queue import reject, taken
from tlog.staging import Staged, collect, committed_bundle
from tlog.storage import Store
from tlog.tile import TileId
from tlog.witness.client import Witnessing

__all__ = ["Candidate", "Outcome", "Result", "Sequencer", "Watcher", "peek_origin"]

MAX_ATTEMPTS = 20


class Watcher:
    """Hears a run as it goes (progress on a terminal, interrupts); this one does nothing.

    ``step(n)``: protocol step n (1–8 above) begins; ``admitted(done, total)``: inputs
    admitted so far (step 2); ``committed(size)``: this run's batch is in the lock (end
    of step 5). ``step``/``admitted`` may raise to abandon the run before the commit
    (nothing is logged); from step 6 on, the next run publishes the committed batch."""

    def step(self, number: int) -> None: ...
    def admitted(self, done: int, total: int) -> None: ...
    def committed(self, size: int) -> None: ...


@dataclass(frozen=True)
class Result:
    """A finished run: the published checkpoint and, lazily, one outcome per input."""

    checkpoint: SignedCheckpoint
    note: bytes
    #: Size of a batch another sequencer committed that this run published, if any.
    recovered: int | None = None
    #: Objects written by this run (tiles, bundles, covers, history, checkpoint).
    writes: int = 0
    placement: Placement | None = None
    #: Why clean-up (step 8) failed after publishing; the next run finishes it.
    cleanup_error: str | None = None

    @property
    def outcomes(self) -> Iterator[Outcome]:
        """One outcome per input, in input order (computed on demand: batches are big)."""
        return self.placement.outcomes() if self.placement else iter(())


@dataclass
class _Head:
    """The log's committed state as read in step 1."""

    lock: SignedCheckpoint
    note: bytes
    version: str
    recovered: int | None = None
    #: Staging bundles ahead of the lock at load: dead once this run commits.
    stale: tuple[str, ...] = ()
    #: The index of the lock's checkpoint.
    index: IndexHead | None = None


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
    """A Sequencer for the log in ``store``, with its keys loaded for the log's origin;
    ``kwargs`` go to :class:`Sequencer` (``clock``, ``watcher``, ``witnessing``, ``known``)."""
    # KMS is found from the AWS environment (AWS_ENDPOINT_URL_KMS), never --endpoint-url.
    keys = load_keys(key_source, peek_origin(store), timestamp_key=timestamp_key)
    return Sequencer(store, keys, **kwargs)  # type: ignore[arg-type]


class Sequencer:
    """Runs the write protocol above against one Store with one log's keys.

    ``clock`` gives the POSIX time for checkpoint timestamps (never earlier than the
    previous checkpoint's); ``watcher`` hears the run's steps; ``witnessing`` gets each
    checkpoint cosigned before it is published (step 7); ``known``: step 2's index lookup.
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
    ) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock
        self.watcher = watcher or Watcher()
        self.witnessing, self.known = witnessing, known

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
        candidates: Sequence[Candidate],
        admit: admission.Admit | None = None,
        *,
        executor: Executor | None = None,
        chunk: int = admission.ADMIT_CHUNK,
    ) -> Result:
        """Append the admissible candidates and publish a checkpoint covering them.

        Returns once the checkpoint is published. Refused inputs are reported in the
        outcomes (refused queue items move aside, :func:`tlog.queue.reject`); queue
        items another run already sequenced are reported as duplicates. If nothing is
        admissible, nothing is written and NothingAdmitted is raised (after any
        recovery of an earlier run). ``chunk``: inputs per parallel admission task.
        """
        head = self._load()
        self.watcher.step(2)
        leaves = admission.admit_all(
            candidates, admit, executor, chunk=chunk, progress=self.watcher.admitted
        )
        hashes = admission.leaf_hashes(leaves)
        for attempt in range(MAX_ATTEMPTS):
            placement, tail = self._place(head, candidates, leaves, hashes)
            consumed = [
                c.pending for i, c in enumerate(candidates) if c.pending and placement.consumes(i)
            ]
            if not placement.leaves:
                reject(self.store, candidates, leaves)
                for key in consumed:  # queue items the log already holds
                    self.store.delete(key)
                return self._nothing_new(head, placement)
            try:
                note, writes, warning = self._append(head, placement, consumed, tail)
                break
            except ConflictError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                head = self._load()
        try:
            reject(self.store, candidates, leaves)
        except TlogError as exc:
            warning = warning or f"moving refused queue items aside failed: {exc}"
        return Result(self._open(note), note, head.recovered, writes, placement, warning)

    def recover(self) -> Result:
        """Run only step 1 (and the roll-forward it may need); publish nothing new."""
        head = self._load(appending=False)
        return Result(head.lock, head.note, head.recovered, 0)

    def _nothing_new(self, head: _Head, placement: Placement) -> Result:
        """No new leaf: the result if the log already holds some inputs, else refuse."""
        if placement.known():
            return Result(head.lock, head.note, head.recovered, 0, placement)
        if placement.sources:
            raise NothingAdmitted(
                f"none of the {len(placement.sources)} inputs could be admitted: nothing written",
                tuple(placement.outcomes()),
            )
        raise NothingAdmitted("the batch is empty: nothing to sequence, nothing written", ())

    # -- step 1 -------------------------------------------------------------------

    def _open(self, note: bytes) -> SignedCheckpoint:
        return open_checkpoint(note, self.keys.verifiers(), origin=self.keys.origin)

    def _load(self, *, appending: bool = True) -> _Head:
        self.watcher.step(1)
        # The public checkpoint first: it only ever trails the lock, so read in this
        # order a concurrent commit cannot make it look ahead of the lock.
        public_note = self._get(layout.CHECKPOINT)
        try:
            note, version = self.store.read_versioned(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            raise ConfigError("no log here: run 'tlog init' first") from None
        try:
            lock = self._open(note)
        except VerificationError as exc:
            raise ConfigError(f"the key does not match this log ({exc})") from None
        public = self._open_public(public_note)
        head = _Head(lock, note, version)
        lsize, lroot = lock.checkpoint.size, lock.checkpoint.root
        if public is not None:
            pcp = public.checkpoint
            if pcp.size > lsize or (pcp.size == lsize and pcp.root != lroot):
                raise InconsistencyError(
                    f"public checkpoint (size {pcp.size}, root {pcp.root.hex()}) is not behind "
                    f"the lock (size {lsize}, root {lroot.hex()}): "
                    "refusing to write to a forked log",
                    evidence={"lock": note.decode(), "public": public.format().decode()},
                )
        if public is None or public.checkpoint.size < lsize:
            self._roll_forward(head)
            head.recovered = lsize
        head.stale = collect(self.store, lsize, note)
        if appending:
            refuse_if_frozen(self.store)  # after reading the lock (tlog.freeze, step 2)
        head.index = index_writer.load(self.store, self.keys.verifiers(), lock.checkpoint)
        return head

    def _open_public(self, data: bytes | None) -> SignedCheckpoint | None:
        if data is None:
            return None
        try:
            return self._open(data)
        except TlogError as exc:
            raise InconsistencyError(
                f"the public checkpoint does not verify with the log key: {exc}",
                evidence={"public": data.decode("utf-8", "replace")},
            ) from None

    def _roll_forward(self, head: _Head) -> None:
        """Steps 6–8 for the batch the lock names, from its staging bundle."""
        size = head.lock.checkpoint.size
        if not size:
            index_writer.init_head(self.store, head.note, self.keys.signers(int))
        staged = committed_bundle(self.store, size, head.note) if size else Staged(head.note, ())
        if staged is None:  # applied already: only the publishing may be missing
            self._publish(self._get(layout.history_key(size)) or head.note, size)
        else:
            self._apply_publish_clean(staged, size)

    # -- step 2 -------------------------------------------------------------------

    def _place(
        self,
        head: _Head,
        candidates: Sequence[Candidate],
        leaves: Sequence[bytes | Refused],
        hashes: Sequence[bytes | None],
    ) -> tuple[Placement, list[bytes]]:
        """Each input's place on top of ``head``, and the committed tree's last bundle."""
        cp = head.lock.checkpoint
        tail = self._tail(cp)
        gone = taken(self.store, candidates)
        assert head.index is not None
        logged = (self.known or index_writer.known)(self.store, head.index, [*filter(None, hashes)])
        return admission.place(
            candidates, leaves, hashes, start=cp.size, taken=gone, tail=tail, logged=logged
        ), tail

    # -- step 3 -------------------------------------------------------------------

    def _read_tile(self, tid: TileId) -> bytes:
        try:
            return self.store.read(tid.path(), tid.max_size())
        except NotFoundError:
            raise InconsistencyError(
                f"right-edge tile {tid.path()} of the committed tree is missing"
            ) from None

    def _read_covers(self, tid: TileId) -> bytes:
        key = layout.covers_key(tid)
        try:
            return self.store.read(key, layout.MAX_COVER_SIZE)
        except NotFoundError:
            raise InconsistencyError(
                f"integrated-time index {key} of the committed tree is missing"
            ) from None

    def _tail(self, cp: Checkpoint) -> list[bytes]:
        """The entries of the committed tree's partial entry bundle (the last < 256)."""
        return tree.read_tail(cp.size, self._read_tile)

    def _build(
        self, old: Checkpoint, leaves: list[bytes], hashes: list[bytes], tail: list[bytes]
    ) -> tree.Growth:
        """The batch's bundles and hash tiles, built on the authenticated right edge."""
        return tree.integrate(
            old.size, old.root, hashes, self._read_tile, entries=leaves, tail=tail
        )

    def _covers(self, size: int, new_size: int) -> list[tuple[str, bytes]]:
        """The covers objects of the batch (tlog.tree "Covers objects")."""
        covers = tree.covers(size, new_size, self._read_covers)
        return [(layout.covers_key(tid), data) for tid, data in covers]

    # -- steps 4–8, and the attempt that runs steps 3–8 ---------------------------

    def _append(
        self, head: _Head, placement: Placement, pending: list[str], tail: list[bytes]
    ) -> tuple[bytes, int, str | None]:
        """Steps 3–8 for one attempt: the note, objects written, any clean-up failure."""
        old = head.lock.checkpoint
        self.watcher.step(3)
        built = self._build(old, placement.leaves, placement.hashes, tail)
        self.watcher.step(4)
        prev_ts = head.lock.timestamp or 0
        new = Checkpoint(old.origin, built.size, built.root)
        note = self._sign(new, prev_ts)
        assert head.index is not None
        signers = self.keys.signers(int)
        index = index_writer.batch_objects(self.store, head.index, placement, new, signers)
        objects = (*built.objects, *self._covers(old.size, built.size), *index)
        staged = Staged(note, objects, tuple(pending))
        skey = layout.staging_key(built.size, note)
        self.store.create(skey, staged.format())
        try:
            self.watcher.step(5)
        except BaseException:
            self.store.delete(skey)  # abandoned before the commit: nothing is logged
            raise
        self._commit(head, note, skey)
        self.watcher.committed(built.size)
        return self._apply_publish_clean(staged, built.size, stale=head.stale)

    def _commit(self, head: _Head, note: bytes, skey: str) -> None:
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

    def _apply_publish_clean(
        self, staged: Staged, size: int, *, stale: tuple[str, ...] | None = None
    ) -> tuple[bytes, int, str | None]:
        """Steps 6–8: the published note, objects written and, for this run's own batch
        (``stale`` given), a clean-up failure after publishing (the run has succeeded;
        the next run's load cleans up), raised when rolling another run's forward."""
        own = stale is not None
        if own:
            self.watcher.step(6)
        if staged.objects:
            self.store.create_many(staged.objects)
        if own:
            self.watcher.step(7)
        note = staged.checkpoint
        if self.witnessing is not None and size:  # cosigned before anything is public
            note = self.witnessing.cosign(self.store, note, size)
        self.store.create(layout.history_key(size), note)
        self._publish(note, size)
        writes = len(staged.objects) + 2
        if own:
            self.watcher.step(8)
        try:
            for key in staged.pending:
                self.store.delete(key)
            if size:
                self.store.delete(layout.staging_key(size, staged.checkpoint))
            for key in stale or ():
                self.store.delete(key)
        except TlogError as exc:
            if not own:
                raise
            return note, writes, str(exc)
        return note, writes, None

    def _publish(self, note: bytes, size: int) -> None:
        """Make ``note`` the public checkpoint unless a newer one already is."""
        size_of = lambda n: Checkpoint.parse(Note.parse(n).text).size  # noqa: E731
        publish(self.store, layout.CHECKPOINT, note, size, size_of, layout.MAX_CHECKPOINT_SIZE)
