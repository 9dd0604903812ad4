"""``tlog audit``: re-derive a whole published log from its entries (an fsck).

Given a verified checkpoint of size N, :func:`audit` reads every entry bundle and every
hash tile of the tree (C2SP tlog-tiles v0.1.0) and checks, in one streaming pass:

1. each bundle holds exactly the entries its width says, and their leaf hashes
   (RFC 6962 §2.1) are the level-0 hash tile at the same index;
2. each hash tile at level L ≥ 1 holds the roots of the 256-leaf-hash-tile subtrees
   below it, re-derived here, for full and right-edge (partial) tiles alike;
3. the root derived from the entries is the checkpoint's root (and a published
   ``checkpoints/<N>`` of the same size signs that very root);
4. every historical checkpoint (``checkpoints/<size>``, found through the
   covers objects, as listing is not possible over HTTP) is signed by
   the log and commits to the root of the first ``size`` entries, so all of them are
   consistent with each other; their cosignature times never go backwards;
5. the index (docs/index.md): every ``index/heads/<size>`` indexes exactly that
   checkpoint, and the latest head's segments hold exactly the rows rebuilt from the
   entries (a discrepancy names the rows missing and extra): :mod:`tlog.reindex`.

It stops at the first inconsistency, with an error naming the object and the index.
Nothing is cached: tiles are compared with what the entries imply, not trusted.
Objects are fetched ``parallel`` at a time ahead of the checks
(:func:`tlog.fetch.readahead.read_ahead`), which still take them one by one, in order,
so the first inconsistency found is the one a sequential pass would find. A big log's
bundles are checked in runs by worker processes (:mod:`tlog.bundlecheck`), handed back
in order; the historical checkpoints are found with few covers reads (:func:`history`),
and the published index is read during the pass (:class:`tlog.reindex.IndexRead`).

The pass keeps a Merkle frontier (the complete subtrees of the entries read so far) so
the root at any historical size costs a few hashes; memory is O(N / 256).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from tlog import layout, merkle, tree
from tlog.bundlecheck import Worker, check_runs, workers_for
from tlog.checkpoint import SignedCheckpoint, open_checkpoint
from tlog.errors import (
    InconsistencyError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.fetch import Fetcher
from tlog.fetch.partial import fetch_tile, read_covers
from tlog.fetch.readahead import PARALLEL, read_ahead
from tlog.note import Verifier
from tlog.reindex import IndexRead, Rows
from tlog.state import evidence
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId

#: Called with the number of entries checked so far.
Progress = Callable[[int], None]


@dataclass
class AuditReport:
    """What an audit checked (it raises instead of returning on any inconsistency)."""

    origin: str
    size: int
    root: bytes
    bundles: int = 0
    hash_tiles: int = 0
    checkpoints: int = 0
    #: Covers objects the log must publish but does not. The sizes they would list go
    #: unchecked, except that a size crossing a bundle end must be in a level-1 object:
    #: if one is missing, such a size fails the audit (:func:`history`).
    missing_covers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Index heads checked (docs/index.md), and rows of the latest index compared with
    #: the entries (None: the log has no index of its latest checkpoint).
    index_heads: int = 0
    index_rows: int | None = None


class _Frontier:
    """The complete subtrees of ``[0, n)`` for n a multiple of 256 (RFC 6962 decomposition)."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []

    def push(self, level: int, h: bytes) -> None:
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            h = merkle.node_hash(left, h)
            level += 1
        self.stack.append((level, h))

    def root_with(self, levels: list[list[bytes]], count: int) -> bytes:
        """Root of the frontier followed by the first ``count`` hashes of a tile."""
        nodes = [h for _, h in self.stack]
        pos = 0
        for h in range(TILE_HEIGHT, -1, -1):
            if count >> h & 1:
                nodes.append(levels[h][pos >> h])
                pos += 1 << h
        return merkle.fold(nodes) if nodes else merkle.EMPTY_ROOT


