"""The index worker: a big batch's own segment computed in another process.

What the log holds must not depend on where the segment was computed, and the worker
must never outlive its sequencer or hide a failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from children import children
from logcheck import check_log
from test_sequencer import KEYS, A, B, C, _faulted_run, batch, new_log

from tlog import indexer
from tlog.admission import Candidate
from tlog.errors import TlogError
from tlog.index import writer
from tlog.index.head import IndexHead
from tlog.index.lsm import FANOUT
from tlog.indexer import Indexer
from tlog.note import Note
from tlog.sequencer import Sequencer, Watcher
from tlog.storage.memory import MemoryStore


def workers() -> list[int]:
    """Pids of this process's index workers."""
    return children("tlog.indexer")


@pytest.fixture
def always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chunk's segment is computed by the worker."""
    monkeypatch.setattr(indexer, "WORKER_FROM", 1)


def _run(batches: list[list[Candidate]], chunk: int | None = None) -> dict[str, bytes]:
    store = MemoryStore()
    seq = new_log(store)
    seq.chunk_entries = chunk or seq.chunk_entries
    for b in batches:
        seq.sequence(b)
    check_log(store, KEYS)
    return dict(store.objects)


def test_the_log_is_the_same_whichever_process_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte, over enough batches for the new segments to be merged (FANOUT
    segments of a level), and with raw and Rekor-looking entries alike."""
    batches = [batch(f"b{i}", 40 + i) for i in range(FANOUT + 1)]
    batches.append([Candidate("j", b'{"not": "rekor"}'), Candidate("r", b"raw")])
    here = _run(batches)
    monkeypatch.setattr(indexer, "WORKER_FROM", 1)
    assert _run(batches) == here
    assert not workers()


def test_a_guessed_segment_is_kept_only_when_the_placement_is_the_guess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker starts on a chunk before its index lookup, as if every entry were new;
    a lookup that finds some already logged drops the guess, and guessing pauses for a
    chunk of the run: the log is the same, byte for byte, as with the index computed
    here."""
    run = batch("a", 50) + batch("a", 50) + batch("c", 50) + batch("d", 50)
    run += batch("e", 25) + batch("e", 25)  # duplicates inside a chunk: still a good guess
    batches = [batch("z", 10), run]
    here = _run(batches, 50)
    monkeypatch.setattr(indexer, "WORKER_FROM", 1)
    kept: list[bool | None] = []
    placed = Indexer.placed

    def spy(self: Indexer, placement: object) -> None:
        guessed = self._guess is not None
        placed(self, placement)  # type: ignore[arg-type]
        kept.append(self._kept if guessed else None)

    monkeypatch.setattr(Indexer, "placed", spy)
    assert _run(batches, 50) == here
    assert kept == [True, True, False, None, True, True]
    assert not workers()


def test_batch_objects_from_a_fresh_segment_equal_batch_objects() -> None:
    """The sequencer's two paths to a batch's index objects agree, merges included."""
    store = MemoryStore()
    seq = new_log(store)
    for i in range(FANOUT - 1):
        seq.sequence(batch(f"s{i}", 30))
    from tlog.index.writer import load

    cp = seq.recover().checkpoint.checkpoint
    head = load(store, KEYS.verifiers(), cp)
    assert len(head.segments) == FANOUT - 1
    entries = [b"entry %d" % i for i in range(30)]
    placement = seq_placement(entries, cp.size)
    signers = KEYS.signers(lambda: 1)
    plain = writer.batch_objects(store, head, placement, cp, signers)
    fresh = writer.fresh_segment(placement.leaves, placement.start, placement.hashes)
    assert writer.batch_objects_from(store, head, fresh, cp, signers) == plain
    segments = IndexHead.parse(Note.parse(plain[-1][1]).text).segments
    assert [s.rows for s in segments] == [2 * 30 * FANOUT]  # the FANOUT were merged


def seq_placement(entries: list[bytes], start: int):  # type: ignore[no-untyped-def]
    from tlog.admission import leaf_hashes, place

    cands = [Candidate(str(i), e) for i, e in enumerate(entries)]
    leaves: list[object] = list(entries)
    return place(cands, leaves, leaf_hashes(leaves), start=start, taken=set())  # type: ignore[arg-type]


