"""Benchmark: raw-entry sequencing throughput into the local-folder store.

Usage: python tools/bench_sequence.py [--sizes 1000000] [--entry-bytes 64] [--dir D]
    [--chunk-entries N] [--rounds 2]

For each batch size: a fresh log, one batch of that many distinct raw entries, streamed
(generated as the sequencer reads them, as files or a queue are) and timed to the
published checkpoint (admission, hashing, tiles, index, staging, commit, apply with
fsync, publish, clean; a batch over ``--chunk-entries`` is committed in chunks). Prints
entries/s, the process's peak RSS so far (ru_maxrss: the figure the memory target
names; run one size per process to read it for that size), and object writes against
the theoretical minimum for one commit (entry bundles + hash tiles + covers objects +
history + checkpoint).

Then (``--rounds 2``, the default) a second batch of the same size on top of the first,
to show cost is flat in log size (only the right edge is read); ``--rounds 1`` for a
single batch (``--sizes 10000000 --rounds 1``: the 10M raw batch of the memory
target). CPU time per entry is printed too (this process's and its index worker's,
docs/index.md "Throughput"): on a shared virtual machine it is a steadier figure than
wall-clock rates; `uptime`'s load says how shared. Results are taken a chunk at a time
(``Sequencer.stream``, as ``tlog sequence`` does) and dropped, so the peak RSS is the
sequencer's, not a list of every input's outcome.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlog import layout, tile, tree
from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import CHUNK_ENTRIES, Sequencer
from tlog.storage.folder import FolderStore


class CountingStore(FolderStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.creates = 0
        self.writes = 0

    def create(self, key: str, data: bytes) -> None:
        self.creates += 1
        super().create(key, data)

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self.creates += len(items)
        super().create_many(items)

    def write(self, key: str, data: bytes) -> None:
        self.writes += 1
        super().write(key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        if key == layout.CHECKPOINT:  # published by compare-and-swap; the lock is not counted
            self.writes += 1
        return super().swap(key, data, expect)


def worker_cpu() -> float:
    """CPU seconds of this process's finished child processes (the index worker)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def minimum_writes(old: int, new: int) -> int:
    """Bundles + hash tiles that change between sizes, covers objects, history, checkpoint."""
    changed = {t for t in tile.tiles_for_size(new)} - {t for t in tile.tiles_for_size(old)}
    bundles = len(range(old // 256, (new - 1) // 256 + 1))
    covers = len(tree.covers(old, new, lambda _: b"%d\n" % old))
    return len(changed) + bundles + covers + 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--chunk-entries", type=int, default=CHUNK_ENTRIES)
    ap.add_argument("--entry-bytes", type=int, default=64)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--rounds", type=int, default=2, choices=(1, 2))
    args = ap.parse_args()
    keys = generate("bench.example/log").keys
    for n in [int(s) for s in args.sizes.split(",")]:
        root = Path(tempfile.mkdtemp(dir=args.dir, prefix="tlog-bench-"))
        try:
            store = CountingStore(root)
            seq = Sequencer(store, keys, chunk_entries=args.chunk_entries)
            seq.init()
            pad = b"x" * max(0, args.entry_bytes - 16)
            for rnd in range(args.rounds):
                cands = (Candidate("", b"%016d" % (rnd * n + i) + pad) for i in range(n))
                store.creates = store.writes = 0
                t0, c0, w0 = time.perf_counter(), time.process_time(), worker_cpu()
                (res,) = deque(seq.stream(cands), maxlen=1)  # each chunk's result dropped
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                wcpu = worker_cpu() - w0  # the index worker's (reaped at the end of the run)
                rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                cp = res.checkpoint.checkpoint
                published = (
                    store.creates + store.writes - 1
                )  # minus the staging bundle (the lock is a swap)
                print(
                    f"batch {n:>9,} on log of {cp.size - n:>9,}: {n / dt:>10,.0f} entries/s "
                    f"({dt:.2f} s; CPU {(cpu + wcpu) / n * 1e6:.2f} us/entry, "
                    f"of which index worker {wcpu / n * 1e6:.2f}), "
                    f"peak RSS {rss1 / 1024:.0f} MiB, "
                    f"objects published {published} vs minimum "
                    f"{minimum_writes(cp.size - n, cp.size)} "
                    f"(+ staging, lock; {-(-n // args.chunk_entries)} commits)",
                    flush=True,
                )
                del cands
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
