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

Last, the figures issue 14's targets name: ``tlog sequence`` (``--mode cli``; its CPU
per entry also split between its own process and its pool and index workers) against
the verify limit of the same run, one key (limit with the key loaded) at least 0.70 and
a distinct key per entry (limit with the key parsed per verification) at least 0.60,
by wall time and by CPU time.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from as_installed import compiled_env
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tlog.admission import ADMIT_CHUNK, Candidate, admit_all, admit_rekor, parallel_admission
from tlog.keys import LogKeys, generate
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore

#: Issue 14: admission through ``tlog sequence`` at this fraction of the verify limit.
TARGETS = {"one-key": 0.70, "distinct-keys": 0.60}
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


def one_key(pem: bytes, first: int, count: int) -> list[bytes]:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    spki = key.public_key().public_bytes(*SPKI)
    return [request(key, spki, i) for i in range(first, first + count)]


def make(kind: str, n: int, workers: int) -> list[bytes]:
    """``n`` requests, made in ``workers`` processes (one key: one key for all)."""
    step = -(-n // workers)
    firsts = range(0, n, step)
    counts = [min(step, n - s) for s in firsts]
    make_part: Callable[[int, int], list[bytes]] = distinct_keys
    if kind == "one-key":
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        make_part = partial(one_key, pem)
    with ProcessPoolExecutor(workers) as pool:
        parts = pool.map(make_part, firsts, counts)
        return [doc for part in parts for doc in part]


def _verify_many(items: list[tuple[bytes, bytes, bytes]], parse: bool) -> int:
    """Verify each (spki, signature, digest): the crypto alone (``parse``: the key is
    parsed for each, as for a distinct key per entry; else once, already loaded)."""
    algo = ec.ECDSA(Prehashed(hashes.SHA256()))
    loaded = serialization.load_der_public_key(items[0][0])
    for spki, sig, digest in items:
        key = serialization.load_der_public_key(spki) if parse else loaded
        key.verify(sig, digest, algo)  # type: ignore[union-attr, call-arg, arg-type]
    return len(items)


def verify_limit(docs: list[bytes], workers: int, parse: bool) -> tuple[float, float]:
    """ECDSA P-256 verifications per second in ``workers`` processes (the limit the
    admission target is a fraction of), over these documents' keys and signatures, and
    the CPU seconds each took (its workers' time, once the pool is shut down)."""
    items = []
    for doc in docs:
        req = json.loads(doc)["hashedRekordRequestV002"]
        sig = req["signature"]
        spki = base64.b64decode(sig["verifier"]["publicKey"]["rawBytes"])
        items.append((spki, base64.b64decode(sig["content"]), base64.b64decode(req["digest"])))
    step = -(-len(items) // workers)
    parts = [items[i : i + step] for i in range(0, len(items), step)]
    c0 = _cpu()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(int, range(workers)))  # started
        t0 = time.perf_counter()
        done = sum(pool.map(partial(_verify_many, parse=parse), parts))
        wall = time.perf_counter() - t0
    return done / wall, (_cpu() - c0) / done


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
    ap.add_argument(
        "--mode", choices=["both", "inprocess", "cli"], default="both", help="what to time"
    )
    args = ap.parse_args()
    keys = generate("bench.example/rekor").keys
    ratios: dict[str, tuple[float, float]] = {}
    print(
        f"{args.n:,} hashedrekord 0.0.2 ECDSA P-256 entries per batch, {args.workers} "
        f"admission processes, chunk {args.chunk}, {os.cpu_count()} cores"
    )
    for kind in args.workloads.split(","):
        t0 = time.perf_counter()
        docs = make(kind, args.n, args.workers)
        setup = time.perf_counter() - t0
        limit, limit_cpu = verify_limit(docs, args.workers, parse=kind != "one-key")
        what = f"{args.workers} processes{', key parsed per entry' if kind != 'one-key' else ''}"
        print(
            f"{kind:>14}: verify limit {limit:,.0f}/s ({what}; CPU {limit_cpu * 1e6:.0f} "
            f"us/verification); setup {setup:.1f} s"
        )
        if args.mode in ("both", "inprocess"):
            in_process(args, kind, docs, keys, limit)
        if args.mode in ("both", "cli"):
            ratios[kind] = through_cli(args, kind, docs, limit, limit_cpu)
    for kind, (ratio, by_cpu) in ratios.items():
        target = TARGETS.get(kind)
        print(
            f"target {kind}: tlog sequence at {ratio:.2f} of the verify limit"
            + (f" (target {target:.2f})" if target else "")
            + f"; {by_cpu:.2f} by CPU time (the limit's CPU per verification over the run's per "
            "entry: what both cores kept busy would give, less disturbed by other load)"
        )


def in_process(
    args: argparse.Namespace, kind: str, docs: list[bytes], keys: LogKeys, limit: float
) -> None:
    """``Sequencer.sequence`` with the pool, as ``tlog sequence`` runs it."""
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
        f"{kind:>14}: in-process {args.n / best:>8,.0f} entries/s = "
        f"{args.n / best / limit:.2f} of the limit ({best:.2f} s, pool start included; "
        f"CPU {cpu / args.n * 1e6:.0f} us/entry in all processes); admission alone "
        f"{args.n / admit:>8,.0f} entries/s (warm pool); pool start {start * 1000:.0f} ms",
        flush=True,
    )


