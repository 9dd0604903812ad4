"""The :class:`tlog.storage.Store` contract, checked on every backend (memory, folder, S3)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tlog.errors import (
    ConflictError,
    CorruptionError,
    MalformedError,
    NotFoundError,
    OversizeError,
)
from tlog.storage import Store

KEY = "tile/0/x001/234"
RACERS = 8
ROUNDS = 3


# -- read / write ------------------------------------------------------------------------


def test_read_missing_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="checkpoint"):
        store.read("checkpoint", 1000)
    with pytest.raises(NotFoundError):
        store.read_versioned("private/lock", 1000)


def test_write_read_round_trip(store: Store) -> None:
    store.write(KEY, b"first")
    assert store.read(KEY, 1000) == b"first"
    store.write(KEY, b"second, longer")
    assert store.read(KEY, 1000) == b"second, longer"
    store.write("checkpoint", b"")
    assert store.read("checkpoint", 0) == b""


def test_read_over_limit_is_oversize(store: Store) -> None:
    store.write(KEY, bytes(100))
    assert store.read(KEY, 100) == bytes(100)
    with pytest.raises(OversizeError, match="100"):
        store.read(KEY, 99)
    with pytest.raises(OversizeError):
        store.read_versioned(KEY, 0)


def test_binary_bytes_survive(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.write("tile/entries/000", data)
    assert store.read("tile/entries/000", len(data)) == data


def test_read_range_is_exactly_the_bytes_asked_for(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.write("index/segments/ab", data)
    assert store.read_range("index/segments/ab", 0, 10) == data[:10]
    assert store.read_range("index/segments/ab", 300, 5000) == data[300:5300]
    assert store.read_range("index/segments/ab", len(data) - 7, 7) == data[-7:]
    assert store.read_range("index/segments/ab", 5, 0) == b""


def test_read_range_past_the_end_or_missing_is_refused(store: Store) -> None:
    store.write("index/segments/ab", bytes(100))
    with pytest.raises(MalformedError, match="ends before"):
        store.read_range("index/segments/ab", 90, 20)
    with pytest.raises(MalformedError):
        store.read_range("index/segments/ab", 200, 1)
    with pytest.raises(NotFoundError):
        store.read_range("index/segments/none", 0, 1)


# -- create ------------------------------------------------------------------------------


def test_create_absent(store: Store) -> None:
    store.create(KEY, b"tile bytes")
    assert store.read(KEY, 1000) == b"tile bytes"


def test_create_identical_is_success(store: Store) -> None:
    store.create(KEY, b"tile bytes")
    store.create(KEY, b"tile bytes")
    assert store.read(KEY, 1000) == b"tile bytes"


@pytest.mark.parametrize("other", [b"other bytes", b"tile byte", b"tile bytes!", b""])
def test_create_different_is_corruption_and_keeps_old(store: Store, other: bytes) -> None:
    store.create(KEY, b"tile bytes")
    with pytest.raises(CorruptionError, match="234"):
        store.create(KEY, other)
    assert store.read(KEY, 1000) == b"tile bytes"


def test_create_over_a_written_object_compares(store: Store) -> None:
    store.write(KEY, b"written")
    store.create(KEY, b"written")
    with pytest.raises(CorruptionError):
        store.create(KEY, b"created")
    assert store.read(KEY, 1000) == b"written"


# -- create_file -------------------------------------------------------------------------


def test_create_file_streams_a_file_in(store: Store, tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # over a megabyte: more than one chunk
    with (tmp_path / "big").open("w+b") as f:
        f.write(data)  # left positioned at its end: read from offset 0 all the same
        store.create_file("index/segments/ab", f)
        store.create_file("index/segments/ab", f)  # identical bytes: success
    assert store.read("index/segments/ab", len(data)) == data
    assert store.read_range("index/segments/ab", 1 << 20, 10) == data[1 << 20 : (1 << 20) + 10]


@pytest.mark.parametrize("other", [b"other bytes", b"tile byte", b"tile bytes!", b""])
def test_create_file_different_is_corruption_and_keeps_old(
    store: Store, other: bytes, tmp_path: Path
) -> None:
    store.create(KEY, b"tile bytes")
    with (tmp_path / "other").open("w+b") as f:
        f.write(other)
        with pytest.raises(CorruptionError, match="234"):
            store.create_file(KEY, f)
    assert store.read(KEY, 1000) == b"tile bytes"


def test_create_file_over_an_object_created_from_bytes_compares(
    store: Store, tmp_path: Path
) -> None:
    store.create(KEY, b"tile bytes")
    with (tmp_path / "same").open("w+b") as f:
        f.write(b"tile bytes")
        store.create_file(KEY, f)
    assert store.read(KEY, 1000) == b"tile bytes"


# -- create_many -------------------------------------------------------------------------


def test_create_many_creates_every_item(store: Store) -> None:
    store.create_many([])  # nothing to do, even before anything exists
    items = [
        (f"tile/{level}/x001/{i:03d}", bytes([level, i]) * 50)
        for level in range(2)
        for i in range(40)
    ]
    store.create_many(items)
    store.create_many([])
    assert store.list("tile/") == sorted(key for key, _ in items)
    for key, data in items:
        assert store.read(key, 1000) == data


def test_create_many_over_existing_objects(store: Store) -> None:
    store.create("tile/0/000", b"zero")
    store.create("tile/0/001", b"one")
    store.create_many([("tile/0/000", b"zero"), ("tile/0/002", b"two")])
    assert store.read("tile/0/002", 100) == b"two"
    with pytest.raises(CorruptionError, match="001"):
        store.create_many([("tile/0/003", b"three"), ("tile/0/001", b"not one")])
    assert store.read("tile/0/001", 100) == b"one"
    for key in store.list("tile/"):  # whatever else landed obeys create's contract
        assert store.read(key, 100) in (b"zero", b"one", b"two", b"three")


def test_create_many_refuses_bad_keys(store: Store) -> None:
    with pytest.raises(MalformedError):
        store.create_many([("tile/0/000", b"x"), ("../escape", b"x")])
    assert "../escape" not in store.list("")


# -- swap --------------------------------------------------------------------------------


def test_swap_none_on_absent_creates(store: Store) -> None:
    version = store.swap("private/lock", b"one", None)
    assert isinstance(version, str) and version
    assert store.read_versioned("private/lock", 1000) == (b"one", version)


def test_swap_none_on_present_conflicts(store: Store) -> None:
    store.write("private/lock", b"one")
    with pytest.raises(ConflictError, match="lock"):
        store.swap("private/lock", b"two", None)
    assert store.read("private/lock", 1000) == b"one"


def test_swap_with_current_version(store: Store) -> None:
    v1 = store.swap("private/lock", b"one", None)
    v2 = store.swap("private/lock", b"two", v1)
    assert v2 != v1
    assert store.read_versioned("private/lock", 1000) == (b"two", v2)
    store.write("private/lock", b"three")
    _, v3 = store.read_versioned("private/lock", 1000)
    assert store.swap("private/lock", b"four", v3)
    assert store.read("private/lock", 1000) == b"four"


def test_swap_with_stale_version_conflicts(store: Store) -> None:
    v1 = store.swap("private/lock", b"one", None)
    store.swap("private/lock", b"two", v1)
    with pytest.raises(ConflictError):
        store.swap("private/lock", b"three", v1)
    assert store.read("private/lock", 1000) == b"two"


def test_swap_on_deleted_object_conflicts(store: Store) -> None:
    v1 = store.swap("private/lock", b"one", None)
    store.delete("private/lock")
    with pytest.raises(ConflictError):
        store.swap("private/lock", b"two", v1)
    with pytest.raises(NotFoundError):
        store.read("private/lock", 1000)
    store.swap("private/lock", b"again", None)


# -- delete / list -----------------------------------------------------------------------


def test_delete(store: Store) -> None:
    store.delete(KEY)  # absent: success
    store.write(KEY, b"x")
    store.delete(KEY)
    with pytest.raises(NotFoundError):
        store.read(KEY, 1000)
    store.delete(KEY)


def test_list_sorted_by_prefix(store: Store) -> None:
    keys = [
        "tile/1/000",
        "tile/0/001",
        "tile/entries/000.p/7",
        "checkpoint",
        "tile/0/000",
        "checkpoints/12",
        "private/pending/ab",
        "tile/0/x001/000",
    ]
    for key in keys:
        store.write(key, key.encode())
    assert store.list("") == sorted(keys)
    assert store.list("tile/") == [
        "tile/0/000",
        "tile/0/001",
        "tile/0/x001/000",
        "tile/1/000",
        "tile/entries/000.p/7",
    ]
    assert store.list("tile/0/") == ["tile/0/000", "tile/0/001", "tile/0/x001/000"]
    assert store.list("tile/0/00") == ["tile/0/000", "tile/0/001"]
    assert store.list("checkpoint") == ["checkpoint", "checkpoints/12"]
    assert store.list("checkpoints/") == ["checkpoints/12"]
    assert store.list("private/pending/") == ["private/pending/ab"]
    assert store.list("tile/2/") == []
    assert store.list("nothing") == []
    store.delete("tile/0/001")
    assert store.list("tile/0/") == ["tile/0/000", "tile/0/x001/000"]


# -- keys --------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "..",
    ".",
    "../checkpoint",
    "tile/../../etc/passwd",
    "tile/./0",
    "/checkpoint",
    "/etc/passwd",
    "tile//0",
    "tile/0/",
    ".tmp-1-2",
    "tile/.lock-x",
    "a\\b",
    "a b",
    "x" * 600,
]

OPERATIONS: dict[str, Callable[[Store, str], object]] = {
    "read": lambda s, k: s.read(k, 1000),
    "read_versioned": lambda s, k: s.read_versioned(k, 1000),
    "read_range": lambda s, k: s.read_range(k, 0, 1),
    "create": lambda s, k: s.create(k, b"x"),
    "create_file": lambda s, k: s.create_file(k, io.BytesIO(b"x")),
    "write": lambda s, k: s.write(k, b"x"),
    "swap": lambda s, k: s.swap(k, b"x", None),
    "delete": lambda s, k: s.delete(k),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_bad_keys_are_malformed(store: Store, operation: str) -> None:
    for key in BAD_KEYS:
        with pytest.raises(MalformedError):
            OPERATIONS[operation](store, key)
    assert store.list("") == []


# -- races -------------------------------------------------------------------------------


def _race(attempt: Callable[[int], bool]) -> list[int]:
    """Run ``attempt(i)`` on RACERS threads released together; the ``i`` that won."""
    barrier = threading.Barrier(RACERS, timeout=60)

    def go(i: int) -> bool:
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(RACERS) as pool:
        results = list(pool.map(go, range(RACERS)))
    return [i for i, won in enumerate(results) if won]


def test_racing_swaps_one_wins(store: Store) -> None:
    for r in range(ROUNDS):
        key = f"private/lock{r}"
        base = store.swap(key, b"base", None)

        def attempt(i: int, key: str = key, base: str = base) -> bool:
            try:
                store.swap(key, f"racer {i}".encode(), base)
            except ConflictError:
                return False
            return True

        winners = _race(attempt)
        assert len(winners) == 1, winners
        assert store.read(key, 1000) == f"racer {winners[0]}".encode()


def test_racing_swaps_from_absent_one_wins(store: Store) -> None:
    def attempt(i: int) -> bool:
        try:
            store.swap("private/lock", f"racer {i}".encode(), None)
        except ConflictError:
            return False
        return True

    winners = _race(attempt)
    assert len(winners) == 1, winners
    assert store.read("private/lock", 1000) == f"racer {winners[0]}".encode()


def test_racing_creates_one_value_stored(store: Store) -> None:
    for r in range(ROUNDS):
        key = f"tile/0/00{r}"

        def attempt(i: int, key: str = key) -> bool:
            try:
                store.create(key, f"racer {i}".encode())
            except CorruptionError:
                return False
            return True

        winners = _race(attempt)
        assert len(winners) == 1, winners
        assert store.read(key, 1000) == f"racer {winners[0]}".encode()


def test_racing_identical_creates_all_succeed(store: Store) -> None:
    winners = _race(lambda i: store.create(KEY, b"same bytes") is None)
    assert winners == list(range(RACERS))
    assert store.read(KEY, 1000) == b"same bytes"
