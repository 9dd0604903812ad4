"""A read-through, write-through memory cache of a log's immutable objects.

The write server is long-lived: each batch reads back much of what the previous one
wrote or read — the right-edge tiles and covers objects it builds on, the index head
of the lock's checkpoint (``index/heads/<size>``), the index segments it deduplicates
against and merges, the tiles its ``201`` proofs are made from. Those objects are
immutable (docs/design.md "Object layout": ``tile/``, ``checkpoints/``, ``index/heads/``,
``index/segments/`` are created once, with create-if-absent, and never change; a second
writer's bytes are identical or a CorruptionError), so a copy in memory is as good as
the object, whichever process wrote it. :class:`CachingStore` keeps them:

* a successful :meth:`read` of an immutable object is kept (absence never is: the
  object may be created next);
* a successful :meth:`create` or :meth:`create_many` keeps what it wrote (the store now
  holds exactly those bytes);
* :meth:`read_range` of a kept object is a slice of it; otherwise it goes to the store.

Everything else — the lock, ``checkpoint``, ``private/`` objects,
versions, listings, swaps, deletes — goes straight to the store, uncached. The cache is
bounded (least recently used objects go first; objects over a quarter of the bound are
never kept) and safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import BinaryIO

from tlog import layout
from tlog.storage import Store, check_range

__all__ = ["DEFAULT_BYTES", "CachingStore", "is_immutable"]

#: Default bound of the cache.
DEFAULT_BYTES = 256 << 20


def is_immutable(key: str) -> bool:
    """Whether the object at ``key`` never changes once it exists."""
    return layout.headers(key)[1] == layout.CACHE_IMMUTABLE


class CachingStore:
    """A :class:`~tlog.storage.Store` in front of ``store``, keeping immutable objects
    in memory up to ``max_bytes`` (see the module docstring)."""

    def __init__(self, store: Store, max_bytes: int = DEFAULT_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: Reads answered from memory, and reads that went to the store.
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachingStore({self.store!r})"

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._kept.get(key)
            if data is None:
                self.misses += 1
            else:
                self.hits += 1
                self._kept.move_to_end(key)
            return data

    def _keep(self, key: str, data: bytes) -> None:
        if not is_immutable(key) or len(data) > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, old = self._kept.popitem(last=False)
                self._bytes -= len(old)

    def _forget(self, key: str) -> None:
        with self._lock:
            data = self._kept.pop(key, None)
            if data is not None:
                self._bytes -= len(data)

    # -- Store -----------------------------------------------------------------------

    def read(self, key: str, limit: int) -> bytes:
        data = self._get(key)
        if data is not None and len(data) <= limit:
            return data
        data = self.store.read(key, limit)
        self._keep(key, data)
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        data = self._get(key)
        if data is None:
            return self.store.read_range(key, start, length)
        return check_range(key, data[start : start + length], start, length)

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        return self.store.read_versioned(key, limit)

    def create(self, key: str, data: bytes) -> None:
        self.store.create(key, data)
        self._keep(key, data)

    def create_file(self, key: str, file: BinaryIO) -> None:
        """Passed through, never kept (a big object streamed from a file)."""
        self.store.create_file(key, file)

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self.store.create_many(items)
        for key, data in items:
            self._keep(key, data)

    def write(self, key: str, data: bytes) -> None:
        self._forget(key)
        self.store.write(key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        self._forget(key)
        return self.store.swap(key, data, expect)

    def delete(self, key: str) -> None:
        self._forget(key)
        self.store.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.store.list(prefix)