def history(
    fetcher: Fetcher, size: int, report: AuditReport | None = None, parallel: int = PARALLEL
) -> list[int]:
    """Every published checkpoint size up to ``size``, from the covers objects
    (tlog.tree "Covers objects"): each size is listed by the level-0 object of the
    bundle it ends in, and a batch that crossed bundle ends by the level-1 object too.

    Every covers object a log of ``size`` can have is read, level 1 (one per 256
    bundles) and level 0 (one per bundle, most of them absent in a log of big batches):
    a reader takes the level-0 object of an entry's bundle as it finds it, so one off
    the chain of batch ends must be found here too. The sizes found must agree with
    both levels: a size whose batch (from the size before it) crosses a bundle end must
    be in a level-1 object, and every size there in a level-0 one. Objects a log of
    ``size`` must publish but does not are recorded in ``report.missing_covers``; a size
    listed where it cannot belong is refused."""
    bundles = (size + TILE_WIDTH - 1) // TILE_WIDTH
    groups = (size // TILE_WIDTH + TILE_WIDTH - 1) // TILE_WIDTH
    crossed: set[int] = set()
    for tid, sizes in _covers(fetcher, 1, range(groups), size, report, parallel):
        for s in sizes:
            if s <= TILE_WIDTH * (TILE_WIDTH * tid.index + 1):
                raise VerificationError(
                    f"{layout.covers_key(tid)}: size {s} crosses none of its bundles' ends"
                )
        crossed.update(sizes)
    ended: set[int] = set()
    for tid, sizes in _covers(fetcher, 0, range(bundles), size, report, parallel):
        for s in sizes:
            if not tid.index * TILE_WIDTH < s <= (tid.index + 1) * TILE_WIDTH:
                where = layout.cover_for(tid.index * TILE_WIDTH, size)
                raise VerificationError(f"{where}: size {s} covers none of its entries")
        ended.update(sizes)
    if not crossed <= ended:
        raise VerificationError(
            f"sizes {sorted(crossed - ended)[:5]} cross bundle ends but end in no bundle"
        )
    found = sorted(s for s in ended if s <= size)
    for before, s in zip([0, *found], found, strict=False):
        if before // TILE_WIDTH < (s - 1) // TILE_WIDTH and s not in crossed:
            raise _unlisted(s, before, size, report)
    return found


def _unlisted(s: int, before: int, size: int, report: AuditReport | None) -> VerificationError:
    """Size ``s``, after ``before``, crosses a bundle end and is in no level-1 covers
    object: the one that should list it is missing or left it out, or the level-0
    object of its bundle lists a size no batch ended at."""
    level1 = layout.covers_key(tree.covers_tile(1, ((s - 1) // TILE_WIDTH - 1) // TILE_WIDTH, size))
    why = "is missing" if report is not None and level1 in report.missing_covers else "omits it"
    return VerificationError(
        f"size {s} (after {before}) crosses a bundle end, but no level-1 covers object "
        f"lists it: {level1} {why}, or {layout.cover_for(s - 1, size)} lists a size no "
        "batch ended at"
    )


def _covers(
    fetcher: Fetcher,
    level: int,
    indices: Iterable[int],
    size: int,
    report: AuditReport | None,
    parallel: int,
) -> Iterator[tuple[TileId, list[int]]]:
    """The sizes each covers object ``(level, index)`` lists ([] when it is absent:
    recorded as missing if the log must publish it, every level-1 object and the last
    bundle's level-0 one, where the latest checkpoint ends)."""
    read = read_covers(fetcher)
    last = (size + TILE_WIDTH - 1) // TILE_WIDTH - 1

    def listed(tid: TileId) -> list[int] | None:
        try:
            return tree.parse_covers(read(tid), layout.covers_key(tid))
        except NotFoundError:
            return None

    tids = [tree.covers_tile(level, i, size) for i in indices]
    for tid, sizes in zip(tids, read_ahead(listed, tids, parallel), strict=True):
        if sizes is None and (level == 1 or tid.index == last) and report is not None:
            report.missing_covers.append(layout.covers_key(tid))
        yield tid, sizes or []


def _history_roots(
    fetcher: Fetcher,
    latest: SignedCheckpoint,
    verifiers: Sequence[Verifier],
    report: AuditReport,
    parallel: int,
) -> dict[int, tuple[bytes, str]]:
    """The root each published checkpoint signs, by size (with the object naming it),
    checked for signatures, sizes and times that never go backwards."""
    cp = latest.checkpoint
    roots: dict[int, tuple[bytes, str]] = {}
    last_time: tuple[int, int] | None = None

    def opened(s: int) -> SignedCheckpoint:
        key = layout.history_key(s)
        try:
            data = fetcher.fetch(key, layout.MAX_CHECKPOINT_SIZE)
            return open_checkpoint(data, verifiers, cp.origin)
        except TlogError as exc:
            raise type(exc)(f"{key}: {exc}") from exc

    sizes = history(fetcher, cp.size, report, parallel)
    for s, signed in zip(sizes, read_ahead(opened, sizes, parallel), strict=True):
        key = layout.history_key(s)
        if signed.checkpoint.size != s:
            raise VerificationError(f"{key} holds a checkpoint of size {signed.checkpoint.size}")
        if signed.timestamp is not None:
            if last_time is not None and signed.timestamp < last_time[1]:
                raise VerificationError(
                    f"{key} is timestamped {signed.timestamp}, before checkpoint "
                    f"{last_time[0]}'s {last_time[1]}: integrated times went backwards"
                )
            last_time = (s, signed.timestamp)
        roots[s] = (signed.checkpoint.root, key)
        report.checkpoints += 1
        if s == cp.size and signed.checkpoint.root != cp.root:
            raise InconsistencyError(
                f"{layout.CHECKPOINT} and {key} sign two roots for size {cp.size} "
                f"({cp.root.hex()[:16]}…, {signed.checkpoint.root.hex()[:16]}…)",
                evidence=evidence(latest, signed, []),
            )
    # Whichever names it, the root checked against the entries at ``size`` is the latest's.
    roots.setdefault(cp.size, (cp.root, layout.CHECKPOINT))
    return roots


def _check_entries(
    fetcher: Fetcher,
    size: int,
    roots: dict[int, tuple[bytes, str]],
    report: AuditReport,
    progress: Progress | None,
    rows: Rows,
    parallel: int,
    crew: Sequence[Worker],
) -> list[bytes]:
    """Stream every bundle (checked against its level-0 tile by
    :mod:`tlog.bundlecheck`), checking each historical root on the way, and adding the
    entries' index rows to ``rows``; return the roots of the full level-0 tiles (level-8
    nodes, left to right)."""
    pending = sorted(roots)
    frontier = _Frontier()
    above: list[bytes] = []
    ends = frozenset(max(0, s - 1) // TILE_WIDTH for s in pending)
    for run in check_runs(fetcher, size, ends, parallel, crew):
        for j, width in enumerate(run.widths):
            k = run.first + j
            report.bundles += 1
            report.hash_tiles += 1
            base = k * TILE_WIDTH
            while pending and pending[0] <= base + width:
                s = pending.pop(0)
                got_root = frontier.root_with(run.levels[k], s - base)
                want, where = roots[s]
                if got_root != want:
                    raise InconsistencyError(
                        f"{where} (size {s}) has root {want.hex()[:16]}…, but the entries "
                        f"give {got_root.hex()[:16]}…",
                        evidence={"checkpoint": where, "size": s},
                    )
            top = run.tops[j]
            if top is not None:
                frontier.push(TILE_HEIGHT, top)
                above.append(top)
            if progress is not None:
                progress(base + width)
        rows.add_buckets(run.buckets)
        if run.error is not None:
            raise run.error
    for s in pending:  # only size 0 can be left: an empty log
        want, where = roots[s]
        if s != 0 or want != merkle.EMPTY_ROOT:
            raise VerificationError(f"{where} (size {s}) is not the empty tree's root")
    return above


def _check_upper_tiles(
    fetcher: Fetcher, above: list[bytes], report: AuditReport, parallel: int
) -> None:
    """Hash tiles above level 0 must hold the roots re-derived from below.

    The level-8 nodes are the roots of the full level-0 tiles (``above``), so the tiles
    at levels 1, 2, … are those of the tree over ``above`` (tlog.tree.grow), one level up.
    """
    grown = tree.grow(0, {}, above).tiles
    real = [TileId(tid.level + 1, tid.index, tid.width) for tid, _ in grown]
    fetched = read_ahead(lambda t: fetch_tile(fetcher, t), real, parallel)
    for (tid, want), (data, got) in zip(grown, fetched, strict=True):
        if len(data) != got.width * merkle.HASH_SIZE:
            raise MalformedError(
                f"{got.path()} is {len(data)} bytes, want {got.width * merkle.HASH_SIZE}"
            )
        if data[: len(want)] != want:
            raise VerificationError(
                f"{got.path()} does not hold the roots of the level-{tid.level} tiles below it"
            )
        report.hash_tiles += 1


def audit(
    fetcher: Fetcher,
    latest: SignedCheckpoint,
    verifiers: Sequence[Verifier],
    *,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    parallel: int = PARALLEL,
) -> AuditReport:
    """Re-derive the tree of ``latest`` (already verified) from its entries; see above.
    ``parallel`` bounds the objects fetched at once (1: one after another)."""
    start = clock()
    cp = latest.checkpoint
    report = AuditReport(cp.origin, cp.size, cp.root)
    # One of the ``parallel`` fetches reads the published index during the pass over the
    # entries (when there are a few to share); its errors still come out in this order.
    share = 1 if parallel >= 8 else 0
    index: IndexRead | None = None
    try:
        with workers_for(fetcher, cp.size, parallel - share) as crew:  # start during history
            # Historical checkpoints first (small objects), so each root is checked then.
            roots = _history_roots(fetcher, latest, verifiers, report, parallel)
            signed = {s: r for s, (r, _) in roots.items()}
            index = IndexRead(fetcher, latest, verifiers, signed, share) if share else None
            rows = Rows()
            above = _check_entries(
                fetcher, cp.size, roots, report, progress, rows, parallel - share, crew
            )
        _check_upper_tiles(fetcher, above, report, parallel)
    except BaseException:
        if index is not None:
            index.stop()  # its thread reads no more of an index nobody will compare
        raise
    if index is None:
        index = IndexRead(fetcher, latest, verifiers, signed, parallel)
    report.index_heads, report.index_rows = index.check(rows)
    report.seconds = clock() - start
    return report
