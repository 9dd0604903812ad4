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
* ``parallel <= 1`` runs everything in the caller's thread, one item at a time.

``work`` must be safe to call from several threads: the fetchers are
(:class:`~tlog.fetch.http.HTTPFetcher` shares one connection pool, stores are
thread-safe), and so is any function of a fetcher and an item that keeps no state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["PARALLEL", "read_ahead"]

#: Fetches in flight by default: enough to hide a 20–100 ms round trip behind the
#: checking of small objects, few enough for any CDN or S3 prefix.
PARALLEL = 16

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
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="tlog-fetch")
    done = False
    try:
        for item in source:
            window.append(pool.submit(work, item))
            if len(window) >= parallel:
                break
        while window:
            result = window.popleft().result()
            for item in source:  # keep the window full: one started for one handed back
                window.append(pool.submit(work, item))
                break
            yield result
        done = True
    finally:
        # Stopped early (an error, or the caller is done): start nothing more, and do not
        # wait for fetches still in flight (each is bounded by its own deadline).
        pool.shutdown(wait=done, cancel_futures=True)
