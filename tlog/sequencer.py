"""The batch sequencer: appends a batch of entries to a log in a Store.

The write protocol (DESIGN.md "The write protocol"; after Sunlight), with the lock's
compare-and-swap as the only coordination between concurrent sequencers:

1. **Load.** Read ``private/lock`` (with its version) and the public ``checkpoint``.
   Lock ahead of public → roll the committed batch forward from its staging bundle.
   Public ahead of lock, or the same size with another root → refuse (fork evidence).
2. **Admit.** Validate each input (in parallel when an admission function is given),
   drop duplicates inside the batch; a bad input gets a reason, the rest goes on.
3. **Build.** New tiles and bundles from the right-edge (partial) tiles and the new leaf
   hashes only; the right edge is first checked against the lock's root.
4. **Stage.** Write one staging bundle holding every object the batch will publish.
5. **Commit.** Sign the new checkpoint and swap it into the lock (``If-Match``). Losing
   means another sequencer won: delete our staging bundle and start again from 1.
6. **Apply.** Create every tile, bundle and covers object (``If-None-Match: *``;
   identical bytes are success, different bytes are a corruption alarm).
7. **Publish.** Create ``checkpoints/<size>``, then write ``checkpoint``. Only now are
   the entries acknowledged.
8. **Clean.** Delete the consumed ``pending/`` objects, then the staging bundle.

A crash anywhere leaves a log that the next run completes: before step 5 nothing is
visible (the staging bundle is garbage the next run deletes); after it, the lock names
a staging bundle that steps 6–8 replay idempotently.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, cast

from tlog import layout, merkle, tree
from tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from tlog.errors import (
    ConfigError,
    ConflictError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
    TlogError,
    VerificationError,
)
from tlog.keys import LogKeys
from tlog.note import Note, sign
from tlog.staging import MAX_STAGED_SIZE, Staged
from tlog.storage import Store
from tlog.tile import MAX_ENTRY_SIZE, TileId

#: Turns one input document into leaf bytes, or raises TlogError with the reason.
Admit = Callable[[bytes], bytes]

MAX_ATTEMPTS = 20
#: Inputs per parallel admission task.
ADMIT_CHUNK = 512


class Candidate(NamedTuple):
    """One input: where it came from, its bytes, and the pending object it came from.

    (Named tuples, not dataclasses: a batch holds a million of these.)
    """

    source: str
    data: bytes
    pending: str | None = None


class Outcome(NamedTuple):
    """What became of one input: its index and UUID, or why it was refused."""

    source: str
    log_index: int | None = None
    uuid: str | None = None
    error: str | None = None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Placement:
    """Where each input went: a slot in the batch's accepted leaves, or a refusal."""

    sources: tuple[str, ...]
    slots: list[Slot]
    hashes: list[bytes]
    start: int

    def outcomes(self) -> Iterator[Outcome]:
        seen: set[int] = set()
        for source, slot in zip(self.sources, self.slots, strict=True):
            if isinstance(slot, str):
                yield Outcome(source, None, None, slot)
            elif isinstance(slot, bytes):
                yield Outcome(source, None, slot.hex(), None, True)
            elif isinstance(slot, _Logged):
                yield Outcome(source, slot.log_index, slot.leaf_hash.hex(), None, True)
            else:
                dup = slot in seen
                seen.add(slot)
                yield Outcome(source, self.start + slot, self.hashes[slot].hex(), None, dup)


@dataclass(frozen=True)
class Result:
    """A finished run: the published checkpoint and, lazily, one outcome per input."""

    checkpoint: SignedCheckpoint
    note: bytes
    #: Size of a committed-but-unpublished batch this run rolled forward, if any.
    recovered: int | None = None
    #: Objects written by this run (tiles, bundles, covers, history, checkpoint).
    writes: int = 0
    placement: _Placement | None = None

    @property
    def outcomes(self) -> Iterator[Outcome]:
        """One outcome per input, in input order (computed on demand: batches are big)."""
        return self.placement.outcomes() if self.placement else iter(())


