"""FolderStore beyond the shared contract: layout on disk, failures, symlinks, processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tlog.errors import (
    ConfigError,
    ConflictError,
    CorruptionError,
    MalformedError,
    NotFoundError,
    StorageError,
)
from tlog.storage import temp
from tlog.storage.folder import FolderStore
from tlog.storage.locate import open_store


def test_objects_live_at_root_slash_key(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "log")
    store.write("checkpoint", b"cp")
    store.create("tile/0/x001/234", b"tile")
    store.swap("private/lock", b"lock", None)
    assert (tmp_path / "log" / "checkpoint").read_bytes() == b"cp"
    assert (tmp_path / "log" / "tile" / "0" / "x001" / "234").read_bytes() == b"tile"
    assert (tmp_path / "log" / "private" / "lock").read_bytes() == b"lock"


def test_version_is_sha256_of_bytes(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    version = store.swap("private/lock", b"one", None)
    assert version == hashlib.sha256(b"one").hexdigest()
    assert store.read_versioned("private/lock", 10) == (b"one", version)


# -- unwritable targets ------------------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo[StorageError], path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_root_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "file"
    root.write_bytes(b"not a folder")
    store = FolderStore(root)
    for call in (
        lambda: store.write("checkpoint", b"x"),
        lambda: store.create("tile/0/000", b"x"),
        lambda: store.swap("private/lock", b"x", None),
    ):
        with pytest.raises(StorageError) as err:
            call()
        assert "not a directory" in _one_line(err, root)
    assert root.read_bytes() == b"not a folder"


def test_file_where_a_directory_should_be(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.write("tile", b"a file named tile")
    with pytest.raises(StorageError) as err:
        store.write("tile/0/000", b"x")
    _one_line(err, tmp_path / "tile")
    with pytest.raises(NotFoundError):
        store.read("tile/0/000", 10)


def test_directory_where_an_object_should_be(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.write("tile/0/000", b"x")
    with pytest.raises(NotFoundError):
        store.read("tile/0", 10)
    for call in (lambda: store.write("tile/0", b"x"), lambda: store.create("tile/0", b"x")):
        with pytest.raises(StorageError) as err:
            call()
        _one_line(err, tmp_path / "tile" / "0")
    store.delete("tile/0")  # a directory is no object
    assert store.list("") == ["tile/0/000"]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root ignores permission bits; the file-in-the-way tests cover this path",
)
def test_permission_denied(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    FolderStore(root).write("checkpoint", b"old")
    root.chmod(0o555)
    try:
        store = FolderStore(root)
        with pytest.raises(StorageError) as err:
            store.write("checkpoint", b"new")
        assert "Permission denied" in _one_line(err, root)
        with pytest.raises(StorageError):
            store.create("tile/0/000", b"x")
        assert store.read("checkpoint", 10) == b"old"
    finally:
        root.chmod(0o755)


# -- crash leftovers and strays ----------------------------------------------------------


def test_temp_and_lock_files_are_ignored(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.write("tile/0/000", b"tile")
    store.swap("private/lock", b"lock", None)
    for stray in (".tmp-1-2", "tile/0/.tmp-99-0", "private/.lock-other", ".DS_Store", "a b"):
        (tmp_path / stray).write_bytes(b"half a wri")
    assert store.list("") == ["private/lock", "tile/0/000"]
    assert store.list("tile/0/") == ["tile/0/000"]
    assert store.read("tile/0/000", 10) == b"tile"


def test_temp_name_left_by_a_crash_with_our_pid(tmp_path: Path) -> None:
    for n in range(5):
        (tmp_path / f"{temp.PREFIX}{os.getpid()}-{n}").write_bytes(b"torn")
    store = FolderStore(tmp_path)
    store.write("checkpoint", b"whole")
    store.create("checkpoints/1", b"whole")
    assert store.read("checkpoint", 10) == b"whole"
    assert store.list("") == ["checkpoint", "checkpoints/1"]


def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.write("checkpoint", b"a")
    store.create("tile/0/000", b"b")
    store.create("tile/0/000", b"b")
    with pytest.raises(CorruptionError):
        store.create("tile/0/000", b"c")
    store.swap("private/lock", b"d", None)
    with pytest.raises(ConflictError):
        store.swap("private/lock", b"e", None)
    left = sorted(p.name for p in tmp_path.rglob(".tmp-*"))
    assert left == []


def counting_stage(store: FolderStore) -> list[str]:
    """The temp files ``store`` writes itself from now on (not the helper's), as made."""
    made: list[str] = []
    stage = store._stage

    def counting(*args: Any) -> str:
        made.append(stage(*args))
        return made[-1]

    store._stage = counting  # type: ignore[method-assign]
    return made


def test_prepared_files_are_linked_by_create_many_or_removed(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    made = counting_stage(store)
    items = [(f"tile/0/00{n}", b"tile %d" % n) for n in range(4)]
    store.prepare_many(items)  # by the helper process: nothing visible
    assert store.list("") == []
    changed = [items[0], ("tile/0/001", b"other bytes"), items[2], ("tile/1/000", b"new")]
    store.create_many(changed)
    assert [store.read(k, 100) for k, _ in changed] == [d for _, d in changed]
    assert len(made) == 2  # only the two files whose key or bytes changed were written here
    assert sorted(p.name for p in tmp_path.rglob(".tmp-*")) == []  # the unused one removed
    store.prepare_many([("tile/0/009", b"x")])
    store.discard_prepared()
    store.create_many([("tile/0/009", b"x")])  # written afresh, not from the discarded file
    assert len(made) == 3 and store.read("tile/0/009", 10) == b"x"
    assert sorted(p.name for p in tmp_path.rglob(".tmp-*")) == []


def test_files_prepared_for_a_later_batch_wait_for_it(tmp_path: Path) -> None:
    """Jobs queue: a batch's create_many takes the files of the jobs up to its own and
    leaves a later batch's for that one (the sequencer prepares chunk k+1 before chunk
    k is applied)."""
    store = FolderStore(tmp_path)
    made = counting_stage(store)
    first = [(f"tile/0/00{n}", b"first %d" % n) for n in range(3)]
    second = [(f"tile/0/01{n}", b"second %d" % n) for n in range(3)]
    store.prepare_many(first)
    store.prepare_many(second)
    store.create_many(first)
    while store.preparing():
        time.sleep(0.01)
    assert len(sorted(tmp_path.rglob(".tmp-*"))) == 3  # the second batch's, still there
    store.create_many(second)
    assert made == [] and store.list("") == sorted(k for k, _ in first + second)
    assert sorted(tmp_path.rglob(".tmp-*")) == []
    store.prepare_many([("tile/0/020", b"x")])
    store.discard_prepared()
    assert sorted(tmp_path.rglob(".tmp-*")) == [] and store.list("tile/0/02") == []


def test_threads_sharing_a_store_prepare_and_create_without_leaving_temp_files(
    tmp_path: Path,
) -> None:
    store = FolderStore(tmp_path)

    def batch(t: int) -> None:
        for n in range(15):
            items = [(f"tile/{t}/{n:03d}.p/{w}", b"%d %d %d" % (t, n, w)) for w in range(1, 9)]
            store.prepare_many(items)
            store.create_many(items)  # either thread may take the other's files: bytes decide

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(batch, range(2)))
    wanted = {
        f"tile/{t}/{n:03d}.p/{w}": b"%d %d %d" % (t, n, w)
        for t in range(2)
        for n in range(15)
        for w in range(1, 9)
    }
    assert {k: store.read(k, 20) for k in store.list("tile/")} == wanted
    assert sorted(p.name for p in tmp_path.rglob(".tmp-*")) == []


def test_the_next_write_sweeps_stale_temp_files_of_its_folder(tmp_path: Path) -> None:
    gone_pid = 9_999_999  # over Linux's largest pid_max: no such process
    now = time.time()
    ages = {
        f"{temp.PREFIX}{gone_pid}-0": temp.STALE_AGE + 60,  # a killed run's: removed
        f".tmp-{gone_pid}-1": temp.STALE_AGE + 60,  # an earlier version's name: removed
        f"{temp.PREFIX}{gone_pid}-2": 5,  # too recent to judge: kept
        f"{temp.PREFIX}{os.getpid()}-3": temp.STALE_AGE + 60,  # its writer lives: kept
        f"{temp.PREFIX}{os.getpid()}-4": temp.ABANDONED_AGE + 60,  # pids are reused: removed
        "tile": temp.ABANDONED_AGE + 60,  # not a temp name: kept
    }
    folder = tmp_path / "tile" / "0"
    folder.mkdir(parents=True)
    for name, age in ages.items():
        (folder / name).write_bytes(b"torn")
        os.utime(folder / name, (now - age, now - age))
    link = folder / f"{temp.PREFIX}{gone_pid}-5"
    link.symlink_to(tmp_path / "elsewhere")
    FolderStore(tmp_path).list("tile/")  # reading sweeps nothing
    assert len(list(folder.iterdir())) == len(ages) + 1
    FolderStore(tmp_path).create("tile/0/001", b"tile")
    left = sorted(p.name for p in folder.iterdir())
    kept = [n for n in ages if n.endswith(("-2", "-3")) or n == "tile"]
    assert left == sorted([*kept, "001", link.name])


def test_folders_removed_behind_its_back(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "log")
    store.write("tile/0/000", b"a")
    shutil.rmtree(tmp_path / "log")
    store.write("tile/0/001", b"b")
    store.create("tile/0/002", b"c")
    assert store.list("") == ["tile/0/001", "tile/0/002"]


def test_list_refuses_bad_prefixes(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    for prefix in ("../", "/", "/tile", "tile//", "tile/..", "tile/./", ".tmp"):
        with pytest.raises(MalformedError):
            store.list(prefix)


def test_many_threads_many_new_directories(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    keys = [f"tile/{level}/x{i // 10:03d}/{i % 10:03d}" for level in range(3) for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.create(k, k.encode()), keys))
    assert store.list("tile/") == sorted(keys)
    assert all(store.read(k, 100) == k.encode() for k in keys)


# -- symlinks ----------------------------------------------------------------------------


def test_symlinked_directory_leaving_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "log", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "0").mkdir()
    (outside / "0" / "000").write_bytes(b"secret")
    (root / "tile").symlink_to(outside)
    store = FolderStore(root)
    for call in (
        lambda: store.read("tile/0/000", 100),
        lambda: store.write("tile/0/001", b"x"),
        lambda: store.create("tile/1/000", b"x"),
        lambda: store.swap("tile/0/000", b"x", None),
        lambda: store.delete("tile/0/000"),
        lambda: store.list("tile/0/"),
    ):
        with pytest.raises(StorageError, match="outside the store root"):
            call()
    assert sorted(p.name for p in outside.rglob("*")) == ["0", "000"]
    assert (outside / "0" / "000").read_bytes() == b"secret"


def test_symlinked_file_leaving_root_is_refused(tmp_path: Path) -> None:
    root, secret = tmp_path / "log", tmp_path / "secret"
    root.mkdir()
    secret.write_bytes(b"secret")
    (root / "checkpoint").symlink_to(secret)
    store = FolderStore(root)
    with pytest.raises(StorageError, match="outside the store root"):
        store.read("checkpoint", 100)
    with pytest.raises(StorageError, match="outside the store root"):
        store.create("checkpoint", b"secret")
    with pytest.raises(StorageError, match="outside the store root"):
        store.swap("checkpoint", b"x", hashlib.sha256(b"secret").hexdigest())
    assert store.list("") == []
    store.write("checkpoint", b"mine")  # replaces the link itself, not its target
    assert secret.read_bytes() == b"secret"
    assert store.read("checkpoint", 100) == b"mine"


def test_symlink_inside_root_is_followed(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "log")
    store.write("checkpoints/7", b"seven")
    (tmp_path / "log" / "checkpoint").symlink_to(tmp_path / "log" / "checkpoints" / "7")
    assert store.read("checkpoint", 100) == b"seven"
    store.create("checkpoint", b"seven")


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    store = FolderStore(tmp_path / "alias")
    store.create("tile/0/000", b"x")
    assert (tmp_path / "real" / "tile" / "0" / "000").read_bytes() == b"x"


# -- processes ---------------------------------------------------------------------------

PROCESSES = 4
PROCESS_ROUNDS = 5


def _racer(root: str, op: str, i: int, barrier: Any, results: Any) -> None:
    """One racing process: PROCESS_ROUNDS swaps or creates, each released by ``barrier``."""
    store = FolderStore(Path(root))
    base = hashlib.sha256(b"base").hexdigest()
    for r in range(PROCESS_ROUNDS):
        barrier.wait()
        data = f"racer {i}".encode()
        try:
            if op == "swap":
                store.swap(f"private/lock{r}", data, base)
            else:
                store.create(f"tile/0/00{r}", data)
        except (ConflictError, CorruptionError) as e:
            results.put((r, i, type(e).__name__))
        else:
            results.put((r, i, "won"))


@pytest.mark.parametrize("op", ["swap", "create"])
def test_racing_processes_one_wins(tmp_path: Path, op: str) -> None:
    store = FolderStore(tmp_path)
    for r in range(PROCESS_ROUNDS):
        store.write(f"private/lock{r}", b"base")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES, timeout=60)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(str(tmp_path), op, i, barrier, results))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes: list[tuple[int, int, str]] = []
    try:
        for _ in range(PROCESSES * PROCESS_ROUNDS):
            outcomes.append(results.get(timeout=60))
    except queue.Empty:
        pass
    for p in procs:
        p.join(timeout=60)
        if p.exitcode is None:
            p.kill()
            p.join()
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    assert len(outcomes) == PROCESSES * PROCESS_ROUNDS
    loser = "ConflictError" if op == "swap" else "CorruptionError"
    for r in range(PROCESS_ROUNDS):
        mine = [(i, what) for (rr, i, what) in outcomes if rr == r]
        winners = [i for i, what in mine if what == "won"]
        assert len(winners) == 1, mine
        assert sorted(what for _, what in mine) == sorted(["won"] + [loser] * (PROCESSES - 1))
        key = f"private/lock{r}" if op == "swap" else f"tile/0/00{r}"
        assert store.read(key, 100) == f"racer {winners[0]}".encode()


# -- locations ---------------------------------------------------------------------------


def test_open_store_folder_locations(tmp_path: Path) -> None:
    for location in (str(tmp_path / "a"), f"file://{tmp_path}/b", f"file://localhost{tmp_path}/c"):
        store = open_store(location)
        assert isinstance(store, FolderStore)
        store.write("checkpoint", location.encode())
    assert (tmp_path / "a" / "checkpoint").read_bytes() == str(tmp_path / "a").encode()
    assert (tmp_path / "b" / "checkpoint").exists()
    assert (tmp_path / "c" / "checkpoint").exists()


@pytest.mark.parametrize(
    "location",
    ["", "https://example.com/log", "http://127.0.0.1:8080/", "gs://bucket/x", "file://host/x"],
)
def test_open_store_refuses(location: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_store(location)
    if location.startswith("http"):
        assert "read-only" in str(err.value)