def test_a_dead_worker_fails_the_chunk_with_a_typed_error(always: None) -> None:
    """Killed mid-batch: TlogError, nothing committed, and no process left behind."""
    store = MemoryStore()
    seq = new_log(store)
    seq.sequence(batch("a", 5))

    class KillWorker(Watcher):
        def step(self, number: int) -> None:
            if number == 4:
                for pid in workers():
                    os.kill(pid, signal.SIGKILL)

    seq.watcher = KillWorker()
    with pytest.raises(TlogError, match="index worker"):
        seq.sequence(batch("b", 5))
    assert not workers()
    seq.watcher = Watcher()
    assert seq.recover().checkpoint.checkpoint.size == 5
    assert [o.log_index for o in seq.sequence(batch("b", 5)).outcomes] == list(range(5, 10))
    check_log(store, KEYS)


def test_a_failure_elsewhere_stops_the_worker(always: None) -> None:
    """An interrupt while the worker holds a job (before the commit) leaves no worker."""

    class Stop(Watcher):
        def step(self, number: int) -> None:
            if number == 4:
                assert workers()
                raise KeyboardInterrupt

    store = MemoryStore()
    seq = new_log(store)
    seq.watcher = Stop()
    with pytest.raises(KeyboardInterrupt):
        seq.sequence(batch("a", 5))
    assert not workers()
    assert Sequencer(store, KEYS).recover().checkpoint.checkpoint.size == 0


def test_the_worker_reports_its_own_failure() -> None:
    with Indexer() as ix:
        ix.submit([b"a"], -1, [bytes(32)])  # no row holds a negative index
        with pytest.raises(TlogError, match="index worker failed"):
            ix.result()
    assert not workers()


def test_the_worker_does_not_outlive_a_killed_sequencer(tmp_path: Path) -> None:
    """SIGKILL the sequencer's process: its worker goes too (input closed, and the
    kernel's parent-death signal)."""
    script = (
        "import sys, time; from tlog.indexer import Indexer; ix = Indexer(); ix.warm(1 << 20);"
        "ix.submit([b'x'] * 200000, 0, [bytes(32)] * 200000);"
        "print(ix._proc.pid, flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("mode", ["fail-before", "kill-after"])
@pytest.mark.parametrize("at", [3, 8, 12, 16, 20])
def test_faults_with_the_worker_on(always: None, mode: str, at: int) -> None:
    """The fault table's promise holds with the index computed by the worker."""
    store = MemoryStore()
    new_log(store).sequence(A)
    _faulted_run(store, at, mode, B)
    assert not workers()
    seq = Sequencer(store, KEYS, clock=lambda: 1_800_000_200)
    seq.sequence(B)
    seq.sequence(C)
    assert check_log(store, KEYS) == [x.data for x in A + B + C]


def test_a_guess_whose_leaves_the_placement_reorders_is_dropped() -> None:
    """Two queue items for one entry, the first taken by another run meanwhile: the
    final placement has the same start and count as the guess but another order, so
    neither the guessed tree nor the guessed segment may be kept (they would give the
    entries each other's indices)."""
    from tlog import admission, guess

    cands = [Candidate("a1", b"A", "p1"), Candidate("b", b"B", "p2"), Candidate("a2", b"A", "p3")]
    leaves: list[bytes] = [c.data for c in cands]
    hashes: list[bytes | None] = [h.encode() * 32 for h in ("a", "b", "a")]
    spec = admission.place(cands, leaves, hashes, start=10, taken=set())
    final = admission.place(cands, leaves, hashes, start=10, taken={"p1"})
    assert spec.hashes == [hashes[0], hashes[1]] and final.hashes == [hashes[1], hashes[0]]
    cp = object()
    made = (spec, cp, "the guessed tree")
    assert guess.built(made, cp, final) is None  # type: ignore[arg-type]
    assert guess.built(made, cp, spec) == "the guessed tree"  # type: ignore[arg-type]
    ix = Indexer()
    ix._guess = (spec.start, spec.hashes)
    ix.close = lambda: None  # type: ignore[method-assign]
    ix.placed(final)
    assert not ix._kept
    ix._guess = (spec.start, spec.hashes)
    ix.placed(admission.place(cands, leaves, hashes, start=10, taken=set()))
    assert ix._kept
