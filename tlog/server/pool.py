"""The request pool: single Rekor v2 requests gathered into one sequencer batch.

Requests wait in the pool until it holds ``size`` of them or the oldest has waited
``wait`` seconds (the window is jittered by ±``jitter`` so that several servers in front
of one bucket do not commit in lockstep); then one thread runs one
:meth:`tlog.sequencer.Sequencer.sequence` over them and answers each request from its
outcome once the batch's checkpoint is published. A lost compare-and-swap (another
process committed first) is retried by the sequencer with the same admitted batch.

Admission is ``tlog sequence``'s (:func:`tlog.admission.admit_all` with the server's
``admit``), but it does not wait for the batch: as requests arrive they are sent in
chunks of ``admit_chunk`` to the worker processes, so their signatures are checked
while the previous batch commits; the batch then sequences the admitted leaves as they
are. A request that is not admitted is answered ``400`` as soon as its batch starts.

Nothing is acknowledged before it is published, and every request is answered exactly
once: ``201`` (logged), ``409`` (already logged, at ``x-log-index``), ``400`` (refused,
with the reason), ``405`` (frozen), ``503`` (pool full, or draining), ``500`` (the
batch failed: nothing of it was acknowledged; resubmitting is safe). :meth:`drain`
(SIGTERM) stops taking requests and sequences at once what the pool holds.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from tlog import admission
from tlog.admission import Candidate, Outcome, Refused
from tlog.errors import LogFrozenError, NothingAdmitted
from tlog.fetch.store import StoreFetcher
from tlog.sequencer import Sequencer
from tlog.server.answer import (
    DRAINING,
    FAILED,
    FROZEN,
    PUSHBACK,
    Answer,
    BatchProofs,
    exists,
    refused,
)
from tlog.sigstore import log_id

__all__ = ["DRAINING", "FAILED", "FROZEN", "PUSHBACK", "Answer", "RequestPool"]

#: Requests per admission task sent to the worker processes as they arrive.
ADMIT_CHUNK = 16

Leaf = bytes | Refused


@dataclass
class _Request:
    data: bytes
    done: Callable[[Answer], None]
    arrived: float
    #: The admission task holding this request, and its place in the task's chunk.
    admitted: Future[list[Leaf]] | None = None
    slot: int = 0


class RequestPool:
    """Pools requests into sequencer batches on one thread (see the module docstring).

    ``admit`` is the admission function (picklable, run in ``executor``'s processes,
    or in the pool's thread without one); ``workers`` is how many processes the
    executor has. ``max_pending``: requests waiting for a batch beyond which new ones
    get 503.
    """

    def __init__(
        self,
        sequencer: Sequencer,
        admit: admission.Admit,
        executor: Executor | None = None,
        *,
        workers: int = 1,
        size: int = 256,
        wait: float = 0.25,
        max_pending: int | None = None,
        jitter: float = 0.2,
        admit_chunk: int = ADMIT_CHUNK,
    ) -> None:
        self.sequencer = sequencer
        self.admit = admit
        self.executor = executor
        self.workers = max(1, workers)
        self.size = size
        self.wait = wait
        self.max_pending = max_pending if max_pending is not None else 4 * size
        self.jitter = jitter
        self.admit_chunk = max(1, admit_chunk)
        self.frozen = False
        self._log_id = log_id(sequencer.keys.log.verifier())
        self._pending: list[_Request] = []
        self._unadmitted: list[_Request] = []
        self._cond = threading.Condition()
        self._draining = False
        self._thread = threading.Thread(target=self._loop, name="tlog-pool", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, data: bytes, done: Callable[[Answer], None]) -> Answer | None:
        """Queue one request; ``done`` is called once with its answer (from the pool's
        thread). Returns an answer at once instead (and never calls ``done``) when the
        log is frozen, the pool is full or the server is draining."""
        if self.frozen:
            return FROZEN
        with self._cond:
            if self._draining:
                return DRAINING
            pending = self._pending
            if len(pending) >= self.max_pending:
                return PUSHBACK
            request = _Request(data, done, time.monotonic())
            pending.append(request)
            if self.executor is not None:
                self._unadmitted.append(request)
                if len(self._unadmitted) >= self.admit_chunk:
                    self._dispatch(self._unadmitted)
                    self._unadmitted = []
            if len(pending) == 1 or len(pending) == self.size:
                self._cond.notify()  # a window opens, or the pool is full
        return None

    def drain(self) -> None:
        """Take no more requests; sequence the pooled ones now (then the thread ends)."""
        with self._cond:
            self._draining = True
            self._cond.notify()

    def close(self, timeout: float | None = None) -> None:
        self.drain()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- admission ----------------------------------------------------------------

    def _dispatch(self, requests: Sequence[_Request]) -> None:
        """Start admitting ``requests`` in the worker processes (left to be admitted
        in the pool's thread if the executor cannot take them)."""
        assert self.executor is not None
        candidates = [Candidate("", r.data) for r in requests]
        try:
            future = self.executor.submit(admission.admit_all, candidates, self.admit)
        except Exception:  # a broken pool: _leaves admits them itself
            return
        for slot, r in enumerate(requests):
            r.admitted, r.slot = future, slot

    def _leaves(self, batch: Sequence[_Request]) -> list[Leaf]:
        """Each request's leaf bytes, or why it was refused."""
        with self._cond:
            rest, self._unadmitted = self._unadmitted, []
        if rest:  # the last few requests: spread over the workers
            step = -(-len(rest) // self.workers)
            for i in range(0, len(rest), step):
                self._dispatch(rest[i : i + step])
        out: list[Leaf] = []
        for r in batch:
            leaf: Leaf | None = None
            if r.admitted is not None:
                try:
                    leaf = r.admitted.result()[r.slot]
                except Exception:  # a worker died: admit here instead
                    leaf = None
            if leaf is None:
                leaf = admission.admit_all([Candidate("", r.data)], self.admit)[0]
            out.append(leaf)
        return out

    # -- the pool's thread -----------------------------------------------------------

    def _next_batch(self) -> list[_Request] | None:
        with self._cond:
            while not self._pending and not self._draining:
                self._cond.wait()
            if not self._pending:
                return None
            spread = 1 + self.jitter * (2 * random.random() - 1)
            deadline = self._pending[0].arrived + self.wait * spread
            while len(self._pending) < self.size and not self._draining:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = self._pending[: self.size]
            del self._pending[: self.size]
            return batch

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            if self.frozen:
                self._reply(batch, [FROZEN] * len(batch))
                continue
            leaves = self._leaves(batch)
            new = [(r, leaf) for r, leaf in zip(batch, leaves, strict=True) if type(leaf) is bytes]
            self._reply(
                [r for r, leaf in zip(batch, leaves, strict=True) if type(leaf) is not bytes],
                [refused(leaf.reason) for leaf in leaves if isinstance(leaf, Refused)],
            )
            if new:
                answers = self._sequence([leaf for _, leaf in new])
                self._reply([r for r, _ in new], answers)

    def _reply(self, requests: Sequence[_Request], answers: Sequence[Answer]) -> None:
        for request, answer in zip(requests, answers, strict=True):
            try:
                request.done(answer)
            except Exception as exc:  # one caller gone (its loop closed) stops no other
                print(f"tlog server: could not answer a request: {exc}", file=sys.stderr)

    def _sequence(self, leaves: Sequence[bytes]) -> list[Answer]:
        """One answer per admitted leaf, once they are published; never raises."""
        # Raw mode: the leaves were admitted (and bounded) already.
        candidates = [Candidate(f"request {i}", leaf) for i, leaf in enumerate(leaves)]
        try:
            result = self.sequencer.sequence(candidates, None)
            proofs = BatchProofs(
                result.checkpoint, StoreFetcher(self.sequencer.store), self._log_id
            )
            outcomes = list(result.outcomes)
            proofs.prepare(
                [o.log_index for o in outcomes if o.log_index is not None and not o.duplicate]
            )
            return [self._answer(o, leaf, proofs) for o, leaf in zip(outcomes, leaves, strict=True)]
        except NothingAdmitted as exc:
            return [self._answer(o, b"", None) for o in exc.outcomes if isinstance(o, Outcome)]
        except LogFrozenError:
            self.frozen = True
            return [FROZEN] * len(leaves)
        except Exception as exc:  # the pool must answer, whatever happens
            print(f"tlog server: batch of {len(leaves)} failed: {exc}", file=sys.stderr)
            return [FAILED] * len(leaves)

    def _answer(self, outcome: Outcome, leaf: bytes, proofs: BatchProofs | None) -> Answer:
        if outcome.error is not None:
            return refused(outcome.error)
        index = outcome.log_index
        if outcome.duplicate or index is None or proofs is None:
            return exists(index)
        try:
            return proofs.answer(index, leaf)
        except Exception as exc:  # logged, but no proof to send: resubmitting gets 409
            print(f"tlog server: proof of entry {index} failed: {exc}", file=sys.stderr)
            return FAILED
