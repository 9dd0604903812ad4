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
import threading
from collections.abc import Generator, Iterator

from tlog.admission import Admitted, Candidate, Refused, hashed

__all__ = ["Chunk", "feed"]

#: A chunk ready to place: its candidates, their leaves and leaf hashes (with the
#: admitted leaves' index key hashes when admission computed them, :class:`LeafHashes`).
Chunk = tuple[list[Candidate], list[bytes | Refused], list[bytes | None]]

_END = object()


def feed(chunks: Iterator[Admitted]) -> Generator[Chunk, None, None]:
    """``chunks`` with their leaf hashes, each read by a thread while the caller works
    on the one before (never two ahead). Closing the iterator stops the thread before
    it reads another chunk."""
    ready: queue.SimpleQueue[object] = queue.SimpleQueue()
    room = threading.Semaphore(1)  # a chunk may be read once the one before is taken
    stop = threading.Event()

    def pull() -> None:
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

    thread = threading.Thread(target=pull, name="tlog-feed", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            room.release()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
        thread.join()
    finally:
        stop.set()
        room.release()  # a thread waiting for room sees the stop


def _wait(room: threading.Semaphore, stop: threading.Event) -> bool:
    """Whether there is room for another chunk (False: the caller stopped)."""
    room.acquire()
    return not stop.is_set()