#: ``tlog`` as its command line runs it, which writes, as it exits, the CPU seconds of its
#: own process (every thread) and of its reaped children (pool and index workers) as a
#: JSON pair to the file named by its first argument.
_CLI_WITH_CPU = """
import atexit, json, resource, sys
out = sys.argv.pop(1)
def cpu():
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    with open(out, "w") as f:
        json.dump([me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime], f)
atexit.register(cpu)
from tlog.cli import main
main()
"""


def _peak_rss(pid: int) -> int:
    """The peak RSS (KiB) of process ``pid`` so far, from /proc (Linux); 0 if gone. (Not
    the child's rusage: a child forked from this big process is counted at its fork.)"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def through_cli(
    args: argparse.Namespace, kind: str, docs: list[bytes], limit: float, limit_cpu: float
) -> tuple[float, float]:
    """``tlog sequence FILE`` in a fresh process over a file of the requests: the
    throughput, its CPU time (the process and its pool workers) and the peak RSS of the
    process (its pool workers apart). Returns the fraction of the limit by wall time
    and by CPU time (limit's CPU per verification over the run's CPU per entry)."""
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="tlog-bench-cli-") as tmp:
        batch = Path(tmp, "batch.jsonl")
        with batch.open("wb") as f:
            for doc in docs:
                f.write(doc + b"\n")
        gen = generate("bench.example/cli")
        key = Path(tmp, "log.key")
        key.write_bytes(gen.private_pem)
        key.chmod(0o600)
        seq = Sequencer(FolderStore(Path(tmp, "log")), gen.keys)
        seq.init()
        env = compiled_env()  # as installed: compiled bytecode
        split = Path(tmp, "cpu.json")
        cmd = [sys.executable, "-c", _CLI_WITH_CPU, str(split), "sequence"]
        c0, t0 = _cpu(), time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "--log", str(Path(tmp, "log")), "--key", str(key), str(batch)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _peak_rss(proc.pid))
            time.sleep(0.02)  # the wall time is this coarse
        wall, cpu = time.perf_counter() - t0, (_cpu() - c0) / args.n
        assert proc.returncode == 0, proc.returncode
        own, workers = (x / args.n for x in json.loads(split.read_text()))
    ratio, by_cpu = args.n / wall / limit, limit_cpu / cpu
    print(
        f"{kind:>14}: tlog sequence {args.n / wall:>8,.0f} entries/s = "
        f"{ratio:.2f} of the limit ({wall:.2f} s, whole process; CPU {cpu * 1e6:.0f} "
        f"us/entry in all processes: {own * 1e6:.1f} in the tlog process, "
        f"{workers * 1e6:.1f} in its pool and index workers); peak RSS "
        f"{peak / 1024:.0f} MiB (the tlog process; its pool workers apart)",
        flush=True,
    )
    return ratio, by_cpu


if __name__ == "__main__":
    main()
