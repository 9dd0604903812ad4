"""Admission: each input of a batch turned into its leaf, or refused (step 2 of the protocol).

Each input is admitted (a Rekor document canonicalised and checked, or in raw mode taken
as it is), then placed (:mod:`tlog.placement`, whose names this module also gives).
Admission also computes, where each document is already parsed (a pool worker), the
admitted leaf's hash and index key hashes (:class:`Leaves`), so the sequencer's process
does not read every body back for them (docs/design.md "Throughput").

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
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import cast

from tlog.entries import admit_json, load_types  # once: an import per entry costs 1 us
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError
from tlog.index.keys import joined_key_hashes
from tlog.index.rows import KeyHashes, concat
from tlog.placement import (
    DATA,
    Accepted,
    AlreadyLogged,
    Candidate,
    LeafHashes,
    Outcome,
    Placement,
    Refused,
    Slot,
    TakenByAnotherRun,
    leaf_hashes,
    place,
)
from tlog.tile import MAX_ENTRY_SIZE

__all__ = [
    "ADMIT_CHUNK",
    "AHEAD",
    "AHEAD_BYTES",
    "TOO_BIG",
    "Accepted",
    "Admit",
    "Admitted",
    "AlreadyLogged",
    "Candidate",
    "LeafHashes",
    "Leaves",
    "Outcome",
    "Placement",
    "Refused",
    "Slot",
    "TakenByAnotherRun",
    "admit_all",
    "admit_rekor",
    "admit_stream",
    "chunks",
    "hashed",
    "leaf_hashes",
    "parallel_admission",
    "place",
    "rekor_admission",
]

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


class Leaves(list[bytes | Refused]):
    """Admitted inputs: each one's leaf or refusal (the list) and, for the admitted
    leaves in order, their leaf hashes (``hashes``, joined) and index key hashes
    (``keys``), or None where admission did not compute them (raw mode: the feed hashes
    the leaves). From a pool worker, three big objects cross, not three per input."""

    hashes: bytes | None = None
    keys: KeyHashes | None = None

    @classmethod
    def of(
        cls, leaves: Iterable[bytes | Refused], hashes: bytes | None, keys: KeyHashes | None
    ) -> Leaves:
        out = cls(leaves)
        out.hashes, out.keys = hashes, keys
        return out

    def part(self, a: int, b: int) -> Leaves:
        """Inputs ``a`` to ``b`` (excluded)."""
        if self.hashes is None:
            return Leaves(self[a:b])
        ka, kb = (i - sum(isinstance(x, Refused) for x in self[:i]) for i in (a, b))
        keys = None if self.keys is None else self.keys.select(range(ka, kb))
        return Leaves.of(self[a:b], self.hashes[32 * ka : 32 * kb], keys)

    @staticmethod
    def join(parts: Sequence[list[bytes | Refused]]) -> Leaves:
        """The inputs of ``parts``, one after the other."""
        leaves = itertools.chain.from_iterable(parts)
        hashes = [p.hashes if isinstance(p, Leaves) else None for p in parts]
        keys = [p.keys for p in parts if isinstance(p, Leaves) and p.keys is not None]
        if None in hashes:
            return Leaves(leaves)
        joined = b"".join(cast(list[bytes], hashes))
        return Leaves.of(leaves, joined, concat(keys) if len(keys) == len(parts) else None)


def hashed(leaves: list[bytes | Refused]) -> LeafHashes:
    """The leaf hash of each input (None: refused), with their key hashes if
    admission computed them (:class:`Leaves`), else computed here."""
    if isinstance(leaves, Leaves) and leaves.hashes is not None:
        return LeafHashes.of(leaves, leaves.hashes, leaves.keys)
    return LeafHashes(leaf_hashes(leaves))


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
        return _raw_all(list(map(DATA, candidates)))
    datas = [c.data for c in candidates]
    total = len(datas)
    if executor is None or total <= chunk:
        out: list[bytes | Refused] = []
        for i in range(0, total, chunk):
            out.extend(_admit_piece(admit, datas[i : i + chunk]))
            if progress:
                progress(len(out), total)
        return out
    futures = [
        executor.submit(_admit_piece, admit, datas[i : i + chunk]) for i in range(0, total, chunk)
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


#: One admitted piece of a stream: its candidates and, in the same order, their leaves
#: (with their hashes and key hashes, :class:`Leaves`).
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
            datas = list(map(DATA, piece))
            admitted = _raw_all(datas) if admit is None else _admit_piece(admit, datas)
            done += len(piece)
            if progress:
                progress(done, 0)
            yield piece, admitted
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
    flight: collections.deque[tuple[list[Candidate], Future[Leaves]]]
    flight = collections.deque()
    held = 0  # input bytes in flight
    try:
        while True:
            while len(flight) < ahead and (not flight or held < ahead_bytes):
                piece = next(pieces, [])
                if not piece:
                    break
                data = list(map(DATA, piece))
                held += sum(map(len, data))
                flight.append((piece, executor.submit(_admit_piece, admit, data)))
            if not flight:
                return
            piece, future = flight.popleft()
            admitted = future.result()
            held -= sum(map(len, map(DATA, piece)))
            done += len(piece)
            if progress:
                progress(done, 0)
            yield piece, admitted
    finally:
        for _, future in flight:
            future.cancel()


def chunks(pieces: Iterable[Admitted], entries: int, size: int) -> Iterator[Admitted]:
    """Admitted pieces cut into chunks of one commit each: at most ``entries`` inputs,
    and at most ``size`` bytes of input once past one input."""
    cands: list[Candidate] = []
    parts: list[list[bytes | Refused]] = []
    total = 0
    for piece, admitted in pieces:
        more = sum(map(len, map(DATA, piece)))
        if len(cands) + len(piece) <= entries and total + more <= size:
            cands += piece  # the whole piece fits (no per-input bookkeeping)
            parts.append(admitted)
            total += more
            continue
        cut = 0  # the inputs of this piece before it went to earlier chunks
        for i, cand in enumerate(piece):
            total += len(cand.data)
            held = len(cands) + i - cut
            if held and (held == entries or total > size):
                yield cands + piece[cut:i], Leaves.join([*parts, _part(admitted, cut, i)])
                cands, parts, total, cut = [], [], len(cand.data), i
        cands += piece[cut:]
        parts.append(_part(admitted, cut, len(piece)))
    if cands:
        yield cands, Leaves.join(parts)


def _part(leaves: list[bytes | Refused], a: int, b: int) -> list[bytes | Refused]:
    return leaves.part(a, b) if isinstance(leaves, Leaves) else leaves[a:b]


def _pieces(candidates: Iterable[Candidate], chunk: int) -> Iterator[list[Candidate]]:
    it = iter(candidates)
    while piece := list(itertools.islice(it, chunk)):
        yield piece


def _raw_all(datas: list[bytes]) -> list[bytes | Refused]:
    """:func:`_raw` of each input (one C-level length check for a batch of small ones)."""
    if max(map(len, datas), default=0) <= MAX_ENTRY_SIZE:
        return cast(list[bytes | Refused], datas)
    return [_raw(d) for d in datas]


def _raw(data: bytes) -> bytes | Refused:
    if len(data) > MAX_ENTRY_SIZE:
        return Refused(TOO_BIG)
    return data


def _admit_piece(admit: Admit, datas: Sequence[bytes]) -> Leaves:
    """Each input admitted, with the admitted leaves' hashes and index key hashes (what
    a pool worker sends back: the parse of the Rekor default admission gives the key
    hashes without reading the body back, :attr:`tlog.entries.Entry.bare_key`)."""
    leaves: list[bytes | Refused] = []
    hashes: list[bytes] = []
    keys: list[bytes] = []
    sha256, policy = hashlib.sha256, _rekor_policy(admit)
    for d in datas:
        bare = None
        try:
            if policy is None:
                leaf = admit(d)
            else:
                entry = admit_json(d, policy)
                leaf, bare = entry.body, entry.bare_key
        except TlogError as exc:
            leaves.append(Refused(str(exc)))
            continue
        except Exception as exc:  # hostile input must never stop a batch
            leaves.append(Refused(f"internal error admitting this entry: {type(exc).__name__}"))
            continue
        if len(leaf) > MAX_ENTRY_SIZE:
            leaves.append(Refused(TOO_BIG))
            continue
        h = sha256(b"\x00" + leaf).digest()
        leaves.append(leaf)
        hashes.append(h)
        keys.append(joined_key_hashes(leaf, h, bare))
    return Leaves.of(leaves, b"".join(hashes), KeyHashes.joined_from(keys))


def _rekor_policy(admit: Admit) -> AdmissionPolicy | None:
    """The policy of ``admit`` if it is :func:`admit_rekor` (perhaps with a policy
    bound, :func:`rekor_admission`), whose entries :func:`_admit_piece` reads whole."""
    if admit is admit_rekor:
        return DEFAULT_POLICY
    if isinstance(admit, functools.partial):
        bound = admit.keywords
        if admit.func is admit_rekor and not admit.args and bound.keys() <= {"policy"}:
            return cast(AdmissionPolicy | None, bound.get("policy")) or DEFAULT_POLICY
    return None


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
