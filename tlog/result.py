"""A sequencer's run, finished: what :meth:`tlog.sequencer.Sequencer.stream` yields
per committed chunk and :meth:`~tlog.sequencer.Sequencer.sequence` returns."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from tlog.admission import Outcome, Placement
from tlog.checkpoint import SignedCheckpoint

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """A finished run (or chunk of one): the published checkpoint and, lazily, one
    outcome per input."""

    checkpoint: SignedCheckpoint
    note: bytes
    #: Size of a batch another sequencer committed that this run published, if any.
    recovered: int | None = None
    #: Objects written by this run (tiles, bundles, covers, history, checkpoint).
    writes: int = 0
    placements: tuple[Placement, ...] = ()
    #: Why clean-up (step 8) failed after publishing; the next run finishes it.
    cleanup_error: str | None = None

    @property
    def outcomes(self) -> Iterator[Outcome]:
        """One outcome per input, in input order (computed on demand: batches are big)."""
        return itertools.chain.from_iterable(p.outcomes() for p in self.placements)

    @property
    def wrote(self) -> bool:
        """Whether the inputs added to the log or found entries already in it."""
        return any(p.leaves or p.known() for p in self.placements)
