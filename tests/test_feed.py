"""The feed: the next chunk read and hashed while one commits, in bounded memory, with
failures and interrupts surfacing where they did without it."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from logcheck import check_log
from test_sequencer import KEYS, new_log

from tlog.admission import Candidate, Refused
from tlog.errors import MalformedError
from tlog.feed import SWITCH_INTERVAL, feed
from tlog.sequencer import Sequencer, Watcher
from tlog.storage.memory import MemoryStore


def counted(n: int, seen: list[int], fail_at: int | None = None) -> Iterator[Candidate]:
    for i in range(n):
        if i == fail_at:
            raise MalformedError("input unreadable")
        seen[0] = i + 1
        yield Candidate(str(i), b"entry %d" % i)


def test_chunks_come_with_their_leaf_hashes() -> None:
    chunks = [([Candidate("a", b"a"), Candidate("b", b"")], [b"a", Refused("no")])]
    ((_, leaves, hashes),) = list(feed(iter(chunks)))
    assert leaves == [b"a", Refused("no")]
    assert hashes[1] is None and hashes[0] is not None and len(hashes[0]) == 32


def test_at_most_one_chunk_is_read_ahead() -> None:
    """While a chunk commits, the input is read at most one chunk (and one admission
    piece) further: memory stays bounded by the chunk size."""
    seen = [0]
    most: list[int] = []

    class Look(Watcher):
        def step(self, number: int) -> None:
            most.append(seen[0])

    store = MemoryStore()
    seq = new_log(store)
    seq.chunk_entries, seq.watcher = 10, Look()
    results = list(seq.stream(counted(100, seen), chunk=5))
    assert len(results) == 10
    for k in range(10):  # chunk k's steps: at most chunks k and k+1, and a piece, read
        assert max(most[8 * k : 8 * k + 8]) <= 10 * (k + 2) + 5
    assert len(check_log(store, KEYS)) == 100


def test_an_input_failure_surfaces_after_the_chunks_before_it() -> None:
    """The input breaking in chunk 3: chunks 1 and 2 are published, then the error."""
    store = MemoryStore()
    seq = new_log(store)
    seq.chunk_entries = 10
    got = []
    with pytest.raises(MalformedError, match="input unreadable"):
        for result in seq.stream(counted(100, [0], fail_at=25), chunk=5):
            got.append(result.checkpoint.checkpoint.size)
    assert got == [10, 20]
    assert Sequencer(store, KEYS).recover().checkpoint.checkpoint.size == 20


def test_an_interrupt_while_admitting_stops_before_the_next_commit() -> None:
    """The watcher's ``admitted`` raising (an interrupt) in the feed's thread stops the
    run at the next chunk, the chunk being committed published."""

    class Interrupt(BaseException):
        pass

    class StopAt(Watcher):
        def admitted(self, done: int, total: int) -> None:
            if done > 15:
                raise Interrupt

    store = MemoryStore()
    seq = new_log(store)
    seq.chunk_entries, seq.watcher = 10, StopAt()
    with pytest.raises(Interrupt):
        list(seq.stream(counted(100, [0]), chunk=5))
    assert Sequencer(store, KEYS).recover().checkpoint.checkpoint.size == 10
    assert _feeds_end()


def test_closing_the_stream_stops_the_feed() -> None:
    """A caller that stops after the first chunk leaves no thread reading its input."""
    seen = [0]
    store = MemoryStore()
    seq = new_log(store)
    seq.chunk_entries = 10
    stream = seq.stream(counted(1000, seen), chunk=5)
    next(stream)
    stream.close()
    assert _feeds_end()
    assert seen[0] <= 25


def _feeds_end() -> bool:
    deadline = time.monotonic() + 10
    while any(t.name == "tlog-feed" for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_peek_shows_the_next_chunk_without_reading_further() -> None:
    """The sequencer looks at chunk k+1 while chunk k is applied (tlog.guess.ahead): a
    peek neither takes it nor lets the thread read chunk k+2."""
    pulled: list[int] = []

    def chunks() -> Iterator[tuple[list[Candidate], list[bytes | Refused]]]:
        for k in range(3):
            pulled.append(k)
            yield [Candidate(str(k), b"%d" % k)], [b"%d" % k]

    ready = feed(chunks())
    first = next(ready)
    while (peeked := ready.peek(0.01)) is None:
        assert ready.waiting()
    assert not ready.waiting() and ready.peek() is peeked
    assert pulled == [0, 1] and first[1] == [b"0"]
    assert next(ready) is peeked and next(ready)[1] == [b"2"]
    while ready.waiting():
        ready.peek(0.01)
    assert ready.peek() is None and not ready.waiting()  # the end: no chunk comes
    assert list(ready) == []


def test_threads_switch_sooner_while_feeds_run() -> None:
    """While any feed runs the interpreter switches threads every SWITCH_INTERVAL (the
    sequencer's system calls take the lock back sooner), and the interval is restored
    once the last one closes."""
    before = sys.getswitchinterval()
    chunk = ([Candidate("a", b"a")], [b"a"])
    one, two = feed(iter([chunk])), feed(iter([chunk]))
    assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)
    assert len(list(one)) == 1
    assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)  # two still runs
    two.close()
    two.close()
    assert sys.getswitchinterval() == before


def test_a_feed_whose_thread_cannot_start_gives_the_interval_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = sys.getswitchinterval()

    def start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(RuntimeError):
        feed(iter([([Candidate("a", b"a")], [b"a"])]))
    assert sys.getswitchinterval() == before


def test_a_feed_dropped_unclosed_stops_and_gives_the_interval_back() -> None:
    before = sys.getswitchinterval()
    chunk = ([Candidate("a", b"a")], [b"a"])
    ready = feed(iter([chunk] * 5))
    thread = ready._thread
    assert next(ready)[1] == [b"a"]
    assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)
    del ready
    gc.collect()
    assert sys.getswitchinterval() == before
    thread.join(60)
    assert not thread.is_alive()  # it stopped before reading another chunk
