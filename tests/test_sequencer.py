"""The write protocol: correctness, crash safety, concurrency and refusal of bad states."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable

import pytest
from faults import MODES, FaultyStore, Killed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logcheck import check_log

from tlog import layout, merkle, tile
from tlog.admission import Candidate, Outcome
from tlog.errors import (
    ConfigError,
    InconsistencyError,
    MalformedError,
    NothingAdmitted,
    StorageError,
)
from tlog.keys import LogKeys, generate
from tlog.sequencer import Sequencer, Watcher
from tlog.storage import Store
from tlog.storage.memory import MemoryStore

KEYS = generate("test.example/log").keys
OTHER = generate("test.example/log").keys

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "folder", pytest.param("s3", marks=pytest.mark.slow)])
def fresh_store(request: pytest.FixtureRequest, tmp_path) -> StoreFactory:  # type: ignore[no-untyped-def]
    """A factory of empty stores of one backend (a new folder / bucket prefix each)."""
    if request.param == "memory":
        return MemoryStore
    if request.param == "folder":
        from tlog.storage.folder import FolderStore

        return lambda: FolderStore(tmp_path / uuid.uuid4().hex)
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    from tlog.storage.s3 import S3Store

    return lambda: S3Store.from_url(f"s3://{bucket}/{uuid.uuid4().hex}", endpoint_url=endpoint)


def batch(tag: str, n: int) -> list[Candidate]:
    return [Candidate(f"{tag}{i}", f"{tag}-entry-{i}".encode()) for i in range(n)]


def new_log(store: Store, keys: LogKeys = KEYS) -> Sequencer:
    seq = Sequencer(store, keys, clock=lambda: 1_800_000_000)
    seq.init()
    return seq


def test_batches_build_the_rfc6962_tree(fresh_store: StoreFactory) -> None:
    store = fresh_store()
    seq = new_log(store)
    expect: list[bytes] = []
    for tag, n in (("a", 1), ("b", 255), ("c", 1), ("d", 300), ("e", 2)):
        cands = batch(tag, n)
        res = seq.sequence(cands)
        outs = list(res.outcomes)
        assert [o.log_index for o in outs] == list(range(len(expect), len(expect) + n))
        assert [o.uuid for o in outs] == [merkle.leaf_hash(c.data).hex() for c in cands]
        expect += [c.data for c in cands]
        assert check_log(store, KEYS) == expect


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=6))
def test_any_batch_split_gives_the_same_log(splits: list[int]) -> None:
    store = MemoryStore()
    seq = new_log(store)
    n = 0
    for size in splits:
        seq.sequence([Candidate("", b"leaf %d" % (n + i)) for i in range(size)])
        n += size
    entries = check_log(store, KEYS)
    one = MemoryStore()
    new_log(one).sequence([Candidate("", e) for e in entries])
    # Same tree, so the same tiles (partial tiles differ only by which widths exist).
    for tid in tile.tiles_for_size(n):
        if not tid.is_partial:
            assert store.objects[tid.path()] == one.objects[tid.path()]
    assert check_log(one, KEYS) == entries


def test_duplicates_in_a_batch_get_one_index() -> None:
    store = MemoryStore()
    seq = new_log(store)
    res = seq.sequence([Candidate("x", b"same"), Candidate("y", b"other"), Candidate("z", b"same")])
    outs = list(res.outcomes)
    assert [(o.log_index, o.duplicate) for o in outs] == [(0, False), (1, False), (0, True)]
    assert res.checkpoint.checkpoint.size == 2


def test_refused_entries_do_not_stop_the_batch() -> None:
    store = MemoryStore()
    seq = new_log(store)
    big = b"x" * (tile.MAX_ENTRY_SIZE + 1)
    res = seq.sequence([Candidate("ok1", b"a"), Candidate("big", big), Candidate("ok2", b"b")])
    outs = list(res.outcomes)
    assert outs[1].error is not None and "65535" in outs[1].error
    assert [o.log_index for o in outs] == [0, None, 1]
    assert check_log(store, KEYS) == [b"a", b"b"]


def test_nothing_admitted_writes_nothing() -> None:
    store = MemoryStore()
    new_log(store)
    before = dict(store.objects)
    seq = Sequencer(store, KEYS)
    with pytest.raises(NothingAdmitted, match="empty"):
        seq.sequence([])
    with pytest.raises(NothingAdmitted) as err:
        seq.sequence([Candidate("big", b"x" * 70000)])
    assert [o.source for o in err.value.outcomes] == ["big"]
    assert store.objects == before


def test_a_key_that_does_not_match_the_log_is_refused() -> None:
    store = MemoryStore()
    new_log(store)
    before = dict(store.objects)
    with pytest.raises(ConfigError, match="key does not match"):
        Sequencer(store, OTHER).sequence(batch("a", 3))
    assert store.objects == before


def test_uninitialised_log_is_refused() -> None:
    with pytest.raises(ConfigError, match="tlog init"):
        Sequencer(MemoryStore(), KEYS).sequence(batch("a", 1))


def test_init_twice_is_refused() -> None:
    store = MemoryStore()
    new_log(store)
    with pytest.raises(ConfigError, match="already exists"):
        Sequencer(store, KEYS).init()


def test_public_checkpoint_ahead_of_lock_is_a_fork() -> None:
    store = MemoryStore()
    seq = new_log(store)
    seq.sequence(batch("a", 5))
    lock = store.objects[layout.LOCK]
    seq.sequence(batch("b", 5))
    store.objects[layout.LOCK] = lock  # lock rolled back behind the public checkpoint
    before = dict(store.objects)
    with pytest.raises(InconsistencyError) as err:
        Sequencer(store, KEYS).sequence(batch("c", 1))
    assert {"lock", "public"} <= set(err.value.evidence)
    assert store.objects == before


def test_damaged_right_edge_is_not_built_upon() -> None:
    store = MemoryStore()
    seq = new_log(store)
    seq.sequence(batch("a", 10))
    path = tile.TileId(0, 0, 10).path()
    data = bytearray(store.objects[path])
    data[5] ^= 1
    store.objects[path] = bytes(data)
    before = dict(store.objects)
    with pytest.raises(InconsistencyError, match="right-edge"):
        seq.sequence(batch("b", 1))
    assert store.objects == before


class _CoversRecorder(MemoryStore):
    """Records the bytes of every covers object created."""

    def __init__(self) -> None:
        super().__init__()
        self.covers: list[tuple[str, int]] = []

    def create(self, key: str, data: bytes) -> None:
        if key.startswith("checkpoints/covers/"):
            self.covers.append((key, len(data)))
        super().create(key, data)


def test_a_batchs_covers_writes_are_bounded() -> None:
    """Issue 8: the covers object was rewritten whole (all sizes so far) on every batch."""
    store = _CoversRecorder()
    seq = new_log(store)
    for n in range(260):
        store.covers.clear()
        seq.sequence(batch(f"b{n}-", 1))
        # One covers object per one-entry batch, holding only its bundle's sizes so far
        # (never the log's whole history): at most 256 lines; the batch that completes a
        # bundle also renames its group's (here empty) level-1 object.
        size = n + 1
        first = (size - 1) // 256 * 256 + 1
        want = sum(len(b"%d\n" % k) for k in range(first, size + 1))
        ends = [("checkpoints/covers/1/000.p/1", 0)] if size == 256 else []
        assert store.covers == [(layout.cover_for(size - 1, size), want), *ends]
    assert store.covers == [("checkpoints/covers/0/001.p/4", len(b"257\n258\n259\n260\n"))]
    assert store.objects["checkpoints/covers/0/000"].splitlines()[-1] == b"256"
    check_log(store, KEYS)


def test_checkpoint_time_never_goes_backwards() -> None:
    store = MemoryStore()
    now = [2_000_000_000]
    seq = Sequencer(store, KEYS, clock=lambda: now[0])
    seq.init()
    t1 = seq.sequence(batch("a", 1)).checkpoint.timestamp
    now[0] -= 3600  # the next sequencer host's clock is an hour behind
    t2 = seq.sequence(batch("b", 1)).checkpoint.timestamp
    assert t1 == 2_000_000_000 and t2 == t1


def test_lost_swap_starts_again_on_the_new_state() -> None:
    store = MemoryStore()
    new_log(store)

    class Racing(MemoryStore):
        """Lets another sequencer commit just before our first swap."""

    raced = {"done": False}
    orig_swap = store.swap

    def swap(key: str, data: bytes, expect: str | None) -> str:
        if key == layout.LOCK and not raced["done"]:
            raced["done"] = True
            store.swap = orig_swap  # type: ignore[method-assign]
            Sequencer(store, KEYS).sequence(batch("winner", 7))
        return orig_swap(key, data, expect)

    store.swap = swap  # type: ignore[method-assign]
    res = Sequencer(store, KEYS).sequence(batch("loser", 3))
    assert [o.log_index for o in res.outcomes] == [7, 8, 9]
    entries = check_log(store, KEYS)
    assert entries[:7] == [c.data for c in batch("winner", 7)]
    assert entries[7:] == [c.data for c in batch("loser", 3)]


def _faulted_run(inner: Store, at: int | None, mode: str, cands: list[Candidate]) -> list[str]:
    faulty = FaultyStore(inner, at, mode)
    try:
        Sequencer(faulty, KEYS, clock=lambda: 1_800_000_100).sequence(cands)
    except (StorageError, Killed):
        assert at is not None
    return faulty.ops


A, B, C = batch("a", 300), batch("b", 20), batch("c", 5)


def _fault_table() -> list[object]:
    """One row per (mode, operation) of a run appending B to a log holding A.

    Named by what fails and how, e.g. ``kill-after:swap private/lock`` (the hashes in
    staging keys shown as ``<hash>``: the test keys are made afresh each session).
    """
    store = MemoryStore()
    new_log(store).sequence(A)
    ops = _faulted_run(store, None, "fail-before", B)
    assert any(op.startswith("swap private/lock") for op in ops)
    return [
        pytest.param(mode, at, id=f"{mode}:{re.sub('[0-9a-f]{64}', '<hash>', op)}")
        for mode in MODES
        for at, op in enumerate(ops)
    ]


def test_the_fault_table_covers_the_index_objects() -> None:
    """A batch reads the index, stages and creates its segment and head (no mutable
    index/head: readers fetch index/heads/<size>)."""
    names = [p.id for p in _fault_table()]  # type: ignore[attr-defined]
    for op in ("read index/heads/300", "create index/segments/<hash>"):
        assert any(n.endswith(op) for n in names), op
    assert any(n.endswith("create index/heads/320") for n in names)
    assert not any("index/head/" in n or n.endswith("index/head") for n in names)


@pytest.mark.parametrize(
    "fresh_store",
    [
        "memory",
        pytest.param("folder", marks=pytest.mark.slow),
        pytest.param("s3", marks=pytest.mark.slow),
    ],
    indirect=True,
)
@pytest.mark.parametrize(("mode", "at"), _fault_table())
def test_a_fault_at_each_storage_operation(fresh_store: StoreFactory, mode: str, at: int) -> None:
    """Fail or kill the sequencer at one operation of a run, before or after it lands.

    The next run (a fresh sequencer) finishes; the log verifies from scratch;
    acknowledged entries are all there; no checkpoint size ever gets two roots.
    """
    store = fresh_store()
    new_log(store).sequence(A)  # acknowledged before the faulted run
    history_before = {k: store.read(k, 1 << 20) for k in store.list("checkpoints/")}
    _faulted_run(store, at, mode, B)
    seq = Sequencer(store, KEYS, clock=lambda: 1_800_000_200)
    head = seq.recover().checkpoint.checkpoint
    assert head.size in (len(A), len(A) + len(B))
    # The publisher was not acknowledged: it resubmits, whether or not the batch landed,
    # and each entry is logged once (dedup through the index stays exact).
    res = seq.sequence(B)
    assert [o.log_index for o in res.outcomes] == list(range(len(A), len(A) + len(B)))
    seq.sequence(C)
    assert check_log(store, KEYS) == [x.data for x in A + B + C]
    for key, data in history_before.items():
        assert store.read(key, 1 << 20) == data, key


def test_crash_during_init_is_recoverable() -> None:
    ops = FaultyStore(MemoryStore())
    Sequencer(ops, KEYS).init()
    for mode in MODES:
        for at in range(len(ops.ops)):
            store = MemoryStore()
            with contextlib.suppress(StorageError, Killed):
                Sequencer(FaultyStore(store, at, mode), KEYS).init()
            seq = Sequencer(store, KEYS)
            if layout.LOCK in store.objects:
                seq.recover()
            else:
                seq.init()
            seq.sequence(batch("a", 3))
            assert check_log(store, KEYS) == [x.data for x in batch("a", 3)]


def test_staging_of_a_lost_run_is_collected_by_the_next_commit() -> None:
    """A run that staged and died before its swap (a full disk) leaves a bundle ahead
    of the lock: kept while it might be a live run's, collected once a run commits."""
    ops = _faulted_run(new_log_store(), None, "fail-before", batch("x", 4))
    swap_at = next(i for i, op in enumerate(ops) if op.startswith("swap"))
    store = new_log_store()
    _faulted_run(store, swap_at, "kill-before", batch("x", 4))
    assert store.list(layout.STAGING_PREFIX)
    seq = Sequencer(store, KEYS)
    seq.recover()  # commits nothing: the bundle might be a live run's, about to swap
    assert store.list(layout.STAGING_PREFIX)
    seq.sequence(batch("y", 2))  # this commit replaced the state the bundle was staged on
    assert store.list(layout.STAGING_PREFIX) == []
    assert check_log(store, KEYS) == [x.data for x in batch("y", 2)]


