#!/usr/bin/env python3
"""Small batches on S3: sequential round trips and wall time of a 1-entry batch.

    python tools/bench_small_batch.py [--latency 0.02] [--seed 70000] [--batches 20]
        [--cli 5] [--trace]

Starts the S3 emulator (tools/moto_server.py) with ``--latency`` seconds of delay in
front of every request (parallel requests wait together, sequential ones add up, as over
a network), makes a log of ``--seed`` raw entries plus 16 one-entry batches (so that the
index has segments at several levels), then times ``--batches`` one-entry batches
in-process (``Sequencer.sequence`` over an ``S3Store``) and ``--cli`` runs of
``tlog sequence --raw`` (a fresh process each: imports, key loading and the S3 client's
set-up included; bytecode compiled, as installed). Prints, per batch: the wall time, the
requests, and the *sequential round trips*: the longest chain of requests each of which
started after the previous one ended (what the latency multiplies); and the CPU time per
batch of this process (tlog and botocore) and of the emulator (the load of a shared
machine moves these less than the wall time, but still by a fifth or so; callgrind's
instruction counts do not move).
``--trace`` prints the last batch's requests: start and end (ms), operation, key.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from as_installed import compiled_env

from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.s3 import S3Store

ROOT = Path(__file__).resolve().parents[1]


class Recording(S3Store):
    """An S3 store that records when each request started and ended."""

    spans: list[tuple[float, float, str, str]]
    _guard = threading.Lock()

    def _timed(self, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._guard:
                self.spans.append((start, time.perf_counter(), fn.__name__, str(args[0])))

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        return self._timed(super().read_versioned, key, limit)  # type: ignore[no-any-return]

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return self._timed(super().read_range, key, start, length)  # type: ignore[no-any-return]

    def create(self, key: str, data: bytes) -> None:
        self._timed(super().create, key, data)

    def write(self, key: str, data: bytes) -> None:
        self._timed(super().write, key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        return self._timed(super().swap, key, data, expect)  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        self._timed(super().delete, key)

    def list(self, prefix: str) -> list[str]:
        return self._timed(super().list, prefix)  # type: ignore[no-any-return]


def round_trips(spans: list[tuple[float, float, str, str]]) -> int:
    """The longest chain of requests, each starting after the previous one ended."""
    spans = sorted(spans, key=lambda s: s[1])
    depth: list[int] = []
    for start, *_ in spans:
        before = [d for (_, e, *_), d in zip(spans, depth, strict=False) if e <= start]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_moto(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "moto_server.py"), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    return proc, line.split()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=70_000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--cli", type=int, default=5, help="CLI runs (0: none)")
    ap.add_argument("--trace", action="store_true", help="print the last batch's requests")
    args = ap.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    moto, endpoint = start_moto(args.latency)
    try:
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        location = f"s3://{bucket}/log"
        gen = generate("bench.example/small")
        store = Recording.from_url(location, endpoint_url=endpoint)
        store.spans = []
        seq = Sequencer(store, gen.keys)
        seq.init()
        seq.sequence([Candidate("", b"seed %d" % i) for i in range(args.seed)])
        for i in range(16):
            seq.sequence([Candidate("", b"warm %d" % i)])
        walls, trips, requests = [], [], []
        cpu, moto_cpu = time.process_time(), cpu_seconds(moto.pid)
        for i in range(args.batches):
            store.spans = []
            t0 = time.perf_counter()
            seq.sequence([Candidate("", b"one %d" % i)])
            walls.append(time.perf_counter() - t0)
            trips.append(round_trips(store.spans))
            requests.append(len(store.spans))
        cpu = (time.process_time() - cpu) / args.batches
        moto_cpu = (cpu_seconds(moto.pid) - moto_cpu) / args.batches
        print(
            f"1-entry batch on S3 ({args.latency * 1000:.0f} ms per request, log of "
            f"{args.seed + 16:,}+): in-process median {statistics.median(walls) * 1000:.0f} ms "
            f"(min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}); sequential round "
            f"trips median {statistics.median(trips):.0f} (max {max(trips)}); requests "
            f"{statistics.mean(requests):.1f}; CPU per batch {cpu * 1000:.0f} ms here, "
            f"{moto_cpu * 1000:.0f} ms in the emulator",
            flush=True,
        )
        if args.trace:
            for start, end, op, key in sorted(store.spans):
                print(f"{(start - t0) * 1000:7.1f} {(end - t0) * 1000:7.1f}  {op:14} {key}")
        if args.cli:
            cli = cli_runs(args.cli, location, endpoint, gen.private_pem)
            print(
                f"tlog sequence --raw of 1 entry (whole process): median "
                f"{statistics.median(cli) * 1000:.0f} ms (min {min(cli) * 1000:.0f}); "
                f"start-up and exit, median less the in-process median: "
                f"{(statistics.median(cli) - statistics.median(walls)) * 1000:.0f} ms",
                flush=True,
            )
        print(f"load: {os.getloadavg()[0]:.2f} (1 min)", flush=True)
    finally:
        assert moto.stdin is not None
        moto.stdin.close()  # the emulator stops when its standard input closes
        moto.wait()


def cli_runs(n: int, location: str, endpoint: str, pem: bytes) -> list[float]:
    """The wall time of ``n`` runs of the CLI, each sequencing one entry, after one run
    not timed.

    The runs use compiled bytecode, as an installed tlog does (``tools/as_installed.py``:
    compiling every tlog module on every run would be about a fifth of the CLI's CPU).
    """
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp, "log.key")
        key.write_bytes(pem)
        key.chmod(0o600)
        env = compiled_env({**os.environ, "AWS_ENDPOINT_URL": endpoint})
        walls = []
        for i in range(n + 1):
            entry = Path(tmp, f"e{i}")
            entry.write_bytes(b"cli %d %s" % (i, uuid.uuid4().hex.encode()))
            cmd = [sys.executable, "-c", "from tlog.cli import main; main()", "sequence"]
            t0 = time.perf_counter()
            subprocess.run(
                [*cmd, "--log", location, "--key", str(key), "--raw", str(entry)],
                env=env,
                check=True,
                capture_output=True,
            )
            if i:
                walls.append(time.perf_counter() - t0)
    return walls


if __name__ == "__main__":
    main()
