"""The load step (tlog/head.py) verifies each checkpoint note it meets once."""

from __future__ import annotations

from typing import Any

import pytest
from logcheck import check_log

from tlog import head, layout, sequencer
from tlog.admission import Candidate
from tlog.keys import generate
from tlog.prefetch import Prefetch
from tlog.sequencer import Sequencer
from tlog.storage.memory import MemoryStore

KEYS = generate("test.example/load").keys


def test_the_load_verifies_the_lock_and_public_note_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate("", b"entry %d" % i) for i in range(3)])
    opened: list[bytes] = []
    open_checkpoint = head.open_checkpoint

    def counting(note: bytes, *args: Any, **kwargs: Any) -> Any:
        opened.append(note)
        return open_checkpoint(note, *args, **kwargs)

    monkeypatch.setattr(head, "open_checkpoint", counting)
    seq.sequence([Candidate("", b"one more")])
    # The lock and the public checkpoint hold the same note: one verification.
    assert len(opened) == 1


class Counting(MemoryStore):
    """A memory store that counts the reads and swaps of ``checkpoint``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def read(self, key: str, limit: int) -> bytes:
        if key == layout.CHECKPOINT:
            self.calls.append("read")
        return super().read(key, limit)

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        if key == layout.CHECKPOINT:
            self.calls.append("read")
        return super().read_versioned(key, limit)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        if key == layout.CHECKPOINT:
            self.calls.append("swap")
        return super().swap(key, data, expect)


def test_a_batch_reads_checkpoint_once_and_publishes_against_that_version() -> None:
    store = Counting()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate("", b"entry %d" % i) for i in range(3)])
    store.calls.clear()
    seq.sequence([Candidate("", b"one more")])
    assert store.calls == ["read", "swap"]
    assert store.read(layout.CHECKPOINT, 1 << 20).split(b"\n")[1] == b"4"


def test_a_roll_forward_reads_checkpoint_again_before_publishing_its_own_batch() -> None:
    store = Counting()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate("", b"entry 0")])
    note = store.read(layout.LOCK, 1 << 20)
    Sequencer(store, KEYS).sequence([Candidate("", b"entry 1")])
    committed = store.read(layout.LOCK, 1 << 20)
    store.write(layout.CHECKPOINT, note)  # as if the batch of size 2 was not published
    store.calls.clear()
    seq.sequence([Candidate("", b"entry 2")])
    # Read at load, swapped by the roll-forward, read again, swapped for this batch:
    # never a swap against the version the roll-forward replaced.
    assert store.calls == ["read", "swap", "read", "swap"]
    assert committed != store.read(layout.LOCK, 1 << 20)
    assert store.read(layout.CHECKPOINT, 1 << 20).split(b"\n")[1] == b"3"


def _load_rounds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The requests of each round of parallel reads made inside step 1, as they come."""
    rounds: list[int] = []
    inside: list[bool] = []
    run, load = Prefetch.run, sequencer.load

    def counting(self: Prefetch, calls: Any) -> Any:
        if inside and calls:
            rounds.append(len(calls))
        return run(self, calls)

    def loading(*args: Any, **kwargs: Any) -> Any:
        inside.append(True)
        try:
            return load(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(Prefetch, "run", counting)
    monkeypatch.setattr(sequencer, "load", loading)
    return rounds


def test_a_sequencer_that_ran_before_loads_in_one_round_fewer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its first round also reads, at the size it last saw, the index head and the right
    # edge; when the lock has that size, the second round reads only the freeze markers
    # with the dedup lookup's ranges. When another sequencer moved the log meanwhile,
    # the rounds are as for a fresh sequencer, and the log is as valid.
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate("", b"entry %d" % i) for i in range(300)])
    rounds = _load_rounds(monkeypatch)
    first = seq.sequence([Candidate("", b"one more")])
    assert len(rounds) == 2 and rounds[0] > 3  # lock, checkpoint, staging list, guesses
    fresh = Sequencer(store, KEYS)
    rounds.clear()
    fresh.sequence([Candidate("", b"and another")])
    assert len(rounds) == 3
    rounds.clear()
    again = seq.sequence([Candidate("", b"after the other")])  # a stale size: no guess kept
    assert len(rounds) == 3
    assert [o.log_index for r in (first, again) for o in r.outcomes] == [300, 302]
    check_log(store, KEYS)
    dup = seq.sequence([Candidate("", b"one more"), Candidate("", b"new")])
    assert [o.log_index for o in dup.outcomes] == [300, 303]
    check_log(store, KEYS)
