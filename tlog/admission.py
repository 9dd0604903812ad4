"""Admission and outcomes: what becomes of each input of a batch (step 2 of the protocol).

Each input is admitted (a Rekor document canonicalised and checked, or in raw mode taken
as it is), then *placed*: given a position among the batch's distinct new leaves, or
recorded as refused, as already in the log, or as a queue item another run sequenced.
The placement is one explicit record per input; :meth:`Placement.outcomes` turns the
records into the one line per input the CLI prints.

Admission is the last line of defence against hostile input: whatever an admission
function raises for one input — a TlogError with its reason, or any unexpected
exception — costs that input a refusal, never the batch (docs/design.md "The write
protocol").
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
import operator
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, cast

from tlog.entries import admit_json, load_types  # once: an import per entry costs 1 us
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError
from tlog.tile import MAX_ENTRY_SIZE

#: Turns one input document into leaf bytes, or raises TlogError with the reason.
Admit = Callable[[bytes], bytes]

#: Inputs per parallel admission task (the default of :func:`admit_all`'s ``chunk``).
ADMIT_CHUNK = 512
#: Admission tasks :func:`admit_stream` keeps in flight: enough to keep the pool busy
#: while the caller commits the previous chunk (docs/design.md "Streaming batches").
AHEAD = 64
#: Input bytes :func:`admit_stream` keeps in flight at most (about).
AHEAD_BYTES = 8 << 20

#: What an over-long entry is told (C2SP tlog-tiles bounds an entry to 65,535 bytes).
TOO_BIG = (
    f"entry is larger than the {MAX_ENTRY_SIZE}-byte limit: log a digest of it instead "
    "(a hashedrekord entry, or --raw of a manifest listing the files' hashes)"
)


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


# -- one record per input ----------------------------------------------------------


class Accepted(NamedTuple):
    """New in this batch, at ``pos`` among its distinct leaves (``duplicate``: an
    earlier input of the batch had the same leaf)."""

    pos: int
    duplicate: bool = False


class Refused(NamedTuple):
    """Not admitted, with the reason (it may quote hostile input: print it safely)."""

    reason: str


class AlreadyLogged(NamedTuple):
    """Already in the log, at ``log_index`` (found in its index or its last bundle)."""

    log_index: int
    leaf_hash: bytes


class TakenByAnotherRun(NamedTuple):
    """A queue item another run sequenced while this one was admitting it."""

    leaf_hash: bytes


Slot = Accepted | Refused | AlreadyLogged | TakenByAnotherRun


@dataclass(frozen=True)
class Placement:
    """Where each input of a batch went.

    ``leaves`` and ``hashes`` are the batch's distinct new leaves in log order, from
    index ``start``. ``slots`` holds one record per input; ``None`` is the common case
    of a big batch — every input new and distinct, input ``i`` at leaf ``i`` — kept
    without a million records.
    """

    sources: tuple[str, ...]
    leaves: list[bytes]
    hashes: list[bytes]
    slots: list[Slot] | None
    start: int

    def known(self) -> bool:
        """Whether some input is already in the log (by this run's view of it)."""
        kinds = (AlreadyLogged, TakenByAnotherRun)
        return self.slots is not None and any(isinstance(s, kinds) for s in self.slots)

    def consumes(self, i: int) -> bool:
        """Whether input ``i``'s queue item leaves the queue once this batch is logged:
        it is new, or the log already holds its entry."""
        return self.slots is None or isinstance(self.slots[i], Accepted | AlreadyLogged)

    def consumed(self, candidates: Sequence[Candidate]) -> list[str]:
        """The queue items of ``candidates`` (this batch's inputs) that :meth:`consumes`."""
        if not any(map(_PENDING, candidates)):
            return []  # not from the queue: no per-input loop
        consumes = self.consumes
        return [c.pending for i, c in enumerate(candidates) if c.pending and consumes(i)]

    def outcomes(self) -> Iterator[Outcome]:
        """One outcome per input, in input order."""
        start = self.start
        if self.slots is None:
            for i, (source, h) in enumerate(zip(self.sources, self.hashes, strict=True)):
                yield Outcome(source, start + i, h.hex())
            return
        for source, slot in zip(self.sources, self.slots, strict=True):
            if isinstance(slot, Accepted):
                yield Outcome(
                    source, start + slot.pos, self.hashes[slot.pos].hex(), None, slot.duplicate
                )
            elif isinstance(slot, Refused):
                yield Outcome(source, error=slot.reason)
            elif isinstance(slot, AlreadyLogged):
                yield Outcome(source, slot.log_index, slot.leaf_hash.hex(), None, True)
            else:
                yield Outcome(source, None, slot.leaf_hash.hex(), None, True)


def leaf_hashes(leaves: Sequence[bytes | Refused]) -> list[bytes | None]:
    """RFC 6962 leaf hash of each admitted leaf; None for a refusal."""
    sha256 = hashlib.sha256
    # merkle.leaf_hash, inlined: this is the hot loop of a million-entry batch.
    try:
        return [sha256(b"\x00" + x).digest() for x in leaves]  # type: ignore[operator]
    except TypeError:  # a Refused among them (bytes + tuple)
        return [None if isinstance(x, Refused) else sha256(b"\x00" + x).digest() for x in leaves]


def place(
    candidates: Sequence[Candidate],
    leaves: Sequence[bytes | Refused],
    hashes: Sequence[bytes | None],
    *,
    start: int,
    taken: set[str],
    tail: Sequence[bytes] = (),
    logged: dict[bytes, int] | None = None,
) -> Placement:
    """Place each input on a log of size ``start``: new (deduplicated), refused, taken
    by another run, or logged.

    ``taken``: this batch's queue keys another run consumed; ``tail``: the log's last
    entries (its partial entry bundle); ``logged``: leaf hash → index of the batch's
    leaves the log's index found (docs/index.md "Dedup"). An entry found in either is
    reported at its existing index, never appended again.
    """
    sha256, first = hashlib.sha256, start - len(tail)
    found = dict(logged or {})
    found.update((sha256(b"\x00" + e).digest(), first + i) for i, e in enumerate(tail))
    logged = found
    sources = tuple(map(_SOURCE, candidates))
    if (
        not taken
        and None not in hashes
        and len(set(hashes)) == len(hashes)
        and logged.keys().isdisjoint(hashes)
    ):
        # The common case, a million distinct entries: no per-entry bookkeeping.
        new = cast(list[bytes], list(leaves))
        return Placement(sources, new, cast(list[bytes], list(hashes)), None, start)
    accepted: list[bytes] = []
    new_hashes: list[bytes] = []
    slots: list[Slot] = []
    first_seen: dict[bytes, int] = {}
    for cand, leaf, maybe in zip(candidates, leaves, hashes, strict=True):
        if isinstance(leaf, Refused):
            slots.append(leaf)
            continue
        h = cast(bytes, maybe)
        if cand.pending in taken:
            slots.append(TakenByAnotherRun(h))
        elif h in logged:
            slots.append(AlreadyLogged(logged[h], h))
        elif h in first_seen:
            slots.append(Accepted(first_seen[h], True))
        else:
            first_seen[h] = len(accepted)
            slots.append(Accepted(len(accepted)))
            accepted.append(leaf)
            new_hashes.append(h)
    return Placement(sources, accepted, new_hashes, slots, start)


# -- admitting ---------------------------------------------------------------------


def admit_all(
    candidates: Sequence[Candidate],
    admit: Admit | None,
    executor: Executor | None = None,
    *,
    chunk: int = ADMIT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> list[bytes | Refused]:
    """Leaf bytes for each candidate, or why it was refused (same order).

    ``admit=None`` is raw mode: the input bytes are the entry. With an executor, chunks
    of ``chunk`` inputs are admitted in parallel (``admit`` must then be picklable).
    ``progress(done, total)`` is called after each chunk; an exception it raises
    cancels the chunks not yet started and propagates (how a run is interrupted).
    """
    if admit is None:
        return _raw_all(list(map(_DATA, candidates)))
    datas = [c.data for c in candidates]
    total = len(datas)
    if executor is None or total <= chunk:
        out: list[bytes | Refused] = []
        for i in range(0, total, chunk):
            out.extend(_admit_chunk(admit, datas[i : i + chunk]))
            if progress:
                progress(len(out), total)
        return out
    futures = [
        executor.submit(_admit_chunk, admit, datas[i : i + chunk]) for i in range(0, total, chunk)
    ]
    out = []
    try:
        for future in futures:
            out.extend(future.result())
            if progress:
                progress(len(out), total)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return out


#: One admitted piece of a stream: its candidates and, in the same order, their leaves.
Admitted = tuple[list[Candidate], list[bytes | Refused]]


def admit_stream(
    candidates: Iterable[Candidate],
    admit: Admit | None,
    executor: Executor | None = None,
    *,
    chunk: int = ADMIT_CHUNK,
    ahead: int = AHEAD,
    ahead_bytes: int = AHEAD_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Admitted]:
    """The candidates, admitted, in input order, in pieces of at most ``chunk``.

    Streams: at most ``ahead`` pieces, and about ``ahead_bytes`` of input, are in flight
    in ``executor`` (admission of the next pieces overlaps whatever the caller does with
    this one), and the input is read only as far as that. A stream of at most one piece
    is admitted here (no round trip to a worker). ``progress(done, 0)`` is called after
    each piece (the total is not known); an exception it raises, or closing the stream,
    cancels the pieces in flight.
    """
    pieces: Iterator[list[Candidate]] = _pieces(candidates, chunk)
    first = next(pieces, None)
    if first is None:
        return
    second = next(pieces, None)
    pieces = itertools.chain([first] if second is None else [first, second], pieces)
    done = 0
    if admit is None or executor is None or second is None:
        for piece in pieces:
            datas = list(map(_DATA, piece))
            leaves = _raw_all(datas) if admit is None else _admit_chunk(admit, datas)
            done += len(piece)
            if progress:
                progress(done, 0)
            yield piece, leaves
        return
    yield from _in_pool(pieces, admit, executor, ahead, ahead_bytes, progress)


def _in_pool(
    pieces: Iterator[list[Candidate]],
    admit: Admit,
    executor: Executor,
    ahead: int,
    ahead_bytes: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[Admitted]:
    """:func:`admit_stream` through ``executor``: pieces in flight, yielded in order."""
    done = 0
    flight: collections.deque[tuple[list[Candidate], Future[list[bytes | Refused]]]]
    flight = collections.deque()
    held = 0  # input bytes in flight
    try:
        while True:
            while len(flight) < ahead and (not flight or held < ahead_bytes):
                piece = next(pieces, [])
                if not piece:
                    break
                data = [c.data for c in piece]
                held += sum(map(len, data))
                flight.append((piece, executor.submit(_admit_chunk, admit, data)))
            if not flight:
                return
            piece, future = flight.popleft()
            leaves = future.result()
            held -= sum(len(c.data) for c in piece)
            done += len(piece)
            if progress:
                progress(done, 0)
            yield piece, leaves
    finally:
        for _, future in flight:
            future.cancel()


def chunks(pieces: Iterable[Admitted], entries: int, size: int) -> Iterator[Admitted]:
    """Admitted pieces cut into chunks of one commit each: at most ``entries`` inputs,
    and at most ``size`` bytes of input once past one input."""
    cands: list[Candidate] = []
    leaves: list[bytes | Refused] = []
    total = 0
    for piece, admitted in pieces:
        more = sum(map(len, map(_DATA, piece)))
        if len(cands) + len(piece) <= entries and total + more <= size:
            cands += piece  # the whole piece fits (no per-input bookkeeping)
            leaves += admitted
            total += more
            continue
        for cand, leaf in zip(piece, admitted, strict=True):
            total += len(cand.data)
            if cands and (len(cands) == entries or total > size):
                yield cands, leaves
                cands, leaves, total = [], [], len(cand.data)
            cands.append(cand)
            leaves.append(leaf)
    if cands:
        yield cands, leaves


def _pieces(candidates: Iterable[Candidate], chunk: int) -> Iterator[list[Candidate]]:
    it = iter(candidates)
    while piece := list(itertools.islice(it, chunk)):
        yield piece


#: A candidate's source, bytes and pending key (``operator.itemgetter``: no Python call per input).
_SOURCE, _DATA, _PENDING = (operator.itemgetter(i) for i in range(3))


def _raw_all(datas: list[bytes]) -> list[bytes | Refused]:
    """:func:`_raw` of each input (one C-level length check for a batch of small ones)."""
    if max(map(len, datas), default=0) <= MAX_ENTRY_SIZE:
        return cast(list[bytes | Refused], datas)
    return [_raw(d) for d in datas]


def _raw(data: bytes) -> bytes | Refused:
    if len(data) > MAX_ENTRY_SIZE:
        return Refused(TOO_BIG)
    return data


def _admit_chunk(admit: Admit, datas: Sequence[bytes]) -> list[bytes | Refused]:
    out: list[bytes | Refused] = []
    for d in datas:
        try:
            leaf = admit(d)
        except TlogError as exc:
            out.append(Refused(str(exc)))
            continue
        except Exception as exc:  # hostile input must never stop a batch
            out.append(Refused(f"internal error admitting this entry: {type(exc).__name__}"))
            continue
        out.append(_raw(leaf))
    return out


def admit_rekor(data: bytes, policy: AdmissionPolicy | None = None) -> bytes:
    """The default admission: a Rekor entry document → its canonical body.

    Picklable, also with a policy bound: ``functools.partial(admit_rekor, policy=p)`` is
    how an operator's narrower policy reaches every worker of the pool.
    """
    return admit_json(data, policy or DEFAULT_POLICY).body


def rekor_admission(policy: AdmissionPolicy) -> Admit:
    """:func:`admit_rekor` under ``policy`` (allowed algorithms, CA bundle)."""
    return functools.partial(admit_rekor, policy=policy)


def _init_worker() -> None:
    """A pool worker ignores SIGINT: the parent decides what an interrupt means (a
    Ctrl-C reaches the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def parallel_admission(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool for :func:`admit_all` (signature checks use every core).

    The policy travels with the admission function given to :func:`admit_all`, not with
    the pool, so one pool serves any policy.
    """
    load_types()  # forked workers inherit the loaded entry types: a faster start
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        initializer=_init_worker,
    )
