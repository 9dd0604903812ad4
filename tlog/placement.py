"""Inputs, and where each went: the placement of a batch (step 2 of the protocol).

Each input of a batch is a :class:`Candidate`; once admitted (:mod:`tlog.admission`), it
is *placed*: given a position among the batch's distinct new leaves, or recorded as
refused, as already in the log, or as a queue item another run sequenced. The placement
is one explicit record per input; :meth:`Placement.outcomes` turns the records into the
one :class:`Outcome` per input the CLI prints. A placement also carries its new leaves'
index key hashes when admission computed them (:class:`LeafHashes`,
:mod:`tlog.index.rows`), so the index rows are not read back from the bodies.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

from tlog.index.rows import KeyHashes

__all__ = [
    "DATA",
    "Accepted",
    "AlreadyLogged",
    "Candidate",
    "LeafHashes",
    "Outcome",
    "Placement",
    "Refused",
    "Slot",
    "TakenByAnotherRun",
    "leaf_hashes",
    "place",
]


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
    without a million records. ``keys``: the index key hashes of ``leaves``, in the
    same order, when admission computed them (None: the index reads them from the
    leaves, :func:`tlog.index.writer.rows_of`).
    """

    sources: tuple[str, ...]
    leaves: list[bytes]
    hashes: list[bytes]
    slots: list[Slot] | None
    start: int
    keys: KeyHashes | None = None

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
            if len(self.sources) != len(self.hashes):
                raise ValueError("a placement without records has a leaf per input")
            # Outcome(source, start + i, h.hex()) for each, made in C: a batch has millions.
            indices, uuids = range(start, start + len(self.hashes)), map(bytes.hex, self.hashes)
            yield from map(_OUTCOME, zip(self.sources, indices, uuids, _NONE, _FALSE, strict=False))
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


class LeafHashes(list[bytes | None]):
    """A chunk's leaf hashes, one per input (None: refused), with the index key hashes
    of its admitted leaves, in the same order, when admission computed them (``keys``:
    :meth:`of`); :func:`place` carries them into the placement."""

    keys: KeyHashes | None = None

    @classmethod
    def of(
        cls, leaves: Sequence[bytes | Refused], joined: bytes, keys: KeyHashes | None
    ) -> LeafHashes:
        """From the admitted leaves' hashes, joined in order, and their key hashes
        (:class:`tlog.admission.Leaves`); ValueError if not one per admitted leaf."""
        out = cls([joined[i : i + 32] for i in range(0, len(joined), 32)])
        if len(out) != len(leaves):  # some refused (else every input has its hash)
            if len(out) != sum(not isinstance(x, Refused) for x in leaves):
                raise ValueError(f"admission gave {len(out)} leaf hashes for other leaves")
            it = iter(list(out))
            out[:] = [None if isinstance(x, Refused) else next(it) for x in leaves]
        if keys is not None and len(keys.counts) != len(joined) // 32:
            raise ValueError("admission gave key hashes for other leaves")
        out.keys = keys
        return out


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
    reported at its existing index, never appended again. ``hashes`` may carry the
    admitted leaves' key hashes (:class:`LeafHashes`): the placement keeps those of
    its new leaves.
    """
    keys = _keys(hashes)
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
        return Placement(sources, new, cast(list[bytes], list(hashes)), None, start, keys)
    accepted: list[bytes] = []
    picks: list[int] = []  # the admitted leaves accepted, by their rank among them
    new_hashes: list[bytes] = []
    slots: list[Slot] = []
    first_seen: dict[bytes, int] = {}
    rank = -1
    for cand, leaf, maybe in zip(candidates, leaves, hashes, strict=True):
        if isinstance(leaf, Refused):
            slots.append(leaf)
            continue
        h, rank = cast(bytes, maybe), rank + 1
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
            picks.append(rank)
    kept = None if keys is None else keys.select(picks)
    return Placement(sources, accepted, new_hashes, slots, start, kept)


def _keys(hashes: Sequence[bytes | None]) -> KeyHashes | None:
    """The key hashes ``hashes`` carry (:class:`LeafHashes`); ValueError if they are not
    one per admitted leaf."""
    keys = hashes.keys if isinstance(hashes, LeafHashes) else None
    if keys is not None and len(keys.counts) != len(hashes) - hashes.count(None):
        raise ValueError("the key hashes are not one per admitted leaf")
    return keys


#: :class:`Outcome` of a tuple of its fields (``tuple.__new__``: no Python call), and the
#: fields an accepted input's outcome ends with.
_OUTCOME = functools.partial(tuple.__new__, Outcome)
_NONE, _FALSE = itertools.repeat(None), itertools.repeat(False)

#: A candidate's source, bytes and pending key (``operator.itemgetter``: no Python call per
#: input); DATA is for admission's byte counts too.
_SOURCE, DATA, _PENDING = (operator.itemgetter(i) for i in range(3))
