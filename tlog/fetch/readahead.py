"""Read-ahead: many fetches in flight, their results handed back in order.

A reader that walks a log (``tlog audit``, a scan of entries, a monitor) asks for one
object after another; over HTTP each answer is a round trip. :func:`read_ahead` runs the
fetches of the next ``parallel`` items in worker threads while the caller consumes the
results, in the items' order, so the walk costs about one round trip per ``parallel``
objects instead of one per object. Nothing it fetches is trusted more for it: the caller
checks each result as it would have without read-ahead.

Contract:

* results come in the order of ``items``, one per item;
* at most ``parallel`` calls of ``work`` run at once, and at most ``parallel`` results
  wait for the caller (memory is bounded by the window, not by the walk);
* an error raised by ``work`` is raised to the caller at that item's turn, exactly as a
  sequential loop would raise it (earlier results are still delivered first); then, as
  when the caller stops early, the calls not yet started are cancelled;
* ``parallel <= 1`` runs everything in the caller's thread, one item at a time;
* the workers are daemon threads: a walk stopped early (Ctrl-C) does not hold the
  process until the fetches still in flight end (each is bounded by its own deadline,
  minutes for HTTP), as a :class:`~concurrent.futures.ThreadPoolExecutor`'s would.

``work`` must be safe to call from several threads: the fetchers are
(:class:`~tlog.fetch.http.HTTPFetcher` shares one connection pool, stores are
thread-safe), and so is any function of a fetcher and an item that keeps no state.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["PARALLEL", "PARALLEL_HTTP", "default_parallel", "read_ahead"]

#: Fetches in flight by default from a folder or S3: enough to hide a 20–100 ms round
#: trip behind the checking of small objects, within the S3 store's 32 pooled connections.
PARALLEL = 16
#: Fetches in flight by default over HTTP(S). A reader's GETs are tiles and bundles a
#: CDN serves from its cache, and CDNs take hundreds of connections from one client (as
#: browsers open six per host on each of many hosts): at 16 a million-entry audit is
#: bound by round trips (7,974 × 20 ms / 16 = 10 s), at 64 by CPU.
PARALLEL_HTTP = 64


def default_parallel(location: str) -> int:
    """The default fetches in flight for the log at ``location`` (a folder, ``s3://``
    or ``http(s)://``): :data:`PARALLEL_HTTP` over HTTP(S), else :data:`PARALLEL`."""
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    return PARALLEL_HTTP if scheme in ("http", "https") else PARALLEL


T = TypeVar("T")
R = TypeVar("R")


def read_ahead(work: Callable[[T], R], items: Iterable[T], parallel: int = PARALLEL) -> Iterator[R]:
    """``work(item)`` for each of ``items``, in order, ``parallel`` at a time (module doc).

    ``items`` is consumed lazily, as the window moves; a generator of items works, so
    the walk may be as long as the log.
    """
    if parallel <= 1:
        for item in items:
            yield work(item)
        return
    source = iter(items)
    window: deque[Future[R]] = deque()
    pool = _Workers(work, parallel)
    try:
        for item in source:
            window.append(pool.submit(item))
            if len(window) >= parallel:
                break
        while window:
            result = window.popleft().result()
            for item in source:  # keep the window full: one started for one handed back
                window.append(pool.submit(item))
                break
            yield result
    finally:
        # Stopped early (an error, or the caller is done): start nothing more, and do not
        # wait for fetches still in flight (each is bounded by its own deadline).
        for future in window:
            future.cancel()
        pool.close()


class _Workers(Generic[T, R]):
    """Up to ``count`` daemon threads (started as items come) calling ``work`` on the
    items submitted, in order."""

    def __init__(self, work: Callable[[T], R], count: int) -> None:
        self._work = work
        self._tasks: queue.SimpleQueue[tuple[Future[R], T] | None] = queue.SimpleQueue()
        self._count = count
        self._started = 0

    def submit(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        self._tasks.put((future, item))
        if self._started < self._count:
            threading.Thread(target=self._run, name="tlog-fetch", daemon=True).start()
            self._started += 1
        return future

    def close(self) -> None:
        """Each worker stops once the tasks before this call are done or cancelled."""
        for _ in range(self._started):
            self._tasks.put(None)

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, item = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._work(item))
            except BaseException as exc:  # handed to the caller at its turn
                future.set_exception(exc)