def test_a_bundle_staged_after_the_load_survives_the_clean_up() -> None:
    """A concurrent run that staged after this run loaded may still win its swap."""
    store = new_log_store()
    live = layout.STAGING_PREFIX + "9-" + "ab" * 32

    class StageMidRun(Watcher):
        def step(self, number: int) -> None:
            if number == 2:
                store.write(live, b"a live run's bundle")

    Sequencer(store, KEYS, watcher=StageMidRun()).sequence(batch("a", 2))
    assert store.list(layout.STAGING_PREFIX) == [live]


def new_log_store() -> MemoryStore:
    store = MemoryStore()
    new_log(store)
    return store


def test_raw_entry_size_bound() -> None:
    store = MemoryStore()
    seq = new_log(store)
    ok = b"y" * tile.MAX_ENTRY_SIZE
    res = seq.sequence([Candidate("max", ok)])
    assert next(iter(res.outcomes)).log_index == 0
    with pytest.raises(MalformedError):
        seq.sequence([Candidate("over", ok + b"y")])


# -- regressions from review: races and stalls between concurrent runs ------------


def _queue(store: Store, n: int) -> list[bytes]:
    from tlog.queue import submit

    docs = [b"queued document %d" % i for i in range(n)]
    for d in docs:
        submit(store, d, admit=None)
    return docs