class NothingAdmitted(MalformedError):
    """No input of the batch could be admitted; ``outcomes`` say why for each."""

    def __init__(self, message: str, outcomes: tuple[Outcome, ...]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


@dataclass
class _Head:
    """The log's committed state as read in step 1."""

    lock: SignedCheckpoint
    note: bytes
    version: str
    recovered: int | None = None


class _Logged(NamedTuple):
    """An input already in the log, at ``log_index``."""

    log_index: int
    leaf_hash: bytes


Slot = int | str | bytes | _Logged


def _place(
    candidates: Sequence[Candidate],
    leaves: Sequence[bytes | str],
    all_hashes: Sequence[bytes | None],
    taken: set[str],
    logged: dict[bytes, int],
) -> tuple[list[bytes], list[bytes], list[Slot]]:
    """The batch's distinct admitted leaves, their hashes, and each input's slot.

    A slot is the position in the accepted leaves, the refusal reason (str), the leaf
    hash (bytes) of a queue item another run already sequenced, or where the log
    already holds the entry (``logged``: leaf hash → index, for what the log can know
    cheaply).
    """
    if (
        not taken
        and None not in all_hashes
        and len(set(all_hashes)) == len(all_hashes)
        and logged.keys().isdisjoint(all_hashes)
    ):
        # The common case, a million distinct entries: no per-entry bookkeeping.
        return (
            cast(list[bytes], list(leaves)),
            cast(list[bytes], list(all_hashes)),
            list(range(len(leaves))),
        )
    accepted: list[bytes] = []
    hashes: list[bytes] = []
    slots: list[Slot] = []
    first_seen: dict[bytes, int] = {}
    for cand, leaf, h in zip(candidates, leaves, all_hashes, strict=True):
        if h is None:
            slots.append(cast(str, leaf))
        elif cand.pending in taken:
            slots.append(h)
        elif h in logged:
            slots.append(_Logged(logged[h], h))
        else:
            pos = first_seen.setdefault(h, len(accepted))
            if pos == len(accepted):
                accepted.append(cast(bytes, leaf))
                hashes.append(h)
            slots.append(pos)
    return accepted, hashes, slots


def default_clock() -> int:
    return int(time.time())


def peek_origin(store: Store) -> str:
    """The origin of the log in ``store``, read from its lock (unverified: used only to
    pick the key to verify with). ConfigError if the log was never initialised."""
    try:
        data = store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        raise ConfigError("no log here: run 'tlog init' first") from None
    try:
        return Checkpoint.parse(Note.parse(data).text).origin
    except MalformedError as exc:
        raise StorageError(f"the log's lock is unreadable: {exc}") from None


def admit_all(
    candidates: Sequence[Candidate], admit: Admit | None, executor: Executor | None = None
) -> list[bytes | str]:
    """Leaf bytes for each candidate, or the reason it was refused (same order).

    ``admit=None`` is raw mode: the input bytes are the entry. With an executor, chunks
    of inputs are admitted in parallel (``admit`` must then be picklable).
    """
    if admit is None:
        return [_raw(c.data) for c in candidates]
    datas = [c.data for c in candidates]
    if executor is None or len(datas) <= ADMIT_CHUNK:
        return _admit_chunk(admit, datas)
    chunks = [datas[i : i + ADMIT_CHUNK] for i in range(0, len(datas), ADMIT_CHUNK)]
    out: list[bytes | str] = []
    for part in executor.map(_admit_chunk, [admit] * len(chunks), chunks):
        out.extend(part)
    return out


def _raw(data: bytes) -> bytes | str:
    if len(data) > MAX_ENTRY_SIZE:
        return f"entry is larger than the {MAX_ENTRY_SIZE}-byte limit"
    return data


def _admit_chunk(admit: Admit, datas: Sequence[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = []
    for d in datas:
        try:
            leaf = admit(d)
        except TlogError as exc:
            out.append(str(exc))
            continue
        out.append(_raw(leaf))
    return out


def admit_rekor(data: bytes) -> bytes:
    """The default admission: a Rekor entry document → its canonical body (picklable)."""
    from tlog.entries import admit_json

    return admit_json(data).body


def parallel_admission(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool for :func:`admit_all` (signature checks use every core).

    Each worker starts with this process's admission policy (allowed algorithms, CA
    bundle), so narrowing the policy applies to the whole batch.
    """
    from tlog.entries import load_types
    from tlog.entries.policy import current_policy, init_worker

    load_types()  # forked workers inherit the loaded entry types: a faster start
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        initializer=init_worker,
        initargs=(current_policy(),),
    )


class Sequencer:
    """Runs the write protocol above against one Store with one log's keys.

    ``clock`` gives the POSIX time for checkpoint timestamps (never earlier than the
    previous checkpoint's).
    """

    def __init__(
        self,
        store: Store,
        keys: LogKeys,
        *,
        clock: Callable[[], int] = default_clock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    # -- step 0: a new log --------------------------------------------------------

    def init(self) -> SignedCheckpoint:
        """Create the empty log (size 0). ConfigError if a log already exists here."""
        try:
            existing = self.store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            existing = None
        if existing is not None:
            cp = Checkpoint.parse(Note.parse(existing).text)
            raise ConfigError(f"a log already exists here (origin {cp.origin!r}, size {cp.size})")
        if self.store.list(layout.TILE_PREFIX[:-1]) or self._exists(layout.CHECKPOINT):
            raise ConfigError(
                "this location already holds log objects but no lock: refusing to init"
            )
        note = self._sign(Checkpoint(self.keys.origin, 0, merkle.EMPTY_ROOT), 0)
        self.store.swap(layout.LOCK, note, None)
        self.store.create(layout.history_key(0), note)
        self.store.write(layout.CHECKPOINT, note)
        return self._open(note)

    def _exists(self, key: str) -> bool:
        try:
            self.store.read(key, layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            return False
        return True

    # -- the run ------------------------------------------------------------------

    def sequence(
        self,
        candidates: Sequence[Candidate],
        admit: Admit | None = None,
        *,
        executor: Executor | None = None,
    ) -> Result:
        """Append the admissible candidates and publish a checkpoint covering them.

        Returns once the checkpoint is published. Refused inputs are reported in the
        outcomes (refused queue items move to ``private/rejected/``); queue items
        another run already sequenced are reported as duplicates. If nothing is
        admissible, nothing is written and NothingAdmitted is raised (after any
        recovery of an earlier run).
        """
        head = self._load()
        leaves = admit_all(candidates, admit, executor)
        sha256 = hashlib.sha256
        # merkle.leaf_hash, inlined: this is the hot loop of a million-entry batch.
        all_hashes = [None if isinstance(x, str) else sha256(b"\x00" + x).digest() for x in leaves]
        for attempt in range(MAX_ATTEMPTS):
            taken = self._taken(candidates)
            tail = self._tail(head.lock.checkpoint)
            first = head.lock.checkpoint.size - len(tail)
            logged = {sha256(b"\x00" + e).digest(): first + i for i, e in enumerate(tail)}
            accepted, hashes, slots = _place(candidates, leaves, all_hashes, taken, logged)
            if not accepted:
                self._reject(candidates, leaves)
                outs = _Placement(tuple(c.source for c in candidates), slots, hashes, 0)
                if any(isinstance(slot, (bytes, _Logged)) for slot in slots):
                    # Only entries the log already holds: nothing to add.
                    return Result(head.lock, head.note, head.recovered, 0, outs)
                if candidates:
                    raise NothingAdmitted(
                        f"none of the {len(candidates)} inputs could be admitted: nothing written",
                        tuple(outs.outcomes()),
                    )
                raise NothingAdmitted(
                    "the batch is empty: nothing to sequence, nothing written", ()
                )
            consumed = [
                c.pending
                for c, slot in zip(candidates, slots, strict=True)
                if c.pending and isinstance(slot, int)
            ]
            try:
                start, note, writes = self._append(head, accepted, hashes, consumed, tail)
                break
            except ConflictError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                head = self._load()
        self._reject(candidates, leaves)
        return Result(
            self._open(note),
            note,
            head.recovered,
            writes,
            _Placement(tuple(c.source for c in candidates), slots, hashes, start),
        )

    def recover(self) -> Result:
        """Run only step 1 (and the roll-forward it may need); publish nothing new."""
        head = self._load()
        return Result(head.lock, head.note, head.recovered, 0)

    def _taken(self, candidates: Sequence[Candidate]) -> set[str]:
        """Queue items of this batch that are gone from the queue: sequenced by another run.

        Sound because every load finishes the clean-up of every committed batch (its
        queue items are deleted before anything else can commit on top of it), and a
        batch committed after our load makes our swap fail, so we look again.
        """
        mine = {c.pending for c in candidates if c.pending}
        if not mine:
            return set()
        return mine - set(self.store.list(layout.PENDING_PREFIX))

    def _reject(self, candidates: Sequence[Candidate], leaves: Sequence[bytes | str]) -> None:
        """Move refused queue items aside, so they neither block nor vanish."""
        for cand, leaf in zip(candidates, leaves, strict=True):
            if cand.pending and isinstance(leaf, str):
                name = cand.pending[len(layout.PENDING_PREFIX) :]
                self.store.write(layout.REJECTED_PREFIX + name, cand.data)
                self.store.delete(cand.pending)

    # -- step 1 -------------------------------------------------------------------

    def _open(self, note: bytes) -> SignedCheckpoint:
        return open_checkpoint(note, self.keys.verifiers(), origin=self.keys.origin)

    def _load(self) -> _Head:
        # The public checkpoint first: it only ever trails the lock, so read in this
        # order a concurrent commit cannot make it look ahead of the lock.
        try:
            public_note: bytes | None = self.store.read(
                layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE
            )
        except NotFoundError:
            public_note = None
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
        else:
            self._finish_clean(lsize, note)
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
        cp = head.lock.checkpoint
        if cp.size == 0:
            self._apply_publish_clean(Staged(head.note, ()), 0)
            return
        key = layout.staging_key(cp.size, head.note)
        try:
            staged = Staged.parse(self.store.read(key, MAX_STAGED_SIZE))
        except NotFoundError:
            # Its bundle goes only after the batch was applied and published (by its
            # owner or another run): the history object says whether that happened.
            try:
                done = self.store.read(layout.history_key(cp.size), layout.MAX_CHECKPOINT_SIZE)
            except NotFoundError:
                done = b""
            if done != head.note:
                raise InconsistencyError(
                    f"the lock is at size {cp.size} but its staging bundle {key} is missing",
                    evidence={"lock": head.note.decode()},
                ) from None
            self._publish(head.note, cp.size)
            return
        if staged.checkpoint != head.note:
            raise InconsistencyError(
                f"staging bundle {key} does not hold the lock's checkpoint",
                evidence={"lock": head.note.decode(), "staged": staged.checkpoint.decode()},
            )
        self._apply_publish_clean(staged, cp.size)

    def _finish_clean(self, size: int, note: bytes) -> None:
        """Delete leftovers: a published batch's pending/staging, and dead staging bundles."""
        mine = layout.staging_key(size, note)
        for key in self.store.list(layout.STAGING_PREFIX):
            try:
                s_size = int(key[len(layout.STAGING_PREFIX) :].split("-", 1)[0])
            except ValueError:
                continue
            if key == mine:
                try:
                    staged = Staged.parse(self.store.read(key, MAX_STAGED_SIZE))
                except NotFoundError:
                    continue
                for p in staged.pending:
                    self.store.delete(p)
                self.store.delete(key)
            elif s_size <= size:
                # Staged on a state the lock has left behind: it can never commit.
                self.store.delete(key)

    # -- steps 3–8 ----------------------------------------------------------------

    def _append(
        self,
        head: _Head,
        leaves: list[bytes],
        hashes: list[bytes],
        pending: list[str],
        tail: list[bytes],
    ) -> tuple[int, bytes, int]:
        old = head.lock.checkpoint
        built = self._build(old, leaves, hashes, tail)
        prev_ts = head.lock.timestamp or 0
        note = self._sign(Checkpoint(old.origin, built.size, built.root), prev_ts)
        staged = Staged(note, (*built.objects, *self._covers(old.size, built.size)), tuple(pending))
        skey = layout.staging_key(built.size, note)
        self.store.create(skey, staged.format())
        try:
            self.store.swap(layout.LOCK, note, head.version)
        except ConflictError:
            # A retried request can report a conflict with its own landed write.
            try:
                landed = self.store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE) == note
            except NotFoundError:
                landed = False
            if not landed:
                self.store.delete(skey)
                raise
        writes = self._apply_publish_clean(staged, built.size)
        return old.size, note, writes

    def _sign(self, cp: Checkpoint, prev_ts: int) -> bytes:
        signers = self.keys.signers(lambda: max(int(self.clock()), prev_ts))
        return sign(cp.format(), signers).format()

    def _apply_publish_clean(self, staged: Staged, size: int) -> int:
        if staged.objects:
            self.store.create_many(staged.objects)
        self.store.create(layout.history_key(size), staged.checkpoint)
        self._publish(staged.checkpoint, size)
        for key in staged.pending:
            self.store.delete(key)
        if size:
            self.store.delete(layout.staging_key(size, staged.checkpoint))
        return len(staged.objects) + 2

    def _publish(self, note: bytes, size: int) -> None:
        """Make ``note`` the public checkpoint unless a newer one already is.

        Compare-and-swap, so a run that stalled between its commit and here can never
        roll the public checkpoint back over a newer run's.
        """
        for _ in range(MAX_ATTEMPTS):
            try:
                current, version = self.store.read_versioned(
                    layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE
                )
            except NotFoundError:
                current, version = b"", None
            if current:
                try:
                    if Checkpoint.parse(Note.parse(current).text).size >= size:
                        return
                except MalformedError:
                    pass  # unreadable: replace it with ours
            try:
                self.store.swap(layout.CHECKPOINT, note, version)
                return
            except ConflictError:
                continue
        raise ConflictError(f"could not publish checkpoint {size}: it kept changing")

    # -- step 3 -------------------------------------------------------------------

    def _read_tile(self, tid: TileId) -> bytes:
        try:
            return self.store.read(tid.path(), tid.max_size())
        except NotFoundError:
            raise InconsistencyError(
                f"right-edge tile {tid.path()} of the committed tree is missing"
            ) from None

    def _read_covers(self, bundle: TileId) -> bytes:
        key = layout.covers_key(bundle)
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
        return [(layout.covers_key(bundle), data) for bundle, data in covers]


#: Largest file of JSON lines one run reads (split bigger batches).
MAX_INPUT_FILE = 1 << 30


def read_inputs(
    paths: Iterable[str], raw: bool, stdin: Callable[[int], bytes]
) -> list[Candidate | Outcome]:
    """Candidates from files (``-`` is standard input); unreadable files become Outcomes.

    Raw mode: each file is one entry (read up to one byte past the entry limit, so an
    oversize file is refused, not truncated). Otherwise each non-blank line is one JSON
    document, from files of at most MAX_INPUT_FILE bytes. ``stdin(n)`` reads at most n.
    """
    limit = MAX_ENTRY_SIZE + 1 if raw else MAX_INPUT_FILE + 1
    out: list[Candidate | Outcome] = []
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            if path == "-":
                data = stdin(limit)
            else:
                with open(path, "rb") as f:
                    data = f.read(limit)
        except OSError as exc:
            out.append(Outcome(name, error=f"cannot read {path}: {exc.strerror or exc}"))
            continue
        if raw:
            out.append(Candidate(name, data))
            continue
        if len(data) >= limit:
            out.append(Outcome(name, error=f"over {MAX_INPUT_FILE} bytes: split the batch"))
            continue
        for lineno, line in enumerate(data.splitlines(), 1):
            if line.strip():
                out.append(Candidate(f"{name}:{lineno}", line.strip()))
    return out


def pending_candidates(store: Store, limit: int) -> list[Candidate | Outcome]:
    """Up to ``limit`` queued submissions from ``private/pending/``, oldest name first.

    An item over the submission bound (not written by ``submit``) is removed from the
    queue and reported, so it cannot block the queue.
    """
    out: list[Candidate | Outcome] = []
    for key in store.list(layout.PENDING_PREFIX)[:limit]:
        source = f"pending:{key[len(layout.PENDING_PREFIX) :][:16]}"
        try:
            data = store.read(key, MAX_SUBMISSION)
        except NotFoundError:
            continue  # taken by a concurrent run
        except OversizeError:
            store.delete(key)
            out.append(Outcome(source, error=f"queue item over {MAX_SUBMISSION} bytes: removed"))
            continue
        out.append(Candidate(source, data, key))
    return out


#: Largest document ``submit`` queues (the entry admission bound).
MAX_SUBMISSION = 1 << 20


def submit(store: Store, data: bytes) -> str:
    """Queue one document for the next ``sequence --pending`` run; returns its key.

    Content-addressed, so submitting the same bytes twice queues them once.
    """
    if len(data) > MAX_SUBMISSION:
        raise OversizeError(f"submission is {len(data)} bytes, over {MAX_SUBMISSION}")
    digest = hashlib.sha256(data).hexdigest()
    key = layout.pending_key(digest)
    store.create(key, data)
    return key
