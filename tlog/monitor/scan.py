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

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from tlog import merkle, tile
from tlog.client import Client
from tlog.errors import NotFoundError, TlogError, VerificationError
from tlog.fetch.tiles import PARALLEL_FETCHES, fetch_tile
from tlog.index.writer import rows_of
from tlog.monitor.config import MonitorConfig
from tlog.monitor.examine import Examined, examine_bundle, is_rekor
from tlog.monitor.finding import Finding
from tlog.monitor.match import Roots, match_entry
from tlog.monitor.rows import DETAIL_ROWS, RowDigest, fold_raw
from tlog.tile import TILE_WIDTH

__all__ = ["Scanner"]

#: Bundles per window: the unit of progress, of state writes and of delivery.
WINDOW_BUNDLES = 64
#: Rekor entries in a window below which worker processes are not worth starting.
POOL_MIN = 2048
#: A bundle's entries in range: (index of the first, entries, leaf hashes).
_Part = tuple[int, list[bytes], list[bytes]]
#: A bundle's examination: done, in a worker, or not needed (the raw fast path).
_Pending = Future[list[Examined]] | list[Examined] | None
#: A window read ahead: (start, end, parts, pending examinations, folds in the workers).
_Ahead = tuple[int, int, list[_Part], list[_Pending], list[Future[tuple[int, int]]]]
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
        parallel: int = PARALLEL_FETCHES,
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
        self._seen: dict[bytes, int] = {}

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
        ahead = self._ahead(read_from, hi, digest)
        while ahead is not None:
            lo, end, parts, pending, folding = _unwrap(ahead)
            # The next window is fetched and handed to the workers while this one is
            # checked here; its failure, if any, is raised when its turn comes.
            ahead = self._ahead(end, hi, digest)
            findings: list[Finding] = []
            for (first, entries, hashes), p in zip(parts, pending, strict=True):
                ex = p.result() if isinstance(p, Future) else p
                if digest is not None and ex is not None:
                    at = [(first + i).to_bytes(8, "big") for i in range(len(ex))]
                    rows = [kh + at[i] for i, e in enumerate(ex) for kh in e.hashes]
                    digest.add(rows, in_range=True)
                findings += self._check(first, entries, hashes, ex, report_from)
            for future in folding:
                assert digest is not None
                digest.merge(*future.result())
            if lookup:
                findings += self._lookup(max(lo, report_from), end)
            yield end, findings

    def _ahead(self, lo: int, hi: int, digest: RowDigest | None) -> _Ahead | Exception | None:
        """The window starting at ``lo``: read, and its work handed to the workers."""
        if lo >= hi:
            return None
        k0 = lo // TILE_WIDTH
        k1 = min(-(-hi // TILE_WIDTH), k0 + self.window)
        end = min(hi, k1 * TILE_WIDTH)
        try:
            parts = self._window(k0, k1, lo, end)
        except TlogError as exc:
            return exc
        pending = self._examine(parts)
        folding = self._fold_raw(parts, pending, digest) if digest is not None else []
        return lo, end, parts, pending, folding

    # -- reading ----------------------------------------------------------------------

    def _window(self, k0: int, k1: int, lo: int, hi: int) -> list[_Part]:
        reader = self.client.reader
        reader.authenticate({(0, k) for k in range(k0, k1)})
        hashes = {k: reader.leaf_hashes(k) for k in range(k0, k1)}
        size = reader.size

        def fetch(k: int) -> list[bytes]:
            tid = tile.bundle_for(size, k)
            data, got = fetch_tile(self.client.fetcher, tid)
            entries = tile.parse_bundle(data, got.width)[: tid.width]
            for i, entry in enumerate(entries):
                if merkle.leaf_hash(entry) != hashes[k][i]:
                    raise VerificationError(
                        f"{got.path()}: entry {i} (log index {k * TILE_WIDTH + i}) does not "
                        f"match its leaf hash in tile/0/{tile.encode_index(k)}"
                    )
            if len(entries) != tid.width:
                raise VerificationError(f"{got.path()} holds {len(entries)} of {tid.width} entries")
            return entries

        with ThreadPoolExecutor(self.parallel) as pool:
            bundles = list(pool.map(fetch, range(k0, k1)))
        out = []
        for k, entries in zip(range(k0, k1), bundles, strict=True):
            a, b = max(lo, k * TILE_WIDTH), min(hi, (k + 1) * TILE_WIDTH)
            s = slice(a - k * TILE_WIDTH, b - k * TILE_WIDTH)
            out.append((a, entries[s], hashes[k][s]))
        return out

    # -- checking ---------------------------------------------------------------------

    def _needs(self, entries: list[bytes]) -> int:
        """How a bundle is examined: 2 if it holds Rekor entries (worth a worker
        process), 1 if ``rekor_only`` makes its raw entries invalid, 0 for the fast path
        (raw entries: their only watched key is their SHA-256, see :meth:`_raw`)."""
        if any(is_rekor(e) for e in entries):
            return 2
        return int(self.rekor_only)

    def _examine(self, parts: list[_Part]) -> list[_Pending]:
        """Each bundle's examined entries (None for the fast path); Rekor bundles in
        worker processes when the window holds enough of them."""
        needs = [self._needs(entries) for _, entries, _ in parts]
        rekor = sum(len(p[1]) for p, n in zip(parts, needs, strict=True) if n == 2)
        pooled = rekor >= POOL_MIN and self.workers > 1
        pending: list[_Pending] = []
        for (_, entries, hashes), n in zip(parts, needs, strict=True):
            args = (entries, [h.hex() for h in hashes], self.validate, self.rekor_only)
            if n == 2 and pooled:
                pending.append(self.pool().submit(examine_bundle, *args))
            else:
                pending.append(examine_bundle(*args) if n else None)
        return pending

    def pool(self) -> Executor:
        """The worker processes (started on first use)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers)
        return self._pool

    def _fold_raw(
        self, parts: list[_Part], pending: list[_Pending], digest: RowDigest
    ) -> list[Future[tuple[int, int]]]:
        """Fold the raw bundles' index rows into ``digest``: in the workers when the run
        is too large for the digest to keep its rows anyway (futures to merge)."""
        raw = [p for p, ex in zip(parts, pending, strict=True) if ex is None]
        big = (
            (digest.rows is None or digest.hi - digest.lo > DETAIL_ROWS)
            and self.workers > 1
            and sum(len(p[1]) for p in raw) >= POOL_MIN
        )
        futures = []
        for first, entries, hashes in raw:
            if big:
                futures.append(self.pool().submit(fold_raw, entries, first, hashes, digest.key))
            else:
                digest.add(rows_of(entries, first, hashes), in_range=True)
        return futures

    def _check(
        self,
        first: int,
        entries: list[bytes],
        hashes: list[bytes],
        examined: list[Examined] | None,
        report_from: int,
    ) -> list[Finding]:
        findings: list[Finding] = []
        seen = self._seen
        raw_digests = bool(self.config.digests)
        for i, h in enumerate(hashes):
            index = first + i
            earlier = seen.setdefault(h, index)
            if index < report_from:
                continue
            if earlier != index:
                findings.append(_duplicate(index, h, earlier))
            if examined is None:
                if raw_digests:
                    findings += self._raw(index, h, entries[i])
                continue
            ex = examined[i]
            if ex.invalid is not None:
                findings.append(Finding("invalid-entry", ex.invalid, index=index, uuid=h.hex()))
            findings += self._matches(index, h, entries[i], ex)
        return findings

    def _raw(self, index: int, h: bytes, entry: bytes) -> list[Finding]:
        """A raw entry against the watch list: its keys are its UUID and its SHA-256
        (:func:`tlog.index.keys.index_keys`), and only a digest can name the latter."""
        digest = ("sha256", hashlib.sha256(entry).hexdigest())
        if digest not in self.config.digests:
            return []
        return self._matches(index, h, entry, Examined((("uuid", h.hex()), digest)))

    def _matches(self, index: int, h: bytes, entry: bytes, ex: Examined) -> list[Finding]:
        matches = match_entry(self.config, entry, ex.keys, self.roots)
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

    def _lookup(self, lo: int, hi: int) -> list[Finding]:
        """Duplicates of entries ``[lo, hi)`` anywhere in the log, through the index."""
        if lo >= hi:
            return []
        try:
            self.client.index_head()
        except NotFoundError:
            return []
        reader = self.client.reader
        uuids = {}
        for k in range(lo // TILE_WIDTH, -(-hi // TILE_WIDTH)):
            for i, h in enumerate(reader.leaf_hashes(k)):
                if lo <= k * TILE_WIDTH + i < hi:
                    uuids[k * TILE_WIDTH + i] = h
        found = self.client.search([("uuid", h.hex()) for h in uuids.values()])
        out = []
        for index, h in uuids.items():
            for other in found[("uuid", h.hex())]:
                if other < lo and self.client.leaf_hash(other) == h:
                    out.append(_duplicate(index, h, other))
                    break
        return out


def _unwrap(ahead: _Ahead | Exception) -> _Ahead:
    if isinstance(ahead, Exception):
        raise ahead
    return ahead


def _duplicate(index: int, h: bytes, earlier: int) -> Finding:
    return Finding(
        "duplicate",
        f"entry {index} is entry {earlier} again (UUID {h.hex()})",
        index=index,
        uuid=h.hex(),
        evidence={"first_index": earlier},
    )
