#!/usr/bin/env python3
"""Benchmark: sequencing hashedrekord 0.0.2 ECDSA P-256 entries, signatures checked.

    python tools/bench_sequence_rekor.py [-n 50000] [--workers 2] [--chunk 512]
        [--workloads one-key,distinct-keys] [--dir D] [--profile FILE] [--repeat 1]

Two workloads of ``-n`` Rekor v2 requests (``hashedRekordRequestV002``), each over the
SHA-256 of a distinct artifact: every entry signed by one key, and every entry by its own
key (so no per-process key cache can help). Keys and signatures are made in the setup
phase, untimed (the distinct keys in a process pool: about 1.5 s for 50,000).

Timed, per workload, into a fresh folder log: what ``tlog sequence`` does for a batch —
start the admission pool (``parallel_admission``), then ``Sequencer.sequence(cands,
admit_rekor, executor=pool)`` to the published checkpoint (parse, validate, verify each
signature, canonicalize, in ``--workers`` processes; then hashing, tiles, staging, commit,
apply with fsync, publish). Also printed: the CPU time all processes spent per entry (a
busy machine disturbs it less than the wall-clock rate), admission alone (``admit_all``
on a warm pool) and the pool's start. With ``--repeat`` the best run is kept.

``--chunk`` is the inputs per pool task (``Sequencer.sequence(..., chunk=)``, default
``tlog.admission.ADMIT_CHUNK``);
``--profile FILE`` writes a cProfile of the parent process during the timed sequence
call of the last workload (workers are not profiled: their time shows as waiting).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tlog.admission import ADMIT_CHUNK, Candidate, admit_all, admit_rekor, parallel_admission
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
ECDSA_SHA256 = ec.ECDSA(Prehashed(hashes.SHA256()))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def request(key: ec.EllipticCurvePrivateKey, spki: bytes, i: int) -> bytes:
    """A Rekor v2 hashedrekord request for artifact number ``i``, signed by ``key``."""
    digest = hashlib.sha256(b"release artifact %d\n" % i).digest()
    doc = {
        "hashedRekordRequestV002": {
            "digest": _b64(digest),
            "signature": {
                "content": _b64(key.sign(digest, ECDSA_SHA256)),
                "verifier": {
                    "publicKey": {"rawBytes": _b64(spki)},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                },
            },
        }
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def distinct_keys(first: int, count: int) -> list[bytes]:
    out = []
    for i in range(first, first + count):
        key = ec.generate_private_key(ec.SECP256R1())
        out.append(request(key, key.public_key().public_bytes(*SPKI), i))
    return out


def make(kind: str, n: int, workers: int) -> list[bytes]:
    """``n`` requests, made in ``workers`` processes (one key: one key for all)."""
    if kind == "one-key":
        key = ec.generate_private_key(ec.SECP256R1())
        spki = key.public_key().public_bytes(*SPKI)
        return [request(key, spki, i) for i in range(n)]
    step = -(-n // workers)
    with ProcessPoolExecutor(workers) as pool:
        parts = pool.map(
            distinct_keys, range(0, n, step), [min(step, n - s) for s in range(0, n, step)]
        )
        return [doc for part in parts for doc in part]


def _ping(pool: ProcessPoolExecutor) -> int:
    return pool.submit(int).result()


def _cpu() -> float:
    """CPU seconds used by this process and its reaped children (the pool's workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=50_000, help="entries per workload")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk", type=int, default=ADMIT_CHUNK)
    ap.add_argument("--workloads", default="one-key,distinct-keys")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per workload (best kept)")
    ap.add_argument("--dir", default=None, help="where the temporary logs go")
    ap.add_argument("--profile", default=None, help="write a cProfile of the parent here")
    args = ap.parse_args()
    keys = generate("bench.example/rekor").keys
    print(
        f"{args.n:,} hashedrekord 0.0.2 ECDSA P-256 entries per batch, {args.workers} "
        f"admission processes, chunk {args.chunk}, {os.cpu_count()} cores"
    )
    for kind in args.workloads.split(","):
        t0 = time.perf_counter()
        docs = make(kind, args.n, args.workers)
        setup = time.perf_counter() - t0
        cands = [Candidate(f"bench:{i}", d) for i, d in enumerate(docs)]
        with parallel_admission(args.workers) as pool:
            start = timed(partial(_ping, pool))
            admit = min(
                timed(partial(admit_all, cands, admit_rekor, pool, chunk=args.chunk))
                for _ in range(args.repeat)
            )
        best, cpu = float("inf"), float("inf")
        for rnd in range(args.repeat):
            root = Path(tempfile.mkdtemp(dir=args.dir, prefix="tlog-bench-rekor-"))
            try:
                seq = Sequencer(FolderStore(root), keys)
                seq.init()
                profile = cProfile.Profile() if args.profile and rnd == 0 else None
                c0, t0 = _cpu(), time.perf_counter()
                if profile:
                    profile.enable()
                with parallel_admission(args.workers) as pool:
                    result = seq.sequence(cands, admit_rekor, executor=pool, chunk=args.chunk)
                if profile:
                    profile.disable()
                    profile.dump_stats(args.profile)
                best = min(best, time.perf_counter() - t0)
                cpu = min(cpu, _cpu() - c0)
                refused = [o for o in result.outcomes if not o.ok]
                assert not refused, refused[0]
                assert result.checkpoint.checkpoint.size == args.n
            finally:
                shutil.rmtree(root, ignore_errors=True)
        print(
            f"{kind:>14}: sequence {args.n / best:>8,.0f} entries/s ({best:.2f} s, pool start "
            f"included; CPU {cpu / args.n * 1e6:.0f} us/entry in all processes); "
            f"admission alone {args.n / admit:>8,.0f} entries/s ({admit:.2f} s, "
            f"warm pool); pool start {start * 1000:.0f} ms; setup {setup:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
