"""One thread that calls each scheduled function when its deadline passes, unless cancelled.

:mod:`tlog.fetch.http` holds every request to a deadline by shutting its socket down
when the deadline passes (a server trickling bytes cannot hold a reader). A
:class:`threading.Timer` per request costs a thread start per GET, a third of a GET's
CPU at 16 GETs in flight; one watchdog thread, sleeping until the earliest deadline,
does the same for all of them.

Contract: :meth:`Watchdog.call_at` schedules ``fn`` for a :func:`time.monotonic` time
and returns a :class:`Alarm`; ``fn`` runs in the watchdog's thread at or after that
time, once, unless :meth:`Alarm.cancel` returned first. A function must be quick and
must not raise (an exception is swallowed, so one bad alarm cannot stop the others).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["Alarm", "Watchdog", "watchdog"]


class Alarm:
    """A scheduled call; :meth:`cancel` stops it if it has not run."""

    __slots__ = ("_fn", "_lock")

    def __init__(self, fn: Callable[[], None], lock: threading.Lock) -> None:
        self._fn: Callable[[], None] | None = fn
        self._lock = lock

    def cancel(self) -> None:
        with self._lock:
            self._fn = None

    def _take(self) -> Callable[[], None] | None:
        with self._lock:
            fn, self._fn = self._fn, None
            return fn


class Watchdog:
    """Alarms for many deadlines, on one daemon thread started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Alarm]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        #: Heap size after the last pruning of cancelled alarms.
        self._pruned = 0

    def __len__(self) -> int:
        """Alarms in the queue: pending, or cancelled and not yet dropped (about as
        many as are pending: cancelled ones are dropped as the queue grows)."""
        with self._lock:
            return len(self._heap)

    def call_at(self, when: float, fn: Callable[[], None]) -> Alarm:
        alarm = Alarm(fn, threading.Lock())
        with self._lock:
            if len(self._heap) >= max(1024, 2 * self._pruned):
                # Cancelled alarms wait in the heap for their time; drop them now and
                # then, so the heap holds about the alarms still pending.
                self._heap = [entry for entry in self._heap if entry[2]._fn is not None]
                heapq.heapify(self._heap)
                self._pruned = len(self._heap)
            heapq.heappush(self._heap, (when, next(self._seq), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tlog-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is alarm:
                self._wake.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(wait)
                _, _, alarm = heapq.heappop(self._heap)
            fn = alarm._take()
            if fn is not None:
                with contextlib.suppress(Exception):
                    fn()


#: The process's watchdog (its thread starts with the first alarm).
watchdog = Watchdog()
