"""Benchmark: add-checkpoint requests per second a witness answers, for logs of 10M entries.

Usage: python tools/bench_witness.py [--size 10000000] [--logs 8] [--requests 400] [--quick]

Each of ``--logs`` logs (own origin and key) is the synthetic log of
tools/bench_reader.py: any subtree hash of a 10M-entry tree is computed in O(1), so
checkpoints and RFC 6962 consistency proofs (~24 hashes) cost nothing to make. Each log
gets a chain of ``--requests`` checkpoints, growing by a batch of 1,000 entries each,
every request proving consistency from the previous one: what a sequencer sends.

1. **In process**: :meth:`tlog.witness.service.Witness.add_checkpoint` over a folder
   state (signature check, proof check, cosignature, fsync'd compare-and-swap).
2. **Over HTTP**: ``tlog witness serve`` in its own process on 127.0.0.1, one
   keep-alive connection per log, the logs in parallel (one origin's requests are
   serialised by the witness, as they must be).

Target: ≥ 500 requests/s over HTTP.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reader import T0, SyntheticLog

from tlog import merkle
from tlog.checkpoint import Checkpoint
from tlog.keys import LogKeys, generate
from tlog.note import CosignatureSigner, sign
from tlog.policy import Policy
from tlog.storage.folder import FolderStore
from tlog.witness.protocol import AddCheckpoint
from tlog.witness.service import Witness

BATCH = 1000


def chain(log: SyntheticLog, keys: LogKeys, start: int, count: int) -> list[bytes]:
    """Request bodies: the checkpoint at ``start`` (old 0), then ``count`` more."""

    def read(coords: list[tuple[int, int]]) -> list[bytes]:
        return [log.node(lv, i) for lv, i in coords]

    def note(size: int) -> bytes:
        root = merkle.fold(read(merkle.range_nodes(0, size)))
        return sign(Checkpoint(keys.origin, size, root).format(), keys.signers(lambda: T0)).format()

    bodies = [AddCheckpoint(0, (), note(start)).format()]
    for k in range(1, count + 1):
        old, new = start + (k - 1) * BATCH, start + k * BATCH
        proof = tuple(merkle.consistency_proof(old, new, read))
        bodies.append(AddCheckpoint(old, proof, note(new)).format())
    return bodies


def make_chains(n_logs: int, size: int, count: int) -> tuple[list[LogKeys], list[list[bytes]]]:
    keys = [generate(f"bench{i}.example/log").keys for i in range(n_logs)]
    log = SyntheticLog(size + BATCH * count, keys[0])  # the tree's shape; any key signs
    return keys, [chain(log, k, size, count) for k in keys]


def policy_text(keys: list[LogKeys]) -> str:
    return "".join(f"log {k.verifiers()[0].vkey()}\n" for k in keys) + "quorum none\n"


def in_process(keys: list[LogKeys], chains: list[list[bytes]], state: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    signer = CosignatureSigner("bench.example/w", ed25519.Ed25519PrivateKey.generate(), lambda: T0)
    w = Witness(signer, Policy.parse(policy_text(keys).encode()), FolderStore(state))
    start, n = time.perf_counter(), 0
    for bodies in chains:
        for body in bodies:
            reply = w.add_checkpoint(body)
            if reply.status != 200:
                raise SystemExit(f"in process: {reply.status} {reply.body!r}")
            n += 1
    rate = n / (time.perf_counter() - start)
    print(f"  in process, one thread: {rate:,.0f} requests/s ({n} requests)")


def over_http(keys: list[LogKeys], chains: list[list[bytes]], tmp: Path) -> None:
    run = [sys.executable, "-c", "from tlog.cli import main; main()"]
    subprocess.run(
        [*run, "witness", "keygen", "--name", "bench.example/w", "--out", str(tmp / "key")],
        capture_output=True,
        check=True,
    )
    (tmp / "policy").write_text(policy_text(keys))
    proc = subprocess.Popen(
        [
            *run,
            "witness",
            "serve",
            "--key",
            str(tmp / "key" / "witness.key"),
            "--policy",
            str(tmp / "policy"),
            "--state",
            str(tmp / "http-state"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        url = urlsplit(proc.stdout.readline().split()[-1])
        failures: list[str] = []

        def client(bodies: list[bytes]) -> None:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
            for body in bodies:
                conn.request("POST", "/add-checkpoint", body)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    failures.append(f"{resp.status} {data[:80]!r}")
                    return

        threads = [threading.Thread(target=client, args=(b,)) for b in chains]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        if failures:
            raise SystemExit(f"over HTTP: {failures[0]}")
        n = sum(len(b) for b in chains)
        print(
            f"  over HTTP, {len(chains)} logs in parallel: {n / elapsed:,.0f} requests/s "
            f"({n} requests; target ≥ 500)"
        )
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--logs", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400, help="per log")
    ap.add_argument("--quick", action="store_true", help="2 logs, 20 requests each")
    args = ap.parse_args()
    n_logs, count = (2, 20) if args.quick else (args.logs, args.requests)
    print(f"witness add-checkpoint, logs of {args.size:,} entries growing by {BATCH:,}:")
    keys, chains = make_chains(n_logs, args.size, count - 1)
    with tempfile.TemporaryDirectory() as d:
        in_process(keys, chains, Path(d) / "state")
        over_http(keys, chains, Path(d))


if __name__ == "__main__":
    main()