def _drain(store: Store, faults: FaultyStore | None = None) -> None:
    from tlog.queue import pending_candidates

    target: Store = faults or store
    cands = [c for c in pending_candidates(store, 100) if isinstance(c, Candidate)]
    if cands:
        Sequencer(target, KEYS).sequence(cands)


def test_queue_items_are_logged_once_whatever_the_crash() -> None:
    probe = new_log_store()
    _queue(probe, 3)
    ops = FaultyStore(probe)
    _drain(probe, ops)
    for mode in MODES:
        for at in range(len(ops.ops)):
            store = new_log_store()
            docs = _queue(store, 3)
            with contextlib.suppress(StorageError, Killed):
                _drain(store, FaultyStore(store, at, mode))
            _drain(store)  # the next scheduled run
            Sequencer(store, KEYS).recover()
            assert sorted(check_log(store, KEYS)) == sorted(docs), (mode, ops.ops[at])
            assert store.list(layout.PENDING_PREFIX) == []


def test_two_runs_draining_the_queue_at_once_log_each_item_once() -> None:
    from tlog.queue import pending_candidates

    store = new_log_store()
    docs = _queue(store, 4)
    first = [c for c in pending_candidates(store, 100) if isinstance(c, Candidate)]
    second = [c for c in pending_candidates(store, 100) if isinstance(c, Candidate)]
    Sequencer(store, KEYS).sequence(first)
    res = Sequencer(store, KEYS).sequence(second + batch("fresh", 1))
    outs = list(res.outcomes)
    assert all(o.duplicate and o.log_index is None for o in outs[:4])
    assert sorted(check_log(store, KEYS)) == sorted([*docs, b"fresh-entry-0"])


