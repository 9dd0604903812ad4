"""The auditor's check of a run of entry bundles, in this process or in worker processes.

``tlog audit`` (:mod:`tlog.audit`) reads every entry bundle and level-0 hash tile of a
log (C2SP tlog-tiles v0.1.0). :func:`check_run` does that for the bundles ``k0 .. k1``:
each bundle holds exactly the entries its width says, their leaf hashes (RFC 6962
§2.1) are the level-0 tile at the same index, and it gives back what the rest of the
audit needs: each tile's level-8 root, the inner levels of the tiles where a published
checkpoint ends, and the entries' index rows (:mod:`tlog.reindex`).

Reading and hashing a million entries is CPU work, and one process runs one thread at a
time: :func:`check_runs` hands runs of :data:`RUN_BUNDLES` bundles to child processes
(each with its own fetcher and connections, reading ``parallel / workers`` objects at
once) when the log is big enough and the fetcher can be sent to them (pickled: HTTP
and folder logs; not S3 clients), and runs them here one after another otherwise.
Either way the runs come back in order, and a run stops at its first failed bundle,
handing back what came before it with the error: the caller sees the same first
inconsistency as a sequential pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tlog import child, merkle, tile, tree
from tlog.errors import MalformedError, StorageError, TlogError, VerificationError
from tlog.fetch import Fetcher
from tlog.fetch.partial import fetch_tile
from tlog.fetch.readahead import read_ahead
from tlog.index.writer import rows_of
from tlog.reindex import Rows
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId

__all__ = ["RUN_BUNDLES", "WORKERS", "Checked", "Worker", "check_run", "check_runs", "workers_for"]

#: Bundles in one run (32,768 entries): a worker's read-ahead drains once per run, and
#: holds a run's rows (1.5 MiB) until it hands them back.
RUN_BUNDLES = 128
#: Seconds between GIL hand-overs in a worker (:func:`sys.setswitchinterval`).
SWITCH = 0.001
#: Worker processes for a log of at least two runs (0: check in this process).
WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Checked:
    """What checking bundles ``first .. first + len(widths)`` gave.

    ``widths[j]`` is bundle ``first + j``'s entry count and ``tops[j]`` its level-8
    root (None for a partial tile); ``levels`` holds the inner levels
    (:func:`tlog.tree.tile_levels`) of the bundles asked for and of a partial one;
    ``buckets`` the entries' index rows (:attr:`tlog.reindex.Rows.buckets`). ``error``
    is the first failure, at bundle ``first + len(widths)``; None if all passed.
    """

    first: int
    widths: list[int]
    tops: list[bytes | None]
    levels: dict[int, list[list[bytes]]]
    buckets: list[bytearray]
    error: TlogError | None


def check_run(
    fetcher: Fetcher, size: int, k0: int, k1: int, want: frozenset[int], parallel: int
) -> Checked:
    """Check bundles ``k0 .. k1`` of the log of ``size`` (module docstring), their
    objects fetched ``parallel`` at a time; ``want``: the bundles whose levels to keep."""
    objects = (
        t for k in range(k0, k1) for t in (tile.bundle_for(size, k), tile.hash_tile_for(0, size, k))
    )
    fetched = read_ahead(lambda t: fetch_tile(fetcher, t), objects, parallel)
    rows = Rows()
    widths: list[int] = []
    tops: list[bytes | None] = []
    levels: dict[int, list[list[bytes]]] = {}
    error: TlogError | None = None
    try:
        for k in range(k0, k1):
            entries, hashes = leaf_tile(size, k, next(fetched), next(fetched))
            inner = tree.tile_levels(hashes)
            rows.add(rows_of(entries, k * TILE_WIDTH, hashes))
            widths.append(len(hashes))
            full = len(hashes) == TILE_WIDTH
            tops.append(inner[TILE_HEIGHT][0] if full else None)
            if k in want or not full:
                levels[k] = inner
    except TlogError as exc:
        error = exc
    finally:
        fetched.close()  # type: ignore[attr-defined]
    return Checked(k0, widths, tops, levels, rows.buckets, error)


def leaf_tile(
    size: int, k: int, bundle: tuple[bytes, TileId], leaf: tuple[bytes, TileId]
) -> tuple[list[bytes], list[bytes]]:
    """The entries and leaf hashes of bundle ``k``, checked against level-0 tile ``k``."""
    bid = tile.bundle_for(size, k)
    data, got = bundle
    try:
        entries = tile.parse_bundle(data, got.width)[: bid.width]
    except MalformedError as exc:
        raise MalformedError(f"{got.path()}: {exc}") from exc
    sha = hashlib.sha256
    hashes = [sha(b"\x00" + e).digest() for e in entries]
    hid = tile.hash_tile_for(0, size, k)
    tdata, tgot = leaf
    if len(tdata) != tgot.width * merkle.HASH_SIZE:
        raise MalformedError(
            f"{tgot.path()} is {len(tdata)} bytes, want {tgot.width * merkle.HASH_SIZE}"
        )
    if tdata[: hid.width * merkle.HASH_SIZE] != b"".join(hashes):
        for i, h in enumerate(hashes):
            if tdata[i * 32 : i * 32 + 32] != h:
                raise VerificationError(
                    f"{hid.path()}: hash {i} is not the leaf hash of entry "
                    f"{k * TILE_WIDTH + i} in {bid.path()}"
                )
    return entries, hashes


def check_runs(
    fetcher: Fetcher,
    size: int,
    want: frozenset[int],
    parallel: int,
    crew: Sequence[Worker] | None = None,
) -> Iterator[Checked]:
    """:func:`check_run` over every bundle, :data:`RUN_BUNDLES` at a time, in order: by
    the ``crew`` of :func:`workers_for` (started by the caller, so their start overlaps
    its other work; None: started here), or here when it has none."""
    count = (size + TILE_WIDTH - 1) // TILE_WIDTH
    spans = [(k, min(count, k + RUN_BUNDLES)) for k in range(0, count, RUN_BUNDLES)]
    if crew is None:
        with workers_for(fetcher, size, parallel) as started:
            yield from check_runs(fetcher, size, want, parallel, started)
        return
    if crew:
        yield from _in_workers(fetcher, size, want, parallel, crew, spans)
        return
    for k0, k1 in spans:
        yield check_run(fetcher, size, k0, k1, _within(want, k0, k1), parallel)


@contextlib.contextmanager
def workers_for(fetcher: Fetcher, size: int, parallel: int) -> Iterator[list[Worker]]:
    """The worker processes that check the log of ``size`` with ``parallel`` fetches in
    flight between them (:data:`WORKERS` of them, fewer if ``parallel`` is smaller, if
    the log has two runs or more and ``fetcher`` pickles; else none), started now and
    ended when the block ends (at once if they are still working: it stopped early)."""
    count = min(WORKERS, -(-size // TILE_WIDTH) // RUN_BUNDLES, parallel)
    crew: list[Worker] = []
    try:
        if count >= 2 and _picklable(fetcher):
            crew = [Worker() for _ in range(count)]
        yield crew
    finally:
        for worker in crew:
            worker.close()


def _in_workers(
    fetcher: Fetcher,
    size: int,
    want: frozenset[int],
    parallel: int,
    crew: Sequence[Worker],
    spans: list[tuple[int, int]],
) -> Iterator[Checked]:
    """The runs checked by the ``crew``, run ``i`` by worker ``i mod len(crew)`` (each
    takes its runs in order, one at a time, the next already queued), ``parallel``
    objects in flight between them; handed back in order."""
    each, spare = divmod(parallel, len(crew))  # worker j gets one more while j < spare
    tasks = [
        (fetcher, size, k0, k1, _within(want, k0, k1), max(1, each + (i % len(crew) < spare)))
        for i, (k0, k1) in enumerate(spans)
    ]
    ahead = 2 * len(crew)
    for i, task in enumerate(tasks[:ahead]):
        crew[i % len(crew)].send(task)
    for i in range(len(tasks)):
        checked = crew[i % len(crew)].receive()
        if i + ahead < len(tasks):
            crew[(i + ahead) % len(crew)].send(tasks[i + ahead])
        yield checked


class Worker:
    """A child process running :func:`check_run` on the tasks it is sent (pickled on
    its stdin, results on its stdout), started by :func:`tlog.child.start`. A child
    process, not :mod:`multiprocessing`: that imports the caller's main module again in
    each worker, which a script without a ``__main__`` guard does not survive. A worker
    that dies (killed, or failing to start) is a StorageError."""

    def __init__(self) -> None:
        try:
            self.proc = child.start("tlog.bundlecheck")
        except OSError as exc:
            raise StorageError(f"audit worker did not start: {exc}") from None
        #: Tasks sent and not answered yet.
        self.pending = 0

    def send(self, task: tuple[object, ...]) -> None:
        assert self.proc.stdin is not None
        try:
            pickle.dump(task, self.proc.stdin)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise self._died() from None
        self.pending += 1

    def receive(self) -> Checked:
        assert self.proc.stdout is not None
        try:
            ok, result = pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._died() from None
        self.pending -= 1
        if not ok:
            raise result
        assert isinstance(result, Checked)
        return result

    def _died(self) -> StorageError:
        self.pending = 0  # nothing more comes
        self.proc.kill()  # a worker still running (its output broken): it ends here
        return StorageError(f"audit worker exited with code {self.proc.wait()}")

    def close(self) -> None:
        """End the worker: at once if it is still working (the audit stopped early)."""
        if self.pending:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        self.proc.wait()


def serve(parent: int) -> None:
    """A worker's loop (:class:`Worker`): one task in, one result out, until its stdin
    ends or its parent dies.

    The GIL passes every :data:`SWITCH` seconds, not Python's 5 ms: a fetching thread
    whose answer came waits for the hashing thread to let go at most that long, rather
    than adding 5 ms to each of a run's round trips (a convoy at 8 GETs in flight)."""
    stdin, stdout = child.serving(parent)
    sys.setswitchinterval(SWITCH)
    try:
        while True:
            try:
                task = pickle.load(stdin)
            except EOFError:
                return
            try:
                out: tuple[bool, object] = (True, check_run(*task))
            except Exception as exc:  # handed to the audit, which raises it
                out = (False, exc)
            pickle.dump(out, stdout)
            stdout.flush()
    except BrokenPipeError:  # the audit was stopped
        return


def _within(want: frozenset[int], k0: int, k1: int) -> frozenset[int]:
    return frozenset(k for k in want if k0 <= k < k1)


def _picklable(fetcher: Fetcher) -> bool:
    try:
        pickle.dumps(fetcher)
    except Exception:  # any object may refuse in its own way
        return False
    return True
