"""The index worker: a big batch's own index segment, computed on another core.

docs/index.md "Throughput". A batch's index rows, their sort and its fresh segment
(:func:`tlog.index.writer.fresh_segment`) depend on nothing but the batch's placement,
so the sequencer hands them to one worker process as soon as the placement is known
and builds the tree, bundles and tiles meanwhile; it collects the segment before it
merges, signs the index head and stages the batch (step 4), so nothing about the
protocol's order changes: the worker only computes, and writes nothing anywhere.

The worker is a child process (:mod:`tlog.child`: a fresh interpreter importing the
sequencer's tlog, no fork of a process with threads) talking pickles over its stdin and stdout,
started on the first big chunk and kept for the run. It cannot outlive its sequencer:
it exits when its input ends (the sequencer closed it, or died), the kernel kills it
when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``), and the sequencer
kills it on any failure while it holds a job. Its failures reach the sequencer as
TlogError.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import pickle
import subprocess
import threading
from collections.abc import Sequence
from typing import cast

from tlog import child
from tlog.admission import Placement
from tlog.checkpoint import Checkpoint
from tlog.errors import TlogError
from tlog.index.head import IndexHead
from tlog.index.rows import KeyHashes
from tlog.index.segment import SegmentInfo
from tlog.index.writer import batch_objects, batch_objects_from, fresh_segment
from tlog.note import Signer
from tlog.storage import Store

__all__ = ["WORKER_FROM", "Indexer"]

#: New leaves from which a chunk's segment is computed in the worker (below, in the
#: sequencer's own process: a worker start costs more than a small batch's index).
WORKER_FROM = 1 << 15

#: What the worker answers: ("ok", segment) or ("error", reason).
Answer = tuple[str, tuple[SegmentInfo, bytes] | str]


class Indexer:
    """One worker process computing fresh segments, one job at a time."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._busy = False
        self._sending: threading.Thread | None = None
        self._failed: list[str] = []  # why the last job could not be sent
        self._guess: tuple[int, list[bytes]] | None = None  # (start, hashes) of a guessed job
        self._trust = True  # whether the last chunk placed all it could (guess() pays)
        self._kept = False  # the job under way is a guess that placed() kept

    @staticmethod
    def takes(leaves: int) -> bool:
        """Whether a chunk of ``leaves`` new leaves is worth the worker."""
        return leaves >= WORKER_FROM

    @property
    def guessing(self) -> bool:
        """Whether a guess is worth making: the chunks before placed every entry (a
        batch of duplicates would waste the jobs), and no job is under way."""
        return self._trust and not self._busy

    def guess(self, placement: Placement) -> None:
        """Start on a chunk's segment before the chunk is placed, as ``placement``
        guesses it (none of its entries in the log yet: the index lookup, meanwhile,
        decides), so the worker's job overlaps the lookup; :meth:`placed` then keeps
        it or drops it."""
        if self.takes(len(placement.leaves)):
            self.submit(placement.leaves, placement.start, placement.hashes, placement.keys)
            self._guess = (placement.start, placement.hashes)

    def placed(self, placement: Placement) -> None:
        """The chunk is placed: a guessed job stays if it has exactly these leaves, in
        this order, at this start (a placement that drops guessed leaves can also
        reorder them: :func:`tlog.guess.built`), else it is dropped (the worker
        stopped; :meth:`begin` starts another)."""
        guess, self._guess = self._guess, None
        self._trust = not placement.known()
        if guess is not None:
            self._kept = guess == (placement.start, placement.hashes)
            if not self._kept:
                self.close()

    def begin(self, placement: Placement) -> None:
        """Have the worker compute the segment of ``placement``'s new leaves, if they
        are enough to be worth it (:data:`WORKER_FROM`) and a right guess is not
        already at it."""
        if self._kept:
            self._kept = False
            return
        if self.takes(len(placement.leaves)):
            self.submit(placement.leaves, placement.start, placement.hashes, placement.keys)

    def objects(
        self,
        store: Store,
        head: IndexHead,
        placement: Placement,
        cp: Checkpoint,
        signers: Sequence[Signer],
    ) -> list[tuple[str, bytes]]:
        """The index objects of the batch ``placement`` makes ``cp`` of
        (:func:`tlog.index.writer.batch_objects`), with the worker's segment if
        :meth:`begin` gave it the job."""
        if not self._busy:
            return batch_objects(store, head, placement, cp, signers)
        return batch_objects_from(store, head, self.result(), cp, signers)

    def submit(
        self,
        entries: Sequence[bytes],
        start: int,
        hashes: Sequence[bytes],
        keys: KeyHashes | None = None,
    ) -> None:
        """Start computing the segment of ``entries`` logged from ``start`` (``keys``:
        their key hashes, if known: then the entries are not sent)."""
        if self._busy:
            self.close()  # a job nobody collected: its answer must not be taken for this one
        proc = self._proc or self._start()
        job = pickle.dumps(_pack(entries, start, hashes, keys), pickle.HIGHEST_PROTOCOL)
        # Written by a thread: the pipe takes it only as fast as the worker reads.
        self._sending = threading.Thread(
            target=_send, args=(proc, job, self._failed), name="tlog-indexer-send", daemon=True
        )
        self._sending.start()
        self._busy = True

    def result(self) -> tuple[SegmentInfo, bytes]:
        """The segment of the job submitted last (waits for it)."""
        assert self._proc is not None and self._proc.stdout is not None and self._busy
        if self._sending is not None:
            self._sending.join()
            self._sending = None
        if self._failed:
            reason = self._failed.pop()
            self.close()
            raise TlogError(f"the index worker process is gone: {reason}")
        try:
            kind, value = cast(Answer, pickle.load(self._proc.stdout))
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = self._proc.poll()
            self.close()
            raise TlogError(
                f"the index worker process died (exit status {code}): {exc or 'pipe closed'}"
            ) from None
        self._busy = False
        if kind != "ok" or isinstance(value, str):
            self.close()
            raise TlogError(f"the index worker failed: {value}")
        info, data = value
        return info, data

    def close(self) -> None:
        """Stop the worker and wait for it; idempotent. (It holds nothing worth a
        graceful exit: a job's answer is dropped with it.)"""
        proc, self._proc, self._busy = self._proc, None, False
        self._guess, self._kept = None, False
        if proc is None:
            return
        proc.kill()
        if self._sending is not None:
            self._sending.join()  # the write fails, if it was still going
            self._sending = None
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        proc.wait()
        self._failed.clear()

    def warm(self, leaves: int) -> None:
        """Start the worker now (it takes a moment) if a chunk of ``leaves`` inputs may
        need it."""
        if self._proc is None and self.takes(leaves):
            self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        """The worker (:func:`tlog.child.start`)."""
        try:
            proc = child.start("tlog.indexer")
        except OSError as exc:
            raise TlogError(f"the index worker process did not start: {exc}") from None
        self._proc = proc
        return proc

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: A job as sent: the entries joined, their lengths (uint32, native order), the first
#: index, the leaf hashes joined (a few big strings pickle far faster than many small),
#: and the entries' key hashes if known (then the entries are left out).
Job = tuple[bytes, bytes, int, bytes, KeyHashes | None]


