#!/usr/bin/env python3
"""Benchmark: ``tlog server`` under many concurrent Rekor v2 clients.

    python tools/bench_server.py [--clients 256] [--duration 30] [--warmup 5]
        [--backend folder,s3] [--pool-size 256] [--pool-wait 250ms] [--workers N]
        [--dir D]

For each backend: a fresh ECDSA log (a folder, or a bucket of the moto S3 emulator that
``tools/moto_server.py`` starts), one ``tlog server`` subprocess on 127.0.0.1 with the
given pool, and ``--clients`` concurrent clients, each sending one
``hashedRekordRequestV002`` (ECDSA P-256, over a distinct artifact, signed in the untimed
setup) at a time on its own keep-alive connection and sending the next as soon as the
answer comes. The clients are asyncio streams in this process (cheap, so that they take
little of the CPU the server needs).

Printed per backend, over the ``--duration`` seconds after ``--warmup``: sustained
entries/s (201 answers), the P50 and P99 latency of those answers, and how many answers
were not 201 (503 pushback, errors).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed  # noqa: E402

ORIGIN = "bench.example/log"
TLOG = [sys.executable, "-c", "from tlog.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def bodies(n: int) -> list[bytes]:
    """``n`` distinct signed requests, one signing key (as one CI signer would send)."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verifier = {
        "publicKey": {"rawBytes": base64.b64encode(spki).decode()},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    }
    out = []
    run = uuid.uuid4().hex
    for i in range(n):
        digest = hashlib.sha256(f"{run} artifact {i}".encode()).digest()
        sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        doc = {
            "hashedRekordRequestV002": {
                "digest": base64.b64encode(digest).decode(),
                "signature": {"content": base64.b64encode(sig).decode(), "verifier": verifier},
            }
        }
        out.append(json.dumps(doc).encode())
    return out


def read_line(proc: subprocess.Popen[bytes], prefix: bytes, timeout: float = 60) -> bytes:
    """The first stdout line of ``proc``; it must start with ``prefix``."""
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n") and sel.select(max(0.0, deadline - time.monotonic())):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    if not line.startswith(prefix):
        raise SystemExit(f"did not start: {line!r}")
    return line.strip()


@dataclass
class Stats:
    start: float = 0.0
    stop: float = 0.0
    latencies: list[float] = field(default_factory=list)
    other: dict[int, int] = field(default_factory=dict)
    #: CPU seconds (server, its admission workers, these clients) over the window.
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)


def requests_for(host: str, bodies: list[bytes]) -> list[bytes]:
    """Whole HTTP requests, made in the untimed setup."""
    head = (
        f"POST /api/v2/log/entries HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    )
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def client(host: str, port: int, work: list[bytes], stats: Stats, end: float) -> None:
    """One keep-alive connection sending ``work`` one request at a time."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while work and time.monotonic() < end:
            sent = time.monotonic()
            writer.write(work.pop())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            at = head.lower().find(b"\r\ncontent-length:")
            length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            await reader.readexactly(length)
            got = time.monotonic()
            if stats.start <= sent and got <= stats.stop:
                if status == 201:
                    stats.latencies.append(got - sent)
                else:
                    stats.other[status] = stats.other.get(status, 0) + 1
    finally:
        writer.close()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by process ``pid`` and by its children (Linux /proc;
    zeros elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return used(pid), sum(used(int(k)) for k in kids)


async def load(
    url: str, clients: int, work: list[bytes], warmup: float, duration: float, pid: int
) -> Stats:
    host, port = url.removeprefix("http://").split(":")
    now = time.monotonic()
    stats = Stats(start=now + warmup, stop=now + warmup + duration)
    requests = requests_for(host, work)
    shares = [requests[i::clients] for i in range(clients)]

    async def window() -> None:
        await asyncio.sleep(warmup)
        server0, workers0, self0 = *cpu_seconds(pid), time.process_time()
        await asyncio.sleep(duration)
        server1, workers1, self1 = *cpu_seconds(pid), time.process_time()
        stats.cpu = (server1 - server0, workers1 - workers0, self1 - self0)

    await asyncio.gather(window(), *(client(host, int(port), s, stats, stats.stop) for s in shares))
    return stats


def tlog(*args: str) -> None:
    subprocess.run([*TLOG, *args], check=True, env=ENV, capture_output=True)


def make_log(location: str, keys: Path, endpoint: str | None) -> None:
    extra = ["--endpoint-url", endpoint] if endpoint else []
    tlog("init", "--log", location, "--origin", ORIGIN, "--key", str(keys / "log.key"), *extra)


def bench(label: str, location: str, keys: Path, endpoint: str | None, args: argparse.Namespace,
          work: list[bytes]) -> None:  # fmt: skip
    make_log(location, keys, endpoint)
    cmd = [*TLOG, "server", "--log", location, "--key", str(keys / "log.key"), "--port", "0",
           "--pool-size", str(args.pool_size), "--pool-wait", args.pool_wait]  # fmt: skip
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if endpoint:
        cmd += ["--endpoint-url", endpoint]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=ENV)
    try:
        url = read_line(proc, b"listening on ").split()[-1].decode()
        stats = asyncio.run(load(url, args.clients, work, args.warmup, args.duration, proc.pid))
    finally:
        proc.terminate()
        proc.wait(120)
    lat = sorted(stats.latencies)
    if not lat:
        print(f"{label}: no entry logged in the measured window; other answers {stats.other}")
        return
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"{label}: {len(lat) / args.duration:,.0f} entries/s sustained over {args.duration:g} s "
        f"({args.clients} clients, pool {args.pool_size}/{args.pool_wait}); latency "
        f"P50 {statistics.median(lat) * 1000:,.0f} ms, P99 {p99 * 1000:,.0f} ms; "
        f"other answers {stats.other or 'none'}"
    )
    server, workers, clients = (1e6 * c / len(lat) for c in stats.cpu)
    print(
        f"  CPU per logged entry: server {server:,.0f} us, admission workers {workers:,.0f} us, "
        f"bench clients {clients:,.0f} us (load average {os.getloadavg()[0]:.2f})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=256)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--backend", default="folder,s3")
    p.add_argument("--pool-size", type=int, default=256)
    p.add_argument("--pool-wait", default="250ms")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--rate-guess", type=int, default=4000, help="entries/s to sign for")
    p.add_argument("--dir", type=Path, default=None)
    args = p.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="bench-server-"))
    keys = base / "keys"
    if not keys.exists():
        tlog("keygen", "--origin", ORIGIN, "--type", "ecdsa-p256", "--out", str(keys))
    n = int(args.rate_guess * (args.warmup + args.duration) * 1.2) + args.clients
    for backend in args.backend.split(","):
        work = bodies(n)
        if backend == "folder":
            bench("folder", str(base / f"log-{uuid.uuid4().hex[:8]}"), keys, None, args, work)
        elif backend == "s3":
            moto = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "moto_server.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV,
            )  # fmt: skip
            try:
                endpoint = read_line(moto, b"READY ").split()[1].decode()
                import boto3

                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                boto3.client(
                    "s3", endpoint_url=endpoint, region_name="us-east-1",
                    aws_access_key_id="bench", aws_secret_access_key="bench",
                ).create_bucket(Bucket=bucket)  # fmt: skip
                os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                                  AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
                ENV.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                           AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
                bench("s3 (moto)", f"s3://{bucket}/log", keys, endpoint, args, work)
            finally:
                assert moto.stdin is not None
                moto.stdin.close()  # the emulator stops when its stdin closes
                moto.wait(30)
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
