"""Reading ahead: the objects one step of a run needs, fetched at once, each once.

Over S3 every sequential request costs a round trip (docs/design.md "Round trips"). The
sequencer knows, as soon as it has read the lock, every object the rest of its attempt
will read (the right-edge tiles, the tail bundle, the covers objects, the freeze markers,
the index head): it fetches them together in one round of parallel requests, and the
code that uses them reads them from here, in the order and with the checks it always
had. Only the results are shared: a missing object is remembered as missing (its
NotFoundError raised again on each read), any other failure is raised by
:meth:`Prefetch.fetch` itself once the round has finished.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, wait
from functools import partial
from typing import BinaryIO, TypeVar, cast

from tlog.errors import NotFoundError, OversizeError, TlogError
from tlog.storage import Store

__all__ = ["THREADS", "Prefetch"]

#: Requests in flight at once (a thread each; the S3 store pools 32 connections).
THREADS = 16
#: Range reads kept for reading again: each at most this long, and this much in all
#: (a small batch's dedup reads small index segments whole, and merging reads them
#: again; a big batch's lookup streams whole segments, which must not stay in memory).
RANGE_KEPT = 64 << 10
RANGES_KEPT = 4 << 20

T = TypeVar("T")


class Prefetch:
    """A :class:`~tlog.storage.Store` over ``store`` for one attempt of a run: reads
    answered from what :meth:`fetch` read ahead (in parallel through ``pool``) and
    range reads from the ranges read before; everything else passed through.

    For immutable objects and objects read once per attempt only: a cached mutable
    object (the lock, ``checkpoint``) would go stale, so those are read through
    :meth:`run` or :meth:`read_versioned`, never cached.
    """

    def __init__(self, store: Store, pool: Executor | None) -> None:
        self.store = store
        self.pool = pool
        self._got: dict[str, bytes | NotFoundError] = {}
        self._ranges: dict[tuple[str, int, int], bytes] = {}
        self._kept = 0

    def run(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Each call's result, the calls made at once; after all have finished, the
        first failure (in ``calls`` order) is raised."""
        if self.pool is None or len(calls) <= 1:
            return [call() for call in calls]
        futures = [self.pool.submit(call) for call in calls]
        wait(futures)
        return [f.result() for f in futures]

    def fetch(
        self,
        wanted: Iterable[tuple[str, int]],
        ranges: Iterable[tuple[str, int, int]] = (),
        also: Sequence[Callable[[], T]] = (),
    ) -> list[T]:
        """One round: read each ``(key, limit)`` not read yet and each range ``(key,
        start, length)`` (kept for :meth:`read_range` as far as it keeps ranges; a
        failed range read is left to be made again), keep the results, and make the
        ``also`` calls meanwhile; their results."""
        todo = [(k, n) for k, n in dict.fromkeys(wanted) if k not in self._got]
        spans = [r for r in dict.fromkeys(ranges) if r not in self._ranges]
        calls: list[Callable[[], object]] = [*also]
        calls += [partial(self._read, k, n) for k, n in todo]
        calls += [partial(self._try_range, *r) for r in spans]
        got = self.run(calls)
        read = cast(list[bytes | NotFoundError], got[len(also) : len(also) + len(todo)])
        self._got.update(zip((k for k, _ in todo), read, strict=True))
        return cast(list[T], got[: len(also)])

    def _try_range(self, key: str, start: int, length: int) -> None:
        with contextlib.suppress(TlogError):  # read again (and fail again) when wanted
            self.read_range(key, start, length)

    def _read(self, key: str, limit: int) -> bytes | NotFoundError:
        try:
            return self.store.read(key, limit)
        except NotFoundError as exc:
            return exc

    def read(self, key: str, limit: int) -> bytes:
        """The object at ``key``: as fetched, or read now if it was not."""
        got = self._got.get(key)
        if got is None:
            return self.store.read(key, limit)
        if isinstance(got, NotFoundError):
            raise NotFoundError(str(got))
        if len(got) > limit:
            raise OversizeError(f"object {key} is {len(got)} bytes, over the {limit} limit")
        return got

    def has(self, key: str) -> bool:
        """Whether ``key`` was fetched and found."""
        return isinstance(self._got.get(key), bytes)

    def put(self, key: str, data: bytes) -> None:
        """Remember ``data`` as the object at ``key`` (an object this run just read by
        other means, or wrote)."""
        self._got[key] = data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """A range read, kept if small (:data:`RANGE_KEPT`, :data:`RANGES_KEPT`)."""
        got = self._ranges.get((key, start, length))
        if got is None:
            got = self.store.read_range(key, start, length)
            if length <= RANGE_KEPT and self._kept + length <= RANGES_KEPT:
                self._ranges[(key, start, length)] = got
                self._kept += length
        return got

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        return self.store.read_versioned(key, limit)

    def create(self, key: str, data: bytes) -> None:
        self.store.create(key, data)

    def create_file(self, key: str, file: BinaryIO) -> None:
        self.store.create_file(key, file)

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self.store.create_many(items)

    def write(self, key: str, data: bytes) -> None:
        self.store.write(key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        return self.store.swap(key, data, expect)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.store.list(prefix)