def _pack(
    entries: Sequence[bytes], start: int, hashes: Sequence[bytes], keys: KeyHashes | None
) -> Job:
    if keys is not None:
        return b"", b"", start, b"", keys
    lengths = array.array("I", map(len, entries)).tobytes()
    return b"".join(entries), lengths, start, b"".join(hashes), None


def _unpack(job: Job) -> tuple[list[bytes], int, list[bytes], KeyHashes | None]:
    joined, lengths, start, hashes, keys = job
    ends = list(itertools.accumulate(array.array("I", lengths)))
    entries = [joined[a:b] for a, b in zip([0, *ends][: len(ends)], ends, strict=True)]
    return entries, start, [hashes[i : i + 32] for i in range(0, len(hashes), 32)], keys


def _send(proc: subprocess.Popen[bytes], job: bytes, failed: list[str]) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(job)
        proc.stdin.flush()
    except (OSError, ValueError) as exc:
        failed.append(str(exc) or type(exc).__name__)


def serve(parent: int) -> None:
    """The worker's loop: a job in on stdin, its segment (or why not) out on stdout,
    until stdin ends."""
    jobs, answers = child.serving(parent)
    while True:
        try:
            entries, start, hashes, keys = _unpack(pickle.load(jobs))
        except (EOFError, OSError):
            return
        answer: Answer
        try:
            answer = ("ok", fresh_segment(entries, start, hashes, keys))
        except Exception as exc:  # reported to the sequencer, which raises it there
            answer = ("error", f"{type(exc).__name__}: {exc}")
        del entries, hashes, keys
        try:
            pickle.dump(answer, answers, pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except OSError:
            return
