"""Reading every new entry and checking it (docs/monitor.md "Scan").

Entries come from the bundles of the verified tree: a window of leaf tiles is
authenticated at once by the client's :class:`~tlog.fetch.tiles.TileReader` (hash tiles
fetched in parallel), then the window's bundles are fetched in parallel (bounded by
``parallel``) and each entry checked against its authenticated leaf hash before use.
Bundles are not cached: a monitor reads each once, and its disk use must not grow with
the log. Rekor entries are examined (:func:`tlog.monitor.examine.examine_bundle`) in
worker processes when a window holds enough of them to pay for it.

Each entry is checked for: validity (:mod:`.examine`), a duplicate (the same leaf hash
at another index: within what this run reads, and, when the run is small and starts
past 0, against the whole log through the index), and the watch list
(:func:`tlog.monitor.match.match_entry`). Its index rows go into a
:class:`~tlog.monitor.rows.RowDigest` for the index check.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from tlog import tile
from tlog.client import Client
from tlog.errors import TlogError, VerificationError
from tlog.fetch.readahead import PARALLEL, read_ahead
from tlog.fetch.tiles import fetch_tile
from tlog.index.writer import rows_of
from tlog.monitor.config import MonitorConfig
from tlog.monitor.duplicate import Duplicates
from tlog.monitor.examine import BundleReport, BundleTask, Examined, check_bundles
from tlog.monitor.finding import Finding
from tlog.monitor.leaves import LeafTile, fetch_leaf_tile, leaf_roots
from tlog.monitor.match import Match, Roots, match_entry
from tlog.monitor.rows import RowDigest
from tlog.tile import TILE_WIDTH

__all__ = ["Scanner"]

#: Bundles per window: the unit of progress, of state writes and of delivery.
WINDOW_BUNDLES = 64
#: Entries in a run below which worker processes are not worth starting.
POOL_MIN = 2048
#: A bundle's check: done here, or in a worker.
_Pending = Future[list[BundleReport]] | list[BundleReport]
#: A window read ahead: (start, end, its bundles' tasks, their checks by chunk).
_Ahead = tuple[int, int, list[BundleTask], list[_Pending]]
#: Bundles per worker task (fewer, larger tasks: less of the pool's per-task cost).
CHUNK_BUNDLES = 4
#: Runs of at most this many entries (starting past 0) look their UUIDs up in the index.
LOOKUP_LIMIT = 1 << 16


class Scanner:
    """Scans ranges of one verified tree against one watch list."""

    def __init__(
        self,
        client: Client,
        config: MonitorConfig,
        *,
        roots: Roots | None = None,
        validate: bool = True,
        rekor_only: bool = False,
        parallel: int = PARALLEL,
        workers: int | None = None,
        window: int = WINDOW_BUNDLES,
    ) -> None:
        self.client = client
        self.config = config
        self.roots = roots
        self.validate = validate
        self.rekor_only = rekor_only
        self.parallel = max(1, parallel)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.window = max(1, window)
        self._pool: Executor | None = None
        self._pooled = False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def scan(
        self, read_from: int, report_from: int, hi: int, digest: RowDigest | None, lookup: bool
    ) -> Iterator[tuple[int, list[Finding]]]:
        """For each window of ``[read_from, hi)``: its end and the findings of its
        entries at or past ``report_from`` (those before only feed ``digest`` and the
        duplicate check). ``lookup``: also ask the index whether each UUID is elsewhere."""
        self._pooled = self.workers > 1 and hi - read_from >= POOL_MIN
        _settle()
        dups = Duplicates(self.client, read_from)
        ahead = self._ahead(read_from, hi, digest)
        while ahead is not None:
            lo, end, tasks, pending = _unwrap(ahead)
            # The next window is fetched and handed to the workers while this one is
            # checked here; its failure, if any, is raised when its turn comes.
            ahead = self._ahead(end, hi, digest)
            findings: list[Finding] = []
            hits: list[tuple[int, bytes]] = []
            reports = [r for p in pending for r in (p.result() if isinstance(p, Future) else p)]
            for task, report in zip(tasks, reports, strict=True):
                if report.error is not None:
                    k = task.first // TILE_WIDTH
                    raise VerificationError(
                        f"{tile.bundle_for(self.client.size, k).path()}: {report.error}"
                    )
                if digest is not None:
                    digest.merge(report.count, report.product)
                hits += dups.add(task.first, task.hashes)
                findings += self._check(task, report, report_from)
            findings += dups.confirm([(j, h) for j, h in hits if j >= report_from])
            if lookup:
                known = {f.index for f in findings if f.kind == "duplicate" and f.index is not None}
                findings += dups.lookup(max(lo, report_from), end, known)
            findings.sort(key=lambda f: f.index or 0)
            yield end, findings

    def _ahead(self, lo: int, hi: int, digest: RowDigest | None) -> _Ahead | Exception | None:
        """The window starting at ``lo``: read, and its bundles handed to the workers."""
        if lo >= hi:
            return None
        k0 = lo // TILE_WIDTH
        k1 = min(-(-hi // TILE_WIDTH), k0 + self.window)
        end = min(hi, k1 * TILE_WIDTH)
        try:
            tasks = self._window(k0, k1, lo, end, digest)
        except TlogError as exc:
            return exc
        chunks = [tasks[i : i + CHUNK_BUNDLES] for i in range(0, len(tasks), CHUNK_BUNDLES)]
        pending: list[_Pending] = [
            self.pool().submit(check_bundles, c) if self._pooled else check_bundles(c)
            for c in chunks
        ]
        return lo, end, tasks, pending

    def _window(
        self, k0: int, k1: int, lo: int, hi: int, digest: RowDigest | None
    ) -> list[BundleTask]:
        """The tasks of bundles ``k0``..``k1 - 1`` for entries ``[lo, hi)``: the window's
        bundles and leaf tiles fetched in parallel (:mod:`tlog.monitor.leaves`)."""
        client = self.client
        size = client.reader.size
        roots = leaf_roots(client, k0, k1)
        edge = {k: fetch_leaf_tile(client, k, roots) for k in range(k0, k1) if k not in roots}

        def fetch(k: int) -> tuple[bytes, int, LeafTile]:
            data, got = fetch_tile(client.fetcher, tile.bundle_for(size, k))
            return data, got.width, edge[k] if k in edge else fetch_leaf_tile(client, k, roots)

        bundles = list(read_ahead(fetch, range(k0, k1), self.parallel))
        tasks = []
        key = digest.key if digest is not None else None
        for k, (data, width, (tdata, twidth, root)) in zip(range(k0, k1), bundles, strict=True):
            a, b = max(lo, k * TILE_WIDTH), min(hi, (k + 1) * TILE_WIDTH)
            tasks.append(
                BundleTask(
                    a,
                    data,
                    width,
                    a - k * TILE_WIDTH,
                    b - a,
                    tdata,
                    twidth,
                    root,
                    self.config,
                    self.validate,
                    self.rekor_only,
                    key,
                )
            )
        return tasks

    def rows(self, lo: int, hi: int) -> Iterator[bytes]:
        """The index rows of entries ``[lo, hi)`` read again (to name the rows of an
        index mismatch), by the sequencer's own :func:`tlog.index.writer.rows_of`."""
        reader = self.client.reader
        for k in range(lo // TILE_WIDTH, -(-hi // TILE_WIDTH)):
            a, b = max(lo, k * TILE_WIDTH) - k * TILE_WIDTH, min(hi - k * TILE_WIDTH, TILE_WIDTH)
            yield from rows_of(reader.entries(k)[a:b], k * TILE_WIDTH + a)

    @property
    def pooled(self) -> bool:
        """Whether this scan's work went to worker processes."""
        return self._pooled

    def pool(self) -> Executor:
        """The worker processes (started on first use)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, initializer=_settle)
        return self._pool

    # -- checking ---------------------------------------------------------------------

    def _check(self, task: BundleTask, report: BundleReport, report_from: int) -> list[Finding]:
        findings: list[Finding] = []
        for i, reason in report.invalid:
            index = task.first + i
            if index >= report_from:
                uuid = task.hashes[32 * i : 32 * i + 32].hex()
                findings.append(Finding("invalid-entry", reason, index=index, uuid=uuid))
        for i, entry, keys, matched in report.candidates:
            index = task.first + i
            if index >= report_from:
                h = task.hashes[32 * i : 32 * i + 32]
                findings += self._matches(index, h, entry, Examined(keys), matched)
        return findings

    def _matches(
        self, index: int, h: bytes, entry: bytes, ex: Examined, matched: tuple[Match, ...]
    ) -> list[Finding]:
        """The findings of an entry that matched the watch list in a worker (``matched``:
        without CA roots; read again here with them)."""
        matches = (
            list(matched)
            if self.roots is None
            else match_entry(self.config, entry, ex.keys, self.roots)
        )
        if not matches:
            return []
        out = []
        for kind, group in (
            ("match", [m for m in matches if m.verified]),
            ("unverified-identity", [m for m in matches if not m.verified]),
        ):
            if group:
                what = ", ".join(f"{m.rule} {m.value}" for m in group)
                message = (
                    f"entry {index} matches {what}"
                    if kind == "match"
                    else f"entry {index} claims {what} in a certificate the CA roots "
                    "do not vouch for"
                )
                out.append(
                    Finding(
                        kind,
                        message,
                        index=index,
                        uuid=h.hex(),
                        matched=tuple(m.document() for m in group),
                    )
                )
        return out


def _settle() -> None:
    """Leave the objects this process holds now (its modules, mostly) out of the garbage
    collector's full passes: a scan allocates steadily, and each full pass would walk
    them all again. Garbage is collected first, so none is kept."""
    gc.collect()
    gc.freeze()


def _unwrap(ahead: _Ahead | Exception) -> _Ahead:
    if isinstance(ahead, Exception):
        raise ahead
    return ahead
