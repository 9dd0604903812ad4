"""Benchmark: tlog against its peers on raw writing, the same entries, in the same run.

Usage: python tools/bench_peers.py [--size 1000000] [--entry-bytes 64] [--rounds 3]
       [--dir DIR] [--scales-python PYTHON] [--go-writer BINARY]

Every writer appends ``--size`` raw entries (``b"%016d" % i`` padded with ``x`` to
``--entry-bytes``, as ``tools/bench_sequence.py`` makes them) to a fresh log in a folder
under ``--dir`` (one disk for all), in a fresh process each, rounds interleaved so a
busy machine disturbs all alike; the best round of each is kept and the ratios printed:

* **tlog**: ``Sequencer.stream`` (as ``tlog sequence`` runs it) from the first entry
  read to the published checkpoint, with everything it always does — crash-safe
  staging and compare-and-swap, the search index and exact dedup (docs/index.md),
  chunked commits.
* **tlog-scales** (``--scales-python``: a Python with the ``tlog-scales`` package, e.g. a
  venv made with ``pip install tlog-scales``): ``TilesWriter.add_leaf`` for each entry,
  then ``commit`` (bundles, tiles, an Ed25519-signed checkpoint, a fsync per file);
  timed in its process, as tlog is.
* **Go** (``--go-writer``: a program built elsewhere with ``golang.org/x/mod/sumdb/tlog``,
  run as ``BINARY -n N -entry-bytes B DIR``, printing ``... (S s in process)``): bundles
  and hash tiles written with ``os.WriteFile``, a signed checkpoint, one ``syncfs``;
  its own wall time and the whole process's are both printed.

Neither peer stages, indexes or deduplicates: tlog's figure includes its index, so a
ratio ≥ 1 with the index on holds a fortiori for its tiles and bundles alone.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TLOG = """
import sys, time
from collections import deque
sys.path.insert(0, sys.argv[4])
from pathlib import Path
from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore
n, eb, root = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
seq = Sequencer(FolderStore(root), generate("bench.example/log").keys)
seq.init()
pad = b"x" * (eb - 16)
t0 = time.perf_counter()
deque(seq.stream(Candidate("", b"%016d" % i + pad) for i in range(n)), maxlen=1)
print(time.perf_counter() - t0)
"""

SCALES = """
import sys, time
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tlog_scales import signing, writer
n, eb, root = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
w = writer.TilesWriter.create(root, "bench.example/log")
signer = signing.PlainEd25519Signer("bench.example/log", Ed25519PrivateKey.generate())
pad = b"x" * (eb - 16)
t0 = time.perf_counter()
for i in range(n):
    w.add_leaf(b"%016d" % i + pad)
w.commit([signer])
print(time.perf_counter() - t0)
"""


def run(argv: list[str]) -> tuple[str, float]:
    """The command's standard output and the whole process's wall time."""
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--entry-bytes", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the logs go (one disk for all)")
    ap.add_argument("--scales-python", help="a Python that imports tlog_scales")
    ap.add_argument("--go-writer", help="the reference Go writer")
    args = ap.parse_args()
    n, eb = args.size, args.entry_bytes
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        writers: list[tuple[str, list[str]]] = [
            ("tlog", [sys.executable, "-c", TLOG, str(n), str(eb)]),
        ]
        if args.scales_python:
            writers.append(("tlog-scales", [args.scales_python, "-c", SCALES, str(n), str(eb)]))
        if args.go_writer:
            writers.append(("go", [args.go_writer, "-n", str(n), "-entry-bytes", str(eb)]))
        for name, argv in writers:
            work = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-peers-"))
            try:
                log = str(work / "log")
                argv = [*argv, log, str(ROOT)] if name == "tlog" else [*argv, log]
                out, whole = run(argv)
                if name == "go":
                    found = re.search(r"\(([0-9.]+) s in process\)", out)
                    assert found, out
                    inner = float(found.group(1))
                else:
                    inner = float(out.split()[-1])
                best[name] = min(best.get(name, inner), inner)
                if name == "go":
                    best["go (whole process)"] = min(best.get("go (whole process)", whole), whole)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print(f"{n:,} raw entries of {eb} bytes, best of {args.rounds} rounds, in-process:")
    for name, secs in best.items():
        ratio = best["tlog"] and secs / best["tlog"]
        print(f"  {name:>20}: {n / secs:>10,.0f} entries/s ({secs:.2f} s); tlog is {ratio:.2f}×")


if __name__ == "__main__":
    main()
