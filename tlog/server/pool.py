"""The request pool: single Rekor v2 requests gathered into one sequencer batch.

Requests wait in the pool until it holds ``size`` of them or the oldest has waited
``wait`` seconds (the window is jittered by ±``jitter`` so that several servers in front
of one bucket do not commit in lockstep); then one thread runs one
:meth:`tlog.sequencer.Sequencer.sequence` over them, with the same admission as ``tlog
sequence`` (:func:`tlog.admission.admit_rekor` in a process pool), and answers each
request from its outcome once the batch's checkpoint is published. A lost
compare-and-swap (another process committed first) is retried by the sequencer with the
same admitted batch.

Nothing is acknowledged before it is published, and every request is answered exactly
once: ``201`` (logged), ``409`` (already logged, at ``x-log-index``), ``400`` (refused,
with the reason), ``405`` (frozen), ``503`` (pool full, or draining), ``500`` (the
batch failed: nothing of it was acknowledged; resubmitting is safe). :meth:`drain`
(SIGTERM) stops taking requests and sequences at once what the pool holds.
"""

from __future__ import annotations

import json
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from tlog import admission
from tlog.admission import Candidate, Outcome
from tlog.checkpoint import SignedCheckpoint
from tlog.client import Client
from tlog.errors import LogFrozenError, NothingAdmitted
from tlog.fetch.store import StoreFetcher
from tlog.freeze import FROZEN_MESSAGE
from tlog.sequencer import Sequencer
from tlog.sigstore import TransparencyLogEntry, kind_version, log_id

#: gRPC status codes rekor-tiles' HTTP gateway puts in its JSON error bodies.
INVALID_ARGUMENT, ALREADY_EXISTS, UNAVAILABLE, UNKNOWN = 3, 6, 14, 2


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, JSON (or text) body and extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def error(status: int, code: int, message: str) -> Answer:
    """An error as rekor-tiles' gateway writes it: ``{"code", "message", "details"}``."""
    doc = {"code": code, "message": message, "details": []}
    return Answer(status, json.dumps(doc).encode())


FROZEN = Answer(405, (FROZEN_MESSAGE + "\n").encode(), content_type="text/plain")
PUSHBACK = error(503, UNAVAILABLE, "reached max pushback; retry")
DRAINING = error(503, UNAVAILABLE, "server is shutting down; retry")
FAILED = error(500, UNKNOWN, "failed to integrate entry")


@dataclass
class _Request:
    data: bytes
    done: Callable[[Answer], None]
    arrived: float


class RequestPool:
    """Pools requests into sequencer batches on one thread (see the module docstring).

    ``admit`` and ``executor`` are given to :meth:`Sequencer.sequence`; ``workers`` is
    how many processes the executor has (the batch is cut into that many chunks).
    ``max_pending``: requests waiting for a batch beyond which new ones get 503.
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
    ) -> None:
        self.sequencer = sequencer
        self.admit = admit
        self.executor = executor
        self.workers = max(1, workers)
        self.size = size
        self.wait = wait
        self.max_pending = max_pending if max_pending is not None else 4 * size
        self.jitter = jitter
        self.frozen = False
        self._log_id = log_id(sequencer.keys.log.verifier())
        self._pending: list[_Request] = []
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
            if len(self._pending) >= self.max_pending:
                return PUSHBACK
            self._pending.append(_Request(data, done, time.monotonic()))
            self._cond.notify()
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
            answers = self._answers([r.data for r in batch])
            for request, answer in zip(batch, answers, strict=True):
                try:
                    request.done(answer)
                except Exception as exc:  # one caller gone (its loop closed) stops no other
                    print(f"tlog server: could not answer a request: {exc}", file=sys.stderr)

    def _answers(self, datas: Sequence[bytes]) -> list[Answer]:
        """One answer per request of a batch; never raises."""
        if self.frozen:
            return [FROZEN] * len(datas)
        candidates = [Candidate(f"request {i}", d) for i, d in enumerate(datas)]
        chunk = max(1, math.ceil(len(datas) / self.workers))
        try:
            result = self.sequencer.sequence(
                candidates, self.admit, executor=self.executor, chunk=chunk
            )
            outcomes = list(result.outcomes)
            client = Client(StoreFetcher(self.sequencer.store), self.sequencer.keys.verifiers())
            return [self._answer(o, client) for o in outcomes]
        except NothingAdmitted as exc:
            return [self._answer(o, None) for o in exc.outcomes if isinstance(o, Outcome)]
        except LogFrozenError:
            self.frozen = True
            return [FROZEN] * len(datas)
        except Exception as exc:  # the pool must answer, whatever happens
            print(f"tlog server: batch of {len(datas)} failed: {exc}", file=sys.stderr)
            return [FAILED] * len(datas)

    def _answer(self, outcome: Outcome, client: Client | None) -> Answer:
        if outcome.error is not None:
            return error(400, INVALID_ARGUMENT, f"invalid entry: {outcome.error}")
        index = outcome.log_index
        if outcome.duplicate or index is None or client is None:
            message = "an equivalent entry already exists in the transparency log"
            if index is None:
                return error(409, ALREADY_EXISTS, message)
            answer = error(409, ALREADY_EXISTS, f"{message} with index {index}")
            return Answer(409, answer.body, (("x-log-index", str(index)),))
        try:
            return Answer(201, entry_json(client, index, client.latest(), self._log_id))
        except Exception as exc:  # logged, but no proof to send: resubmitting gets 409
            print(f"tlog server: proof of entry {index} failed: {exc}", file=sys.stderr)
            return FAILED


def entry_json(client: Client, index: int, at: SignedCheckpoint, key_id: bytes) -> bytes:
    """The TransparencyLogEntry of ``index`` as rekor-tiles returns it: protobuf JSON
    with unpopulated fields emitted, ``integratedTime`` 0 (Rekor v2 gives no integrated
    time: clients take an RFC 3161 timestamp; our checkpoints carry a signed time), no
    inclusion promise, the inclusion proof against the published checkpoint ``at``."""
    body = client.entry(index)
    kind, version = kind_version(body)
    cp = at.checkpoint
    hashes = tuple(client.inclusion(index, at))
    tle = TransparencyLogEntry(
        index, key_id, kind, version, 0, cp.root, cp.size, hashes, at.format().decode(), body
    )
    doc = tle.to_dict()
    out = {k: doc[k] for k in ("logIndex", "logId", "kindVersion", "integratedTime")}
    out["inclusionPromise"] = None
    out["inclusionProof"] = doc["inclusionProof"]
    out["canonicalizedBody"] = doc["canonicalizedBody"]
    return json.dumps(out, separators=(",", ":")).encode()