def test_refused_queue_items_move_aside_and_do_not_block() -> None:
    from tlog.admission import admit_rekor
    from tlog.queue import pending_candidates

    store = new_log_store()
    _queue(store, 2)  # not valid Rekor entries
    cands = [c for c in pending_candidates(store, 100) if isinstance(c, Candidate)]
    with pytest.raises(NothingAdmitted):
        Sequencer(store, KEYS).sequence(cands, admit_rekor)
    assert store.list(layout.PENDING_PREFIX) == []
    assert len(store.list(layout.REJECTED_PREFIX)) == 2


def test_a_swap_that_landed_but_reported_a_conflict_goes_on() -> None:
    from tlog.errors import ConflictError

    store = new_log_store()
    orig = store.swap
    fired = {"n": 0}

    def swap(key: str, data: bytes, expect: str | None) -> str:
        out = orig(key, data, expect)
        if key == layout.LOCK and not fired["n"]:
            fired["n"] += 1
            raise ConflictError("response lost; the retry saw its own write")
        return out

    store.swap = swap  # type: ignore[method-assign]
    res = Sequencer(store, KEYS).sequence(batch("a", 3))
    assert [o.log_index for o in res.outcomes] == [0, 1, 2]
    store.swap = orig  # type: ignore[method-assign]
    Sequencer(store, KEYS).sequence(batch("b", 1))
    assert check_log(store, KEYS) == [x.data for x in batch("a", 3) + batch("b", 1)]


