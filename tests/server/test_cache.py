"""The write server's cache of immutable objects: a Store like any other (the contract
suite runs on it), that answers repeated reads of immutable objects from memory and
never keeps a mutable object or an absence."""

from __future__ import annotations

import pytest

from tests.storage.test_contract import *  # noqa: F403 (the contract suite, on this store)
from tlog.errors import NotFoundError
from tlog.server.cache import CachingStore
from tlog.storage.memory import MemoryStore


@pytest.fixture
def store() -> CachingStore:
    return CachingStore(MemoryStore())


def test_immutable_objects_are_read_from_memory_once_read_or_created() -> None:
    inner = MemoryStore()
    cache = CachingStore(inner)
    inner.create("tile/0/000", b"a" * 64)
    assert cache.read("tile/0/000", 64) == b"a" * 64
    cache.create_many([("index/segments/ab", b"0123456789"), ("index/heads/3", b"head")])
    cache.create("checkpoints/3", b"note")
    for key in ("tile/0/000", "index/segments/ab", "index/heads/3", "checkpoints/3"):
        inner.delete(key)  # gone from the store: only the cache can answer now
    assert cache.read("tile/0/000", 64) == b"a" * 64
    assert cache.read_range("index/segments/ab", 2, 3) == b"234"
    assert cache.read("index/heads/3", 100) == b"head"
    assert cache.read("checkpoints/3", 100) == b"note"
    assert cache.hits == 4


def test_mutable_objects_and_absences_are_never_kept() -> None:
    inner = MemoryStore()
    cache = CachingStore(inner)
    for key in ("checkpoint", "index/head", "private/lock"):
        inner.write(key, b"old")
        assert cache.read(key, 10) == b"old"
        inner.write(key, b"new")  # another process moved it on
        assert cache.read(key, 10) == b"new"
    with pytest.raises(NotFoundError):
        cache.read("tile/0/001", 10)
    inner.create("tile/0/001", b"made since")
    assert cache.read("tile/0/001", 10) == b"made since"


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    inner = MemoryStore()
    cache = CachingStore(inner, max_bytes=400)
    for i in range(5):
        cache.create(f"tile/0/00{i}", bytes([i]) * 100)
    cache.create("tile/0/009", b"x" * 101)  # over a quarter of the bound: never kept
    for i in range(5):
        inner.delete(f"tile/0/00{i}")
    inner.delete("tile/0/009")
    with pytest.raises(NotFoundError):
        cache.read("tile/0/000", 100)  # the oldest went first
    with pytest.raises(NotFoundError):
        cache.read("tile/0/009", 200)
    assert [cache.read(f"tile/0/00{i}", 100)[0] for i in range(1, 5)] == [1, 2, 3, 4]
