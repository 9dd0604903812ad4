"""Benchmark: the search index's costs over a synthetic log (docs/index.md "Costs").

Usage: python tools/bench_index.py [--entries 10000000] [--batches 1,100,10000,1000000]
                                   [--keys 5] [--lookups 20] [--dir D]

The log has ``--entries`` entries with ``--keys`` index keys each (UUID, artifact digest,
key fingerprint, email, email with issuer: the four kinds). Sequencing 10M entries one
at a time is far too slow to measure, so, for each batch size B of the grid:

1. **Writing** is simulated exactly on counts: the same size-tiered policy as
   :mod:`tlog.index.lsm` (``level``, ``FANOUT``) is run batch after batch on segment row
   counts only, adding for each batch the segment objects that survive it and the
   ``index/heads/<size>`` object (its size computed as the real head formats it).
   Printed: object writes per batch and index bytes per entry, amortized over the
   whole log.
2. **Lookups** run the real reader (:func:`tlog.index.lookup.lookup`) against real
   segments of the final shape: each live segment is built (uniformly random key
   hashes — the distribution SHA-256 gives — with one popular key of ~1,000 hits
   spread over the segments) and written to a folder, and read by ranges. Printed:
   round trips (checkpoint, head, segment rounds), requests and bytes per cold lookup,
   for keys with a hit, without, and the popular key; and the requests a 1-entry
   batch's dedup check costs the sequencer (its head read plus the UUID lookup).

Big segments are generated with numpy when it is installed (rows packed and sorted in
arrays); without it, in Python (keep --entries small).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlog.index.head import IndexHead
from tlog.index.lookup import Stats, lookup
from tlog.index.lsm import FANOUT, level
from tlog.index.segment import (
    BLOCK_ROWS,
    KNOT_ROWS,
    ROW_SIZE,
    SegmentInfo,
    build_packed,
    knot_count,
)
from tlog.storage.folder import FolderStore

#: A signed head's fixed part: format line, origin, size, root, blank line, and one
#: Ed25519 signature line (an ECDSA log adds a second, ~100 bytes).
HEAD_FIXED = 14 + 30 + 10 + 45 + 1 + 100


def segment_bytes(rows: int) -> int:
    blocks = -(-rows // BLOCK_ROWS)
    return rows * ROW_SIZE + blocks * (blocks - 1).bit_length() * 32


def line_bytes(rows: int) -> int:
    """A head line: rows, base64 root, error bound (about 2·√(rows per knot interval),
    as measured on random keys), knot deltas."""
    k = knot_count(rows)
    knots = (k - 1) * (len(str(int(math.sqrt(rows / k)))) + 2)  # "-dev," ≈ ±√(rows/k)
    error = len(str(int(2 * math.sqrt(rows / k))))
    return len(str(rows)) + 1 + 44 + 1 + error + 1 + knots


@dataclass
class Writes:
    batches: int = 0
    objects: int = 0
    bytes: int = 0
    live: list[int] | None = None


def simulate(entries: int, batch: int, keys: int) -> Writes:
    """Object writes and bytes of the index over ``entries`` in batches of ``batch``."""
    by_level: dict[int, list[int]] = {}
    head_lines = 0
    out = Writes()
    done = 0
    while done < entries:
        n = min(batch, entries - done)
        done += n
        rows = n * keys
        while True:  # add_rows: merge while a level holds FANOUT segments
            group = by_level.setdefault(level(rows), [])
            group.append(rows)
            head_lines += line_bytes(rows)
            if len(group) < FANOUT:
                break
            rows = sum(group)
            head_lines -= sum(line_bytes(r) for r in group)
            group.clear()
        # One segment object survives the batch (intermediate merges are never written),
        # plus index/heads/<size>.
        out.objects += 2
        out.bytes += segment_bytes(rows) + HEAD_FIXED + head_lines
        out.batches += 1
    out.live = sorted((r for g in by_level.values() for r in g), reverse=True)
    return out


def make_segment(rows: int, popular: bytes, hits: int, start: int) -> bytes:
    """Sorted packed rows: random key hashes plus ``hits`` rows of ``popular``."""
    try:
        import numpy as np
    except ImportError:
        keyset = [os.urandom(16) + (start + i).to_bytes(8, "big") for i in range(rows - hits)]
        keyset += [popular + (start + i).to_bytes(8, "big") for i in range(hits)]
        return b"".join(sorted(keyset))
    rng = np.random.default_rng(start)
    hi = rng.integers(0, 2**63, rows, dtype=np.uint64) * 2 + rng.integers(
        0, 2, rows, dtype=np.uint64
    )
    lo = rng.integers(0, 2**63, rows, dtype=np.uint64)
    idx = np.arange(start, start + rows, dtype=np.uint64)
    if hits:
        hi[:hits] = int.from_bytes(popular[:8], "big")
        lo[:hits] = int.from_bytes(popular[8:], "big")
    order = np.lexsort((idx, lo, hi))
    packed = np.empty(rows, dtype=[("hi", ">u8"), ("lo", ">u8"), ("idx", ">u8")])
    packed["hi"], packed["lo"], packed["idx"] = hi[order], lo[order], idx[order]
    return packed.tobytes()


def measure_lookups(live: list[int], folder: Path, lookups: int) -> dict[str, list[Stats]]:
    store = FolderStore(folder)
    popular = os.urandom(16)
    segments, sample = [], []
    start = 0
    for rows in live:
        hits = min(rows // 4, max(1, 1000 * rows // max(1, sum(live))))
        info, data = build_packed(make_segment(rows, popular, hits, start))
        store.write(info.key, data)
        segments.append(info)
        mid = (rows // 2) * ROW_SIZE
        sample.append(data[mid : mid + 16] if info.blocks == 1 else _row_key(info, data, rows // 2))
        start += rows
    head = IndexHead("bench.example/log", start, bytes(32), tuple(segments))
    out: dict[str, list[Stats]] = {"hit": [], "miss": [], "popular": []}
    for i in range(lookups):
        for kind, key in (
            ("hit", sample[i % len(sample)]),
            ("miss", os.urandom(16)),
            ("popular", popular),
        ):
            stats = Stats()
            lookup(head, [key], store.read_range, stats=stats)
            stats.bytes += len(head.format()) + 200
            out[kind].append(stats)
    return out


def _row_key(info: SegmentInfo, data: bytes, row: int) -> bytes:
    j, r = divmod(row, BLOCK_ROWS)
    off = j * info.slot + r * ROW_SIZE
    return data[off : off + 16]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=10_000_000)
    p.add_argument("--batches", default="1,100,10000,1000000")
    p.add_argument("--keys", type=int, default=5, help="index keys per entry")
    p.add_argument("--lookups", type=int, default=20)
    p.add_argument("--dir", type=Path, default=None, help="where to write segments")
    args = p.parse_args()
    print(f"synthetic log: {args.entries:,} entries × {args.keys} keys; fanout {FANOUT}")
    header = (
        "batch",
        "writes/batch",
        "bytes/entry",
        "segments",
        "RT hit",
        "req hit",
        "KiB hit",
        "RT miss",
        "KiB miss",
        "KiB popular",
        "dedup req (1-entry)",
    )
    print(" | ".join(header))
    for batch in (int(b) for b in args.batches.split(",")):
        t = time.time()
        w = simulate(args.entries, batch, args.keys)
        assert w.live is not None
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            stats = measure_lookups(w.live, Path(tmp), args.lookups)
        hit, miss, pop = stats["hit"], stats["miss"], stats["popular"]

        def worst(xs: list[Stats], f: str) -> float:
            return max(getattr(s, f) for s in xs)

        row = (
            f"{batch:,}",
            f"{w.objects / w.batches:.2f}",
            f"{w.bytes / args.entries:,.0f}",
            str(len(w.live)),
            f"{2 + worst(hit, 'rounds'):.0f}",
            f"{2 + worst(hit, 'requests'):.0f}",
            f"{worst(hit, 'bytes') / 1024:,.0f}",
            f"{2 + worst(miss, 'rounds'):.0f}",
            f"{worst(miss, 'bytes') / 1024:,.0f}",
            f"{worst(pop, 'bytes') / 1024:,.0f}",
            f"{1 + worst(miss, 'requests'):.0f}",
        )
        print(" | ".join(row), f"({time.time() - t:.0f}s)", flush=True)
    print(
        "RT = sequential round trips (checkpoint, then index/heads/<size>, then segment "
        "rounds); req = HTTP requests (checkpoint and head included); KiB include the "
        f"head. Knots every {KNOT_ROWS:,} rows; blocks of {BLOCK_ROWS} rows; "
        f"log4 levels: {math.ceil(math.log(max(2, args.entries * args.keys), FANOUT))}."
    )


if __name__ == "__main__":
    main()