def test_a_stalled_run_never_rolls_the_public_checkpoint_back() -> None:
    store = new_log_store()
    stalled = {"done": False}
    orig = store.create_many

    def create_many(items):  # type: ignore[no-untyped-def]
        orig(items)
        if not stalled["done"]:
            stalled["done"] = True  # A stalls here; B commits and publishes on top
            store.create_many = orig  # type: ignore[method-assign]
            Sequencer(store, KEYS).sequence(batch("b", 2))

    store.create_many = create_many  # type: ignore[method-assign]
    Sequencer(store, KEYS).sequence(batch("a", 3))
    public = store.read(layout.CHECKPOINT, 1 << 20)
    assert public.split(b"\n")[1] == b"5"
    assert check_log(store, KEYS) == [x.data for x in batch("a", 3) + batch("b", 2)]


def test_a_commit_between_reading_checkpoint_and_lock_is_not_a_fork() -> None:
    """The load's first read of ``checkpoint`` (plain or with its version) is followed
    by another run's commit and publish, before the lock is read."""
    store = new_log_store()
    Sequencer(store, KEYS).sequence(batch("a", 2))
    orig, orig_versioned = store.read, store.read_versioned
    raced = {"done": False}

    def race(key: str) -> None:
        if key == layout.CHECKPOINT and not raced["done"]:
            raced["done"] = True
            store.read, store.read_versioned = orig, orig_versioned  # type: ignore[method-assign]
            Sequencer(store, KEYS).sequence(batch("b", 2))  # commits, publishes, cleans

    def read(key: str, limit: int) -> bytes:
        out = orig(key, limit)
        race(key)
        return out

    def read_versioned(key: str, limit: int) -> tuple[bytes, str]:
        out = orig_versioned(key, limit)
        race(key)
        return out

    store.read, store.read_versioned = read, read_versioned  # type: ignore[method-assign]
    Sequencer(store, KEYS).sequence(batch("c", 1))
    assert raced["done"]
    store.read, store.read_versioned = orig, orig_versioned  # type: ignore[method-assign]
    assert check_log(store, KEYS) == [x.data for x in batch("a", 2) + batch("b", 2) + batch("c", 1)]


