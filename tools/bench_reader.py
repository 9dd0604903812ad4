"""Benchmark: what the verifying reader costs.

Usage: python tools/bench_reader.py [--audit-size 1000000] [--entry-bytes 200] [--quick]

1. **GETs for a cold inclusion proof** (checkpoint + tiles, empty cache) in logs of 1k,
   100k and 10M entries, for a spread of indices; then the same with the entry bundle
   (``get``), and warm (a new client on the same disk cache: tile GETs must be 0).
   The 1k and 100k logs are built by the sequencer in memory; the 10M log is synthetic:
   a fetcher that computes any tile on demand from a periodic leaf pattern (leaf-hash
   tile k repeats every 7 tiles, so every subtree hash has one of 7 values per level
   and is computed in O(1)), signed by a real log key. Its tiles authenticate exactly
   like real ones.
2. **Warm proof verification rate**: RFC 9162 inclusion-proof verification of proofs in
   the 10M tree (23-24 hashes each), and proof computation + verification from warm tiles.
3. **Audit throughput** over a local folder log of ``--audit-size`` raw entries of
   ``--entry-bytes`` bytes, built by the sequencer.

Targets: cold ≤ ⌈log₂₅₆ N⌉ + 2 GETs, warm 0 tile GETs, ≥ 50,000 proofs/s verified,
audit ≥ 500,000 entries/s.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlog import layout, merkle, tile
from tlog.admission import Candidate
from tlog.audit import audit
from tlog.checkpoint import Checkpoint, open_checkpoint
from tlog.client import Client
from tlog.errors import NotFoundError, OversizeError
from tlog.fetch import Fetcher
from tlog.fetch.cache import DiskTileCache
from tlog.fetch.store import StoreFetcher
from tlog.keys import LogKeys, generate
from tlog.note import sign
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore
from tlog.storage.memory import MemoryStore
from tlog.tile import TILE_HEIGHT, TILE_WIDTH, TileId

PERIOD = 7  # coprime with 256, so tile types mix at every level
T0 = 1_767_225_600


class Counting:
    """A fetcher wrapper that counts GETs by kind."""

    def __init__(self, inner: Fetcher) -> None:
        self.inner = inner
        self.paths: list[str] = []

    def fetch(self, path: str, limit: int) -> bytes:
        self.paths.append(path)
        return self.inner.fetch(path, limit)

    def tiles(self) -> int:
        return sum(p.startswith("tile/") for p in self.paths)


class SyntheticLog:
    """A log of ``size`` leaves whose tiles are computed on demand (see module doc)."""

    def __init__(self, size: int, keys: LogKeys) -> None:
        self.size = size
        self.keys = keys
        self._tile_levels = [
            _levels([self._leaf_hash(s, t) for t in range(TILE_WIDTH)]) for s in range(PERIOD)
        ]
        self._memo: dict[tuple[int, int], bytes] = {}
        root = merkle.fold([self.node(lv, j) for lv, j in merkle.range_nodes(0, size)])
        body = Checkpoint(keys.origin, size, root).format()
        self.note = sign(body, keys.signers(lambda: T0)).format()

    @staticmethod
    def entry(kind: int, pos: int) -> bytes:
        return b"bench entry %d %d\n" % (kind, pos)

    def _leaf_hash(self, kind: int, pos: int) -> bytes:
        return merkle.leaf_hash(self.entry(kind, pos))

    def _typed(self, level: int, kind: int) -> bytes:
        """Hash of a level-``level`` (≥ 8) subtree whose first level-0 tile has type ``kind``."""
        key = (level, kind)
        if key not in self._memo:
            if level == TILE_HEIGHT:
                self._memo[key] = self._tile_levels[kind][TILE_HEIGHT][0]
            else:
                half = 1 << (level - 1 - TILE_HEIGHT)
                left = self._typed(level - 1, kind)
                right = self._typed(level - 1, (kind + half) % PERIOD)
                self._memo[key] = merkle.node_hash(left, right)
        return self._memo[key]

    def node(self, level: int, index: int) -> bytes:
        if level >= TILE_HEIGHT:
            return self._typed(level, (index << (level - TILE_HEIGHT)) % PERIOD)
        base = index << level
        kind = (base >> TILE_HEIGHT) % PERIOD
        return self._tile_levels[kind][level][(base % TILE_WIDTH) >> level]

    def fetch(self, path: str, limit: int) -> bytes:
        if path == layout.CHECKPOINT:
            return self.note
        tid = TileId.parse(path)
        level = max(tid.level, 0)
        if (self.size >> (TILE_HEIGHT * level)) - tid.index * TILE_WIDTH < tid.width:
            raise NotFoundError(f"no object {path}")
        first = tid.index * TILE_WIDTH
        if tid.is_entries:
            kind = tid.index % PERIOD
            data = tile.format_bundle([self.entry(kind, i) for i in range(tid.width)])
        else:
            data = b"".join(self.node(TILE_HEIGHT * level, first + i) for i in range(tid.width))
        if len(data) > limit:
            raise OversizeError(f"{path} over {limit}")
        return data


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    out = [hashes]
    while len(out[-1]) > 1:
        row = out[-1]
        out.append([merkle.node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)])
    return out


def built_log(size: int, keys: LogKeys) -> MemoryStore:
    store = MemoryStore()
    seq = Sequencer(store, keys, clock=lambda: T0)
    seq.init()
    batch = 50_000
    for start in range(0, size, batch):
        n = min(batch, size - start)
        seq.sequence([Candidate("", b"entry %d\n" % i) for i in range(start, start + n)])
    return store


def target(n: int) -> int:
    return math.ceil(math.log(n, 256)) + 2


def bench_gets(name: str, make_fetcher: Callable[[], Fetcher], keys: LogKeys, size: int) -> None:
    rng = random.Random(1)
    indices = sorted({0, size // 2, size - 1, *(rng.randrange(size) for _ in range(5))})
    proof_gets, entry_gets, warm_tiles = [], [], []
    for index in indices:
        with tempfile.TemporaryDirectory() as cache_dir:
            cache = DiskTileCache(Path(cache_dir), keys.origin)
            f = Counting(make_fetcher())
            c = Client(f, keys.verifiers(), cache=cache)
            c.inclusion(index)
            proof_gets.append(len(f.paths))
            c.entry(index)
            entry_gets.append(len(f.paths))
            f2 = Counting(make_fetcher())
            c2 = Client(f2, keys.verifiers(), cache=cache)
            c2.inclusion(index)
            c2.entry(index)
            warm_tiles.append(f2.tiles())
    print(
        f"  {name:>11} N={size:>10,}: cold proof {min(proof_gets)}–{max(proof_gets)} GETs "
        f"(target ≤ {target(size)}), +entry {min(entry_gets)}–{max(entry_gets)}, "
        f"warm tile GETs {max(warm_tiles)}  [{len(indices)} indices]"
    )


def bench_verify(log: SyntheticLog, keys: LogKeys, seconds: float) -> None:
    c = Client(log, keys.verifiers())
    size, root = log.size, c.latest().checkpoint.root
    rng = random.Random(2)
    samples = []
    for _ in range(500):
        i = rng.randrange(size)
        samples.append((i, c.leaf_hash(i), c.inclusion(i)))
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i, leaf, proof in samples:
            merkle.verify_inclusion(i, size, leaf, proof, root)
        n += len(samples)
    rate = n / (time.perf_counter() - start)
    hashes = sum(len(p) for _, _, p in samples) / len(samples)
    print(
        f"  N={size:>10,}: verify inclusion proofs ({hashes:.1f} hashes avg): "
        f"{rate:,.0f} proofs/s (target ≥ 50,000)"
    )
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i, _, _ in samples:
            c.inclusion(i)  # computes from warm tiles and verifies against the root
        n += len(samples)
    rate = n / (time.perf_counter() - start)
    print(f"  N={size:>10,}: compute + verify from warm tiles: {rate:,.0f} proofs/s")


def bench_audit(size: int, entry_bytes: int, keep: Path | None) -> None:
    keys = generate("bench.example/audit").keys
    root = keep or Path(tempfile.mkdtemp(prefix="tlog-audit-"))
    try:
        store = FolderStore(root / "log")
        t = time.perf_counter()
        seq = Sequencer(store, keys, clock=lambda: T0)
        seq.init()
        pad = b"x" * max(0, entry_bytes - 24)
        batch = 100_000
        for start in range(0, size, batch):
            n = min(batch, size - start)
            batch_entries = [b"%020d " % i + pad + b"\n" for i in range(start, start + n)]
            seq.sequence([Candidate("", e) for e in batch_entries])
        built = time.perf_counter() - t
        fetcher = StoreFetcher(FolderStore(root / "log"))
        latest = open_checkpoint(fetcher.fetch("checkpoint", 1 << 20), keys.verifiers())
        t = time.perf_counter()
        report = audit(fetcher, latest, keys.verifiers())
        took = time.perf_counter() - t
        print(
            f"  audit of {size:,} entries of {entry_bytes} bytes ({report.bundles} bundles, "
            f"{report.hash_tiles} hash tiles, {report.checkpoints} checkpoints): {took:.2f}s = "
            f"{size / took:,.0f} entries/s (target ≥ 500,000); log built in {built:.1f}s"
        )
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audit-size", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--dir", type=Path, help="keep the audit log here")
    args = parser.parse_args()

    keys = generate("bench.example/log").keys
    print("GETs per inclusion proof (checkpoint included):")
    for size in (1_000, 100_000):
        store = built_log(size if not args.quick else min(size, 5_000), keys)
        n = open_checkpoint(store.read("checkpoint", 1 << 20), keys.verifiers()).checkpoint.size
        bench_gets("sequenced", lambda s=store: StoreFetcher(s), keys, n)  # type: ignore[misc]
    big = 10_000_000
    log = SyntheticLog(big, keys)
    bench_gets("synthetic", lambda: log, keys, big)
    print("Warm proofs:")
    bench_verify(log, keys, args.seconds)
    bench_verify(SyntheticLog(1_000_000, keys), keys, args.seconds)
    print("Audit:")
    bench_audit(args.audit_size if not args.quick else 20_000, args.entry_bytes, args.dir)


if __name__ == "__main__":
    main()
