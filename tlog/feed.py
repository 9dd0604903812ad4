"""The feed: a streamed batch's next chunk read, admitted and hashed while this one commits.

docs/design.md "Streaming batches" and docs/index.md "Throughput". The sequencer's
commit of a chunk spends much of its time waiting (fsync, the object store, the index
worker); a thread meanwhile pulls the next chunk from the input (parsing it, or driving
the admission pool) and has its leaf hashes (from the pool, or computed here). Whatever
the thread raises, an interrupt from the watcher's ``admitted`` included, is raised to
the sequencer when it asks for that chunk: after the chunk being committed is
published, as without the thread. It holds
at most one chunk ahead, so memory stays bounded by two chunks.

Nothing here writes anything: a chunk read ahead of a failed run is never committed
(the next run reads its input again).
"""

from __future__ import annotations

import queue
import sys
import threading
import weakref
from collections.abc import Iterator

from tlog.admission import Admitted, Candidate, Refused, hashed

__all__ = ["Chunk", "Feed", "feed"]

#: A chunk ready to place: its candidates, their leaves and leaf hashes (with the
#: admitted leaves' index key hashes when admission computed them, :class:`LeafHashes`).
Chunk = tuple[list[Candidate], list[bytes | Refused], list[bytes | None]]

_END = object()

#: The interpreter's switch interval while a feed runs (seconds; Python's default 0.005).
SWITCH_INTERVAL = 0.0005
_switching = threading.Lock()
_feeds = [0, 0.0]  # feeds running, and the interval before the first of them


def feed(chunks: Iterator[Admitted]) -> Feed:
    """``chunks`` with their leaf hashes, each read by a thread while the caller works
    on the one before (never two ahead). Closing the iterator stops the thread before
    it reads another chunk."""
    return Feed(chunks)


class Feed:
    """The chunks of :func:`feed`, an iterator; :meth:`peek` shows the next one if the
    thread has read it already."""

    def __init__(self, chunks: Iterator[Admitted]) -> None:
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._room = threading.Semaphore(1)  # a chunk may be read once the one before is taken
        self._stop = threading.Event()
        self._next: list[object] = []  # an item peeked at, not yet taken
        # The thread holds no reference to the feed: one dropped unclosed is collected,
        # and its finalizer stops the thread and gives the interval back.
        args = (chunks, self._ready, self._room, self._stop)
        self._thread = threading.Thread(target=_pull, args=args, name="tlog-feed", daemon=True)
        self._lowered = _Lowered()
        weakref.finalize(self, _abandon, self._room, self._stop, self._lowered)
        try:
            self._thread.start()
        except BaseException:
            self._lowered.release()
            raise

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> Chunk:
        if self._stop.is_set():
            raise StopIteration
        item = self._next.pop() if self._next else self._ready.get()
        if item is _END or item is None or isinstance(item, BaseException):
            self.close()
            if isinstance(item, BaseException):
                raise item
            self._thread.join()
            raise StopIteration
        self._room.release()
        return item  # type: ignore[return-value]

    def peek(self, timeout: float = 0) -> Chunk | None:
        """The next chunk, without taking it, if it is read already or within
        ``timeout`` seconds (None: not yet, or no chunk comes: the end or a failure,
        which the next ``next`` raises)."""
        if not self._next:
            try:
                self._next.append(
                    self._ready.get(timeout=timeout) if timeout else self._ready.get_nowait()
                )
            except queue.Empty:
                return None
        item = self._next[0]
        ended = item is _END or item is None or isinstance(item, BaseException)
        return None if ended else item  # type: ignore[return-value]

    def waiting(self) -> bool:
        """Whether the next item is yet to come from the thread (False once a chunk,
        the end or a failure is there)."""
        return not self._next and self._ready.empty()

    def close(self) -> None:
        """Stop the thread before it reads another chunk (it finishes one under way)."""
        _abandon(self._room, self._stop, self._lowered)


def _pull(
    chunks: Iterator[Admitted],
    ready: queue.SimpleQueue[object],
    room: threading.Semaphore,
    stop: threading.Event,
) -> None:
    """The feed's thread: each chunk with its leaf hashes into ``ready`` when there is
    ``room``, then the end or the failure."""
    item: object = None
    try:
        while _wait(room, stop):
            cands_leaves = next(chunks, None)
            if cands_leaves is None:
                item = _END
                break
            cands, admitted = cands_leaves
            ready.put((cands, admitted, hashed(admitted)))
    except BaseException as exc:  # handed to the caller, raised there
        item = exc
    finally:
        if stop.is_set():
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # cancels admission in flight
    ready.put(item)


def _abandon(room: threading.Semaphore, stop: threading.Event, lowered: _Lowered) -> None:
    """End a feed (closed, or collected unclosed): its thread stops before it reads
    another chunk, and the switch interval is given back."""
    stop.set()
    room.release()  # a thread waiting for room sees the stop
    lowered.release()


class _Lowered:
    """A feed's share of the lowered switch interval (:func:`_switch`), given back once."""

    def __init__(self) -> None:
        self._held = True
        self._lock = threading.Lock()
        _switch(+1)

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            _switch(-1)


def _switch(change: int) -> None:
    """Count a feed starting (+1) or closing (-1); while any runs, the interpreter
    switches threads every SWITCH_INTERVAL. The feed's thread runs Python while the
    sequencer's threads make system calls (fsync, links, reads), and each of those
    takes the interpreter lock back only when the running thread gives it up: by
    default after 5 ms, a wait per call that dominates a chunk's file and sync work."""
    with _switching:
        if change > 0 and not _feeds[0]:
            _feeds[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_feeds[1], SWITCH_INTERVAL))
        _feeds[0] += change
        if not _feeds[0]:
            sys.setswitchinterval(_feeds[1])


def _wait(room: threading.Semaphore, stop: threading.Event) -> bool:
    """Whether there is room for another chunk (False: the caller stopped)."""
    room.acquire()
    return not stop.is_set()
