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
   ``checkpoints/covers`` objects, as listing is not possible over HTTP) is signed by
   the log and commits to the root of the first ``size`` entries, so all of them are
   consistent with each other; their cosignature times never go backwards.

It stops at the first inconsistency, with an error naming the object and the index.
Nothing is cached: tiles are compared with what the entries imply, not trusted.

The pass keeps a Merkle frontier (the complete subtrees of the entries read so far) so
the root at any historical size costs a few hashes; memory is O(N / 256).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlog import layout, merkle, tile
from tlog.checkpoint import SignedCheckpoint, open_checkpoint
from tlog.errors import (
    InconsistencyError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.fetch import Fetcher
from tlog.note import Verifier
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
    #: Leaf groups whose ``checkpoints/covers`` object is missing (history unchecked).
    missing_covers: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _leaf_hashes(data: bytes, width: int, path: str) -> list[bytes]:
    """Leaf hashes of a bundle of exactly ``width`` entries (tile.parse_bundle + hash)."""
    sha = hashlib.sha256
    out: list[bytes] = []
    append = out.append
    pos, n = 0, len(data)
    while pos < n:
        if len(out) == width:
            raise MalformedError(f"{path}: {n - pos} bytes after its {width} entries")
        start = pos + 2
        if start > n:
            raise MalformedError(f"{path}: truncated inside the length of entry {len(out)}")
        end = start + (data[pos] << 8 | data[pos + 1])
        if end > n:
            raise MalformedError(f"{path}: entry {len(out)} is truncated")
        append(sha(b"\x00" + data[start:end]).digest())
        pos = end
    if len(out) != width:
        raise MalformedError(f"{path}: {len(out)} entries, want {width}")
    return out


def _tile_levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree inside one tile, bottom-up (node hashes, RFC 6962 §2.1)."""
    sha = hashlib.sha256
    levels = [hashes]
    row = hashes
    while len(row) > 1:
        row = [sha(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        levels.append(row)
    return levels


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


def _fetch_tile(fetcher: Fetcher, tid: TileId, limit: int) -> tuple[bytes, TileId]:
    """The object of ``tid``; a missing partial one is read as its full tile's prefix."""
    try:
        return fetcher.fetch(tid.path(), limit), tid
    except NotFoundError:
        if not tid.is_partial:
            raise
    full = tid.full()
    big = tile.MAX_BUNDLE_SIZE if tid.is_entries else tile.MAX_HASH_TILE_SIZE
    return fetcher.fetch(full.path(), big), full


def history(fetcher: Fetcher, size: int, report: AuditReport | None = None) -> list[int]:
    """Every published checkpoint size up to ``size``, from the covers objects."""
    sizes: set[int] = set()
    for group in range((size + layout.COVER_GROUP - 1) // layout.COVER_GROUP):
        key = layout.cover_for(group * layout.COVER_GROUP, size)
        try:
            data = fetcher.fetch(key, layout.MAX_COVER_SIZE)
        except NotFoundError:
            if report is not None:
                report.missing_covers.append(group)
            continue
        if not data.endswith(b"\n"):
            raise MalformedError(f"{key} does not end with a newline")
        prev = -1
        for line in data[:-1].split(b"\n"):
            if not line.isdigit() or (line[:1] == b"0" and line != b"0") or len(line) > 19:
                raise MalformedError(f"{key}: {line[:30]!r} is not a checkpoint size")
            s = int(line)
            if s <= prev:
                raise MalformedError(f"{key}: sizes not ascending ({prev}, {s})")
            if s <= group * layout.COVER_GROUP:
                raise VerificationError(f"{key}: size {s} covers none of group {group}")
            prev = s
            if s <= size:
                sizes.add(s)
    return sorted(sizes)


def audit(
    fetcher: Fetcher,
    latest: SignedCheckpoint,
    verifiers: Sequence[Verifier],
    *,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AuditReport:
    """Re-derive the tree of ``latest`` (already verified) from its entries; see above."""
    start = clock()
    cp = latest.checkpoint
    size = cp.size
    report = AuditReport(cp.origin, size, cp.root)
    # Historical checkpoints first (small objects), so each root is checked in passing.
    roots: dict[int, tuple[bytes, str]] = {}
    last_time: tuple[int, int] | None = None
    for s in history(fetcher, size, report):
        key = layout.history_key(s)
        try:
            signed = open_checkpoint(
                fetcher.fetch(key, layout.MAX_CHECKPOINT_SIZE), verifiers, cp.origin
            )
        except TlogError as exc:
            raise type(exc)(f"{key}: {exc}") from exc
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
        if s == size and signed.checkpoint.root != cp.root:
            raise InconsistencyError(
                f"{layout.CHECKPOINT} and {key} sign two roots for size {size} "
                f"({cp.root.hex()[:16]}…, {signed.checkpoint.root.hex()[:16]}…)",
                evidence=evidence(latest, signed, []),
            )
    # Whichever names it, the root checked against the entries at ``size`` is the latest's.
    roots.setdefault(size, (cp.root, layout.CHECKPOINT))
    pending = sorted(roots)

    frontier = _Frontier()
    above: list[bytes] = []  # roots of full level-0 tiles: level-8 nodes, left to right
    n_tiles = (size + TILE_WIDTH - 1) // TILE_WIDTH
    for k in range(n_tiles):
        bid = tile.bundle_for(size, k)
        data, got = _fetch_tile(fetcher, bid, bid.width * (2 + tile.MAX_ENTRY_SIZE))
        hashes = _leaf_hashes(data, got.width, got.path())[: bid.width]
        hid = tile.hash_tile_for(0, size, k)
        tdata, tgot = _fetch_tile(fetcher, hid, hid.width * merkle.HASH_SIZE)
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
        report.bundles += 1
        report.hash_tiles += 1
        levels = _tile_levels(hashes)
        base = k * TILE_WIDTH
        while pending and pending[0] <= base + len(hashes):
            s = pending.pop(0)
            got_root = frontier.root_with(levels, s - base)
            want, where = roots[s]
            if got_root != want:
                raise InconsistencyError(
                    f"{where} (size {s}) has root {want.hex()[:16]}…, but the entries give "
                    f"{got_root.hex()[:16]}…",
                    evidence={"checkpoint": where, "size": s},
                )
        if len(hashes) == TILE_WIDTH:
            frontier.push(TILE_HEIGHT, levels[TILE_HEIGHT][0])
            above.append(levels[TILE_HEIGHT][0])
        if progress is not None:
            progress(base + len(hashes))
    if pending:  # only size 0 can be left: an empty log
        for s in pending:
            want, where = roots[s]
            if s != 0 or want != merkle.EMPTY_ROOT:
                raise VerificationError(f"{where} (size {s}) is not the empty tree's root")
    # Hash tiles above level 0: each must hold the roots re-derived from below.
    level = 1
    row = above
    while size >> (TILE_HEIGHT * level):
        nxt: list[bytes] = []
        count = size >> (TILE_HEIGHT * level)
        for k in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            tid = tile.hash_tile_for(level, size, k)
            data, got = _fetch_tile(fetcher, tid, tid.width * merkle.HASH_SIZE)
            want_bytes = b"".join(row[k * TILE_WIDTH : k * TILE_WIDTH + tid.width])
            if len(data) != got.width * merkle.HASH_SIZE:
                raise MalformedError(
                    f"{got.path()} is {len(data)} bytes, want {got.width * merkle.HASH_SIZE}"
                )
            if data[: len(want_bytes)] != want_bytes:
                raise VerificationError(
                    f"{tid.path()} does not hold the roots of the level-{level - 1} tiles below it"
                )
            report.hash_tiles += 1
            if not tid.is_partial:
                nxt.append(merkle.root(row[k * TILE_WIDTH : (k + 1) * TILE_WIDTH]))
        row = nxt
        level += 1
    report.seconds = clock() - start
    return report
