"""audit: re-derives every tile, bundle hash, root and historical checkpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tlog import layout, merkle, tree
from tlog.audit import AuditReport, audit
from tlog.checkpoint import Checkpoint, open_checkpoint
from tlog.errors import (
    InconsistencyError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.fetch.store import StoreFetcher
from tlog.note import sign
from tlog.storage import Store
from tlog.storage.folder import FolderStore

from .conftest import GOLDEN, BuiltLog, MakeLog
from .logserver import LogServer


def run(log: BuiltLog, progress: list[int] | None = None) -> AuditReport:
    fetcher = StoreFetcher(log.store)
    latest = open_checkpoint(log.store.read("checkpoint", 1 << 20), log.verifiers)
    return audit(
        fetcher, latest, log.verifiers, progress=None if progress is None else progress.append
    )


def test_golden_log() -> None:
    store = FolderStore(GOLDEN)
    from tlog.client import load_vkeys

    verifiers = load_vkeys((str(GOLDEN / "log.vkey"),))
    latest = open_checkpoint(store.read("checkpoint", 1 << 20), verifiers)
    report = audit(StoreFetcher(store), latest, verifiers)
    assert (report.size, report.checkpoints, report.missing_covers) == (701, 10, [])


@pytest.mark.parametrize(
    "batches",
    [
        (),
        (1,),
        (256,),
        (255, 1),
        (3, 300, 40),
        (65_530, 10, 5, 300),
        # Batches ending on a bundle boundary, then ones crossing none: found all the same.
        (100, 156, 44),
        (256, 10, 5),
        (200, 56, 256, 3, 1),
        (10, 502, 4, 2),
    ],
)
def test_honest_logs_pass(make_log: MakeLog, batches: tuple[int, ...]) -> None:
    log = make_log(batches)
    seen: list[int] = []
    report = run(log, seen)
    assert report.size == sum(batches)
    assert report.root == log.checkpoints[-1].checkpoint.root
    assert report.checkpoints == len(batches)  # every published size (not 0: no leaf)
    assert (seen[-1] if seen else 0) == report.size
    assert report.missing_covers == []


def _flip(log: BuiltLog, key: str, offset: int) -> None:
    data = bytearray(log.store.read(key, 64 << 20))
    data[offset] ^= 1
    log.store.write(key, bytes(data))


def test_bad_entry_bundle(make_log: MakeLog) -> None:
    log = make_log((300, 212))
    _flip(log, "tile/entries/001", 2 + 5)
    with pytest.raises(
        VerificationError, match=r"tile/0/001: hash 0 .*entry 256 in tile/entries/001"
    ):
        run(log)


def test_bundle_with_extra_bytes(make_log: MakeLog) -> None:
    log = make_log((300,))
    log.store.write("tile/entries/000", log.store.read("tile/entries/000", 1 << 24) + b"\0")
    with pytest.raises(MalformedError, match="tile/entries/000: 1 bytes after"):
        run(log)


def test_bad_level_one_tile(make_log: MakeLog) -> None:
    log = make_log((65_536 + 600,))
    _flip(log, "tile/1/000", 32 * 100)
    with pytest.raises(VerificationError, match="tile/1/000 does not hold the roots"):
        run(log)


def test_bad_partial_tile(make_log: MakeLog) -> None:
    log = make_log((600,))
    _flip(log, "tile/0/002.p/88", 32 * 87)
    with pytest.raises(VerificationError, match=r"tile/0/002.p/88: hash 87"):
        run(log)


def test_historical_checkpoint_with_another_root(make_log: MakeLog) -> None:
    log = make_log((10, 20, 30))
    lie = Checkpoint(log.origin, 30, b"\7" * 32)
    note = sign(lie.format(), log.keys.signers(lambda: log.now)).format()
    log.store.write(layout.history_key(30), note)
    with pytest.raises(InconsistencyError, match=r"checkpoints/30 .size 30. has root 07070707"):
        run(log)


def test_time_going_backwards(make_log: MakeLog) -> None:
    log = make_log((10, 20, 30))
    cp = log.checkpoints[2].checkpoint
    note = sign(cp.format(), log.keys.signers(lambda: 5)).format()
    log.store.write(layout.history_key(30), note)
    with pytest.raises(VerificationError, match="integrated times went backwards"):
        run(log)


def test_unsigned_history_is_refused(make_log: MakeLog) -> None:
    log = make_log((10, 20))
    _flip(log, layout.history_key(10), 30)
    with pytest.raises(TlogError, match="checkpoints/10"):
        run(log)


def test_missing_covers_is_reported(make_log: MakeLog) -> None:
    log = make_log((10, 20))
    log.store.delete(layout.cover_for(0, 30))
    report = run(log)
    assert report.missing_covers == [layout.cover_for(0, 30)] and report.checkpoints == 0


def test_covers_naming_a_size_before_its_bundle_is_refused(make_log: MakeLog) -> None:
    log = make_log((300, 10))
    key = layout.cover_for(300, 310)
    assert log.store.read(key, 1 << 20) == b"300\n310\n"
    log.store.write(key, b"200\n310\n")
    with pytest.raises(VerificationError, match="size 200 covers none of its entries"):
        run(log)


def test_a_level_zero_covers_object_off_the_chain_of_batch_ends_is_found(
    make_log: MakeLog,
) -> None:
    # A reader takes the level-0 object of an entry's bundle as it finds it: one that
    # no batch end leads to (bundle 1 here: 600 crossed it) would give entry 300 a
    # checkpoint of the log's choosing. The audit reads every level-0 object.
    log = make_log((600, 10))
    key = layout.covers_key(tree.covers_tile(0, 1, 610))
    with pytest.raises(NotFoundError):
        log.store.read(key, 1 << 20)
    log.store.write(key, b"400\n")
    with pytest.raises(VerificationError, match=r"size 400 \(after 0\) crosses a bundle end") as e:
        run(log)
    level1 = layout.covers_key(tree.covers_tile(1, 0, 610))
    assert str(e.value).endswith(f"{level1} omits it, or {key} lists a size no batch ended at")


def test_a_crossing_size_missing_from_level_one_is_refused(make_log: MakeLog) -> None:
    log = make_log((300, 10))
    key = layout.covers_key(tree.covers_tile(1, 0, 310))
    assert log.store.read(key, 1 << 20) == b"300\n"
    log.store.write(key, b"")
    with pytest.raises(VerificationError, match=r"size 300 \(after 0\) crosses a bundle end"):
        run(log)


def test_a_missing_level_one_covers_object_is_named_as_missing(make_log: MakeLog) -> None:
    """A missing level-1 object (a missing covers object) leaves a crossing size in
    none: the error says which object is missing, and the other possible cause."""
    log = make_log((300, 10))
    key = layout.covers_key(tree.covers_tile(1, 0, 310))
    log.store.delete(key)
    with pytest.raises(VerificationError) as e:
        run(log)
    level0 = layout.covers_key(tree.covers_tile(0, 1, 310))
    assert str(e.value) == (
        f"size 300 (after 0) crosses a bundle end, but no level-1 covers object lists it: "
        f"{key} is missing, or {level0} lists a size no batch ended at"
    )


def test_root_mismatch_with_latest(make_log: MakeLog) -> None:
    log = make_log((10, 20))
    # A tile lie consistent with itself: the bundle and its hash tile both changed.
    from tlog import tile

    entries = [log.entry(i) for i in range(30)]
    entries[25] = b"forged\n"
    log.store.write("tile/entries/000.p/30", tile.format_bundle(entries))
    hashes = [merkle.leaf_hash(e) for e in entries]
    log.store.write("tile/0/000.p/30", tile.format_hash_tile(hashes))
    with pytest.raises(InconsistencyError, match=r"checkpoints/30 \(size 30\) has root"):
        run(log)


@pytest.mark.parametrize("lie_in", ["checkpoint", "checkpoints/30"])
def test_two_roots_for_the_latest_size(make_log: MakeLog, lie_in: str) -> None:
    # Two notes signed by the log for one size: whichever the entries agree with, the
    # log forked, and both notes are the evidence.
    log = make_log((10, 20))
    lie = Checkpoint(log.origin, 30, b"\7" * 32)
    log.store.write(lie_in, sign(lie.format(), log.keys.signers(lambda: log.now)).format())
    with pytest.raises(InconsistencyError, match="two roots for size 30") as info:
        run(log)
    notes = info.value.evidence["checkpoints"]
    assert isinstance(notes, list) and len(notes) == 2
    assert sum("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=" in n for n in notes) == 1


def test_progress_is_shown_only_where_asked(tmp_path: Path) -> None:
    import io

    from tlog.cli.audit import run_audit
    from tlog.client import open_log

    client = open_log(str(GOLDEN), [str(GOLDEN / "log.vkey")], state_dir=tmp_path, cache=False)
    terminal = io.StringIO()
    report = run_audit(client, client.latest(), terminal)
    assert report.size == 701 and "auditing" in terminal.getvalue()
    quiet = run_audit(client, client.latest(), None)  # not a terminal: nothing to show
    assert quiet.size == 701


class _Concurrent:
    """A fetcher whose first ``parallel`` GETs of tiles and bundles wait until all of
    them are in flight (a sequential audit could never pass them), recording the most
    GETs at once."""

    def __init__(self, inner: StoreFetcher, parallel: int) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(parallel, timeout=30)
        self.lock = threading.Lock()
        self.tiles = 0
        self.running = 0
        self.most = 0

    def fetch(self, path: str, limit: int) -> bytes:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            first = path.startswith("tile/") and self.tiles < self.barrier.parties
            self.tiles += path.startswith("tile/")
        try:
            if first:
                self.barrier.wait()
            return self.inner.fetch(path, limit)
        finally:
            with self.lock:
                self.running -= 1

    def fetch_range(self, path: str, start: int, length: int) -> bytes:
        return self.inner.fetch_range(path, start, length)


def test_audit_fetches_parallel_objects_at_once_and_never_more(make_log: MakeLog) -> None:
    log = make_log((2000, 600))
    latest = open_checkpoint(log.store.read("checkpoint", 1 << 20), log.verifiers)
    fetcher = _Concurrent(StoreFetcher(log.store), 4)
    report = audit(fetcher, latest, log.verifiers, parallel=4)
    assert (report.size, report.bundles, report.checkpoints) == (2600, 11, 2)
    assert fetcher.most == 4


def test_the_first_inconsistency_in_log_order_is_reported_whatever_the_parallelism(
    make_log: MakeLog,
) -> None:
    log = make_log((3000,))
    _flip(log, "tile/entries/009", 2 + 5)
    _flip(log, "tile/entries/003", 2 + 5)
    latest = open_checkpoint(log.store.read("checkpoint", 1 << 20), log.verifiers)
    for parallel in (1, 16):
        with pytest.raises(VerificationError, match=r"entry 768 in tile/entries/003"):
            audit(StoreFetcher(log.store), latest, log.verifiers, parallel=parallel)


def _in_workers(log: BuiltLog, url: str, monkeypatch: pytest.MonkeyPatch) -> AuditReport | str:
    """The audit over HTTP with its bundles checked in two worker processes, two bundles
    a run (the report, or the error's text)."""
    import tlog.bundlecheck
    from tlog.fetch.http import HTTPFetcher

    monkeypatch.setattr(tlog.bundlecheck, "RUN_BUNDLES", 2)
    monkeypatch.setattr(tlog.bundlecheck, "WORKERS", 2)
    latest = open_checkpoint(log.store.read("checkpoint", 1 << 20), log.verifiers)
    try:
        return audit(HTTPFetcher(url), latest, log.verifiers, parallel=4)
    except TlogError as exc:
        return f"{type(exc).__name__}: {exc}"


def _in_process(log: BuiltLog) -> AuditReport | str:
    try:
        return run(log)
    except TlogError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.slow
def test_worker_processes_check_as_this_one_does(
    make_log: MakeLog, serve: Callable[[Store], LogServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of bundles checked in worker processes give the report, and the first
    error, a sequential pass gives (the bundles of runs after a failure unread)."""
    log = make_log((3, 300, 40, 700, 256, 1))
    url = serve(log.store).url
    here, there = _in_process(log), _in_workers(log, url, monkeypatch)
    assert isinstance(here, AuditReport) and isinstance(there, AuditReport)
    there.seconds = here.seconds
    assert there == here and here.bundles == 6
    _flip(log, "tile/entries/003", 2 + 5)  # a bad entry in the second run...
    lie = Checkpoint(log.origin, 343, b"\7" * 32)  # ...after a bad root in the first
    when = log.checkpoints[2].timestamp or 0
    log.store.write(
        layout.history_key(343), sign(lie.format(), log.keys.signers(lambda: when)).format()
    )
    here, there = _in_process(log), _in_workers(log, url, monkeypatch)
    assert isinstance(here, str) and "checkpoints/343 (size 343) has root 0707" in here
    assert there == here


def test_workers_share_the_parallel_fetches_and_one_at_a_time_starts_none() -> None:
    from tlog.bundlecheck import workers_for
    from tlog.fetch.http import HTTPFetcher

    fetcher = HTTPFetcher("http://127.0.0.1:9/")
    with workers_for(fetcher, 1_000_000, 1) as crew:
        assert crew == []  # --parallel 1: one GET after another, in this process
    with workers_for(fetcher, 1_000, 8) as crew:
        assert crew == []  # a small log: not worth a process
    with workers_for(fetcher, 1_000_000, 8) as crew:
        assert len(crew) == 2
    assert all(worker.proc.returncode is not None for worker in crew)


def test_a_folder_log_is_checked_by_workers_given_its_path_alone(tmp_path: Path) -> None:
    """A folder log's fetcher pickles as the folder's path (never its store's locks or
    file maker), so the audit's workers check it."""
    import pickle

    from tlog.bundlecheck import workers_for
    from tlog.fetch import open_fetcher
    from tlog.fetch.store import StoreFetcher
    from tlog.storage.folder import FolderStore

    (tmp_path / "checkpoint").write_bytes(b"a checkpoint")
    fetcher = open_fetcher(str(tmp_path))
    copy = pickle.loads(pickle.dumps(fetcher))
    assert isinstance(copy, StoreFetcher) and isinstance(copy.store, FolderStore)
    assert copy.store is not fetcher.store and copy.store.root == tmp_path  # type: ignore[attr-defined]
    assert copy.fetch("checkpoint", 100) == b"a checkpoint"
    with workers_for(fetcher, 1_000_000, 8) as crew:
        assert len(crew) == 2


def test_a_folder_fetcher_given_a_relative_path_pickles_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starts in its own working directory (or the caller moves): the copy
    reads the folder the fetcher was opened on, not one of the same name elsewhere."""
    import pickle

    from tlog.fetch import open_fetcher

    for side in ("a", "b"):
        (tmp_path / side / "log").mkdir(parents=True)
        (tmp_path / side / "log" / "checkpoint").write_bytes(side.encode())
    monkeypatch.chdir(tmp_path / "a")
    blob = pickle.dumps(open_fetcher("log"))
    monkeypatch.chdir(tmp_path / "b")
    assert pickle.loads(blob).fetch("checkpoint", 10) == b"a"
