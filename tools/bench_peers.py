"""Benchmark: tlog against its peers on raw writing, the same entries, in the same run.

Usage: python tools/bench_peers.py [--size 1000000] [--entry-bytes 64] [--rounds 3]
       [--dir DIR] [--scales-python PYTHON] [--go-writer BINARY]

Every writer appends ``--size`` raw entries (``b"%016d" % i`` padded with ``x`` to
``--entry-bytes``, as ``tools/bench_sequence.py`` makes them) to a fresh log in a folder
under ``--dir`` (one disk for all), in a fresh process each, rounds interleaved so a
busy machine disturbs all alike; the best round of each is kept, both as timed inside
the process (from the first entry to the published checkpoint) and as the whole
process's wall time (interpreter start and imports included), and the ratios printed.
Each runs from compiled bytecode, as installed (tlog's: ``tools/as_installed.py``):

* **tlog**: ``Sequencer.stream`` (as ``tlog sequence`` runs it) from the first entry
  read to the published checkpoint, with everything it always does — crash-safe
  staging and compare-and-swap, the search index and exact dedup (docs/index.md),
  chunked commits.
* **tlog, tiles and bundles alone**: the same code path in the same kind of process,
  with its index stage replaced by nothing *in the benchmark's process* (no such
  switch exists in tlog: the sequencer always indexes): the dedup lookup answers "not
  logged" without reading (``Sequencer(known=...)``), the index head of the lock is
  taken as empty instead of read (``tlog.index.writer.load``), and the index worker
  (``tlog.sequencer.Indexer``) is a stub that computes and stages no index object
  (a big chunk's tree and files are still begun early, ``tlog.guess``, as always).
  Everything else — admission, leaf hashes, tiles, bundles, covers, staging bundle,
  lock compare-and-swap, fsyncs, publishing — runs as always. The log it leaves has
  no index (``tlog sequence`` would refuse to extend it): a measurement, not a mode.
* **tlog-scales** (``--scales-python``: a Python with the ``tlog-scales`` package, e.g. a
  venv made with ``pip install tlog-scales``): ``TilesWriter.add_leaf`` for each entry,
  then ``commit`` (bundles, tiles, an Ed25519-signed checkpoint, a fsync per file);
  timed in its process, as tlog is.
* **Go** (``--go-writer``: a program built elsewhere with ``golang.org/x/mod/sumdb/tlog``,
  run as ``BINARY -n N -entry-bytes B DIR``, printing ``... (S s in process)``): bundles
  and hash tiles written with ``os.WriteFile``, a signed checkpoint, one ``syncfs``.

Neither peer stages, indexes or deduplicates: the figures of issue 14 are tlog's tiles
and bundles alone against tlog-scales in-process and against Go's whole process, and
tlog with its index and dedup against tlog-scales in-process.
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

from as_installed import compiled_env

ROOT = Path(__file__).resolve().parents[1]

TLOG = """
import sys, time
from collections import deque
sys.path.insert(0, sys.argv[4])
from pathlib import Path
from tlog import sequencer
from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore
n, eb, root, alone = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[5] == "alone"
options = {}
if alone:  # the index stage replaced by nothing, here only (see the module docstring)
    from tlog import indexer
    from tlog.index import writer
    class NoIndex:  # computes nothing; a big chunk's tree and files are still guessed
        guessing = True
        def __enter__(self): return self
        def __exit__(self, *exc): self.close()
        def takes(self, leaves): return leaves >= indexer.WORKER_FROM
        def warm(self, leaves): pass
        def guess(self, placement): pass
        def placed(self, placement): pass
        def begin(self, placement): pass
        def objects(self, *args): return []
        def close(self): pass
    sequencer.Indexer = NoIndex
    writer.load = lambda store, verifiers, cp: writer.empty_head(cp)
    options["known"] = lambda store, head, hashes: {}
seq = Sequencer(FolderStore(root), generate("bench.example/log").keys, **options)
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


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """The command's standard output and the whole process's wall time."""
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return out, time.perf_counter() - t0


TLOG_ALL, TLOG_ALONE, SCALES_, GO = "tlog", "tlog, tiles and bundles alone", "tlog-scales", "go"


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
    tlog = [sys.executable, "-c", TLOG, str(n), str(eb)]
    writers: list[tuple[str, list[str]]] = [(TLOG_ALL, tlog), (TLOG_ALONE, tlog)]
    if args.scales_python:
        writers.append((SCALES_, [args.scales_python, "-c", SCALES, str(n), str(eb)]))
    if args.go_writer:
        writers.append((GO, [args.go_writer, "-n", str(n), "-entry-bytes", str(eb)]))
    inner: dict[str, float] = {}
    whole: dict[str, float] = {}
    compiled = compiled_env()  # tlog runs as installed; the peers' own bytecode is compiled
    for _ in range(args.rounds):
        for name, argv in writers:
            work = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-peers-"))
            try:
                log = str(work / "log")
                env = None
                if name in (TLOG_ALL, TLOG_ALONE):
                    argv = [*argv, log, str(ROOT), "alone" if name == TLOG_ALONE else "all"]
                    env = compiled
                else:
                    argv = [*argv, log]
                out, secs = run(argv, env)
                found = re.search(r"\(([0-9.]+) s in process\)", out) if name == GO else None
                assert name != GO or found, out
                timed = float(found.group(1)) if found else float(out.split()[-1])
                inner[name] = min(inner.get(name, timed), timed)
                whole[name] = min(whole.get(name, secs), secs)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print(f"{n:,} raw entries of {eb} bytes, best of {args.rounds} rounds:")
    print(f"  {'':>31}  {'in process':>24}  {'whole process':>24}")
    for name in inner:
        a, b = inner[name], whole[name]
        print(f"  {name:>31}  {n / a:>10,.0f}/s ({a:6.2f} s)  {n / b:>10,.0f}/s ({b:6.2f} s)")
    print("ratios (tlog's rate over the peer's):")
    for mine, peer, times in [
        (TLOG_ALONE, SCALES_, inner),
        (TLOG_ALONE, GO, whole),
        (TLOG_ALL, SCALES_, inner),
        (TLOG_ALL, GO, whole),
    ]:
        if peer in times:
            kind = "in process" if times is inner else "whole process"
            print(f"  {mine} / {peer}, {kind}: {times[peer] / times[mine]:.2f}×")


if __name__ == "__main__":
    main()