def test_resubmitting_an_entry_reports_its_index_and_writes_nothing() -> None:
    """Anywhere in the log (its last bundle, or through the index): never appended twice."""
    store = new_log_store()
    seq = Sequencer(store, KEYS)
    seq.sequence(batch("a", 300))
    before = dict(store.objects)
    res = seq.sequence([Candidate("again", b"a-entry-299"), Candidate("again2", b"a-entry-256")])
    assert [(o.log_index, o.duplicate) for o in res.outcomes] == [(299, True), (256, True)]
    assert res.checkpoint.checkpoint.size == 300
    assert store.objects == before
    res = seq.sequence([Candidate("old", b"a-entry-3"), Candidate("new", b"fresh")])
    # An entry before the last bundle is found through the index.
    assert [(o.log_index, o.duplicate) for o in res.outcomes] == [(3, True), (300, False)]


# -- streamed batches, committed in chunks (docs/design.md "Streaming batches") ----------


def test_a_big_batch_is_committed_in_chunks_each_published() -> None:
    store = MemoryStore()
    new_log(store)
    seq = Sequencer(store, KEYS, chunk_entries=4)
    sizes = [r.checkpoint.checkpoint.size for r in seq.stream(iter(batch("s", 10)))]
    assert sizes == [4, 8, 10]
    assert check_log(store, KEYS) == [c.data for c in batch("s", 10)]
    for size in (4, 8, 10):  # each chunk has its own checkpoint and index head
        store.read(layout.history_key(size), 1 << 20)
        store.read(layout.index_history_key(size), 1 << 20)


def test_a_later_chunk_dedups_against_the_earlier_ones() -> None:
    store = MemoryStore()
    new_log(store)
    cands = [*batch("d", 5), Candidate("again", b"d-entry-1"), *batch("e", 2)]
    res = Sequencer(store, KEYS, chunk_entries=3).sequence(cands)
    outs = list(res.outcomes)
    assert [(o.log_index, o.duplicate) for o in outs][5] == (1, True)
    assert check_log(store, KEYS) == [c.data for c in batch("d", 5) + batch("e", 2)]


def _chunked_run(store: Store, faults: FaultyStore | None = None) -> list[Outcome]:
    seq = Sequencer(faults or store, KEYS, clock=lambda: 1_800_000_100, chunk_entries=4)
    return list(seq.sequence(batch("k", 10)).outcomes)


@pytest.mark.parametrize("mode", ["kill-before", "kill-after"])
def test_a_crash_between_or_inside_chunks_is_completed_by_the_next_run(mode: str) -> None:
    """Kill a three-chunk run at each operation: the next run of the same batch logs
    each entry once and reports every input, those the first run logged as already
    logged at their index with their UUID."""
    probe = MemoryStore()
    new_log(probe)
    faults = FaultyStore(probe)
    _chunked_run(probe, faults)
    want = [c.data for c in batch("k", 10)]
    for at in range(len(faults.ops)):
        store = MemoryStore()
        new_log(store)
        with contextlib.suppress(Killed):
            _chunked_run(store, FaultyStore(store, at, mode))
        Sequencer(store, KEYS).recover()
        before = len(check_log(store, KEYS, settled=False))
        outs = _chunked_run(store)
        assert check_log(store, KEYS) == want, faults.ops[at]
        assert [o.log_index for o in outs] == list(range(10))
        assert [o.uuid for o in outs] == [merkle.leaf_hash(x).hex() for x in want]
        assert [o.duplicate for o in outs] == [i < before for i in range(10)], faults.ops[at]
