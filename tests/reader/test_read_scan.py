"""Read-ahead (bounded concurrency, results in order, errors at their turn) and the tile
reader's scans and memory bound."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tlog import merkle
from tlog.errors import NotFoundError, VerificationError
from tlog.fetch.cache import MemoryTileCache
from tlog.fetch.readahead import read_ahead
from tlog.fetch.tiles import TileReader

from .synthetic import SyntheticLog, flip, leaf

SIZE = 70_000  # 274 bundles, three tile levels
LOG = SyntheticLog(SIZE)


def test_results_come_in_order_one_per_item() -> None:
    assert list(read_ahead(lambda i: i * i, range(100), 7)) == [i * i for i in range(100)]
    assert list(read_ahead(lambda i: i * i, range(5), 1)) == [0, 1, 4, 9, 16]
    assert list(read_ahead(lambda i: i, [], 4)) == []


def test_parallel_calls_run_at_once_and_never_more() -> None:
    parallel = 4
    barrier = threading.Barrier(parallel, timeout=30)  # passes only with 4 calls at once
    lock = threading.Lock()
    running, most = [0], [0]

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if i < 2 * parallel:
            barrier.wait()
        with lock:
            running[0] -= 1
        return i

    assert list(read_ahead(work, range(3 * parallel), parallel)) == list(range(3 * parallel))
    assert most[0] == parallel


def test_an_error_is_raised_at_its_turn_after_the_results_before_it() -> None:
    def work(i: int) -> int:
        if i == 5:
            raise NotFoundError("no object 5")
        return i

    got: list[int] = []
    with pytest.raises(NotFoundError, match="no object 5"):
        got.extend(read_ahead(work, range(50), 8))
    assert got == [0, 1, 2, 3, 4]


def test_items_are_pulled_as_the_window_moves_and_a_stop_starts_nothing_more() -> None:
    pulled: list[int] = []
    started: list[int] = []
    gate = threading.Event()

    def items() -> Iterator[int]:
        for i in range(1000):
            pulled.append(i)
            yield i

    def work(i: int) -> int:
        started.append(i)
        gate.wait(30)
        return i

    results = read_ahead(work, items(), 4)
    gate.set()
    assert next(results) == 0
    assert len(pulled) <= 4 + 1
    results.close()
    assert len(started) <= 4 + 1


def reader(memory_tiles: int = 256, cache: MemoryTileCache | None = None) -> TileReader:
    LOG.tamper, LOG.missing = {}, set()
    LOG.fetched.clear()
    return TileReader(LOG.checkpoint(SIZE), LOG, cache, memory_tiles=memory_tiles)


def test_a_scan_hands_back_every_bundle_checked_in_order_each_object_fetched_once() -> None:
    r = reader()
    seen = list(r.scan(250))
    assert [k for k, _, _ in seen] == list(range(250, 274))
    for k, hashes, entries in seen:
        assert entries == [leaf(i) for i in range(k * 256, min(SIZE, (k + 1) * 256))]
        assert hashes == [merkle.leaf_hash(e) for e in entries]
    fetched = [p for p in LOG.fetched if p.startswith("tile/")]
    assert len(fetched) == len(set(fetched))
    assert {f"tile/entries/{k}" for k in range(250, 273)} <= set(fetched)
    hashes_only = list(reader().scan(0, 3, entries=False))
    assert [(k, e) for k, _, e in hashes_only] == [(0, []), (1, []), (2, [])]
    assert not [p for p in LOG.fetched if p.startswith("tile/entries/")]


def test_a_scan_refuses_a_bundle_or_tile_that_does_not_match() -> None:
    r = reader()
    LOG.tamper = {"tile/entries/010": flip(2 + 3)}
    got: list[int] = []
    with pytest.raises(VerificationError, match=r"tile/entries/010: entry 0 \(log index 2560\)"):
        got.extend(k for k, _, _ in r.scan(5, 20))
    assert got == list(range(5, 10))
    r = reader()
    LOG.tamper = {"tile/0/012": flip(7 * 32)}
    with pytest.raises(VerificationError, match="tile/0/012 does not hash to its entry"):
        list(r.scan(0, 20, entries=False))
    with pytest.raises(NotFoundError):
        list(reader().scan(0, 275))


def test_a_damaged_cached_tile_is_fetched_afresh_by_a_scan() -> None:
    cache = MemoryTileCache()
    first = list(reader(cache=cache).scan(0, 8, entries=False))
    width, data = cache.tiles[(0, 3)]
    cache.tiles[(0, 3)] = (width, data[:40] + bytes([data[40] ^ 1]) + data[41:])
    r = reader(cache=cache)
    assert list(r.scan(0, 8, entries=False)) == first
    assert [p for p in LOG.fetched if p.startswith("tile/")] == ["tile/0/003"]


def test_tiles_held_in_memory_are_bounded_and_proofs_stay_right() -> None:
    r = reader(memory_tiles=16)
    for _ in r.scan(entries=False):
        assert r.held <= 16 + 3 + 1  # the bound, the right edge, the tile just accepted
    for index in range(0, SIZE, 997):
        proof = merkle.inclusion_proof(index, SIZE, r.read)
        merkle.verify_inclusion(
            index, SIZE, merkle.leaf_hash(leaf(index)), proof, LOG.checkpoint(SIZE).root
        )
    assert r.held <= 16 + 3 + 4


def test_a_walk_stopped_early_does_not_hold_the_process_for_fetches_in_flight() -> None:
    """Ctrl-C during an audit of a hanging server ends the process at once: the fetches
    still in flight are left to their daemon threads, not waited for."""
    code = (
        "import threading\n"
        "from tlog.fetch.readahead import read_ahead\n"
        "hang = threading.Event()\n"
        "walk = read_ahead(lambda i: i if i == 0 else hang.wait(), range(100), 8)\n"
        "assert next(walk) == 0\n"
        "walk.close()\n"
        "raise SystemExit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)
    assert done.returncode == 3, done.stderr
