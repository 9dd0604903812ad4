#!/usr/bin/env python3
"""Admission throughput: hashedrekord 0.0.2 ECDSA P-256 requests through ``admit_json``.

    python tools/bench_admission.py [-n 20000] [--workers 2] [--chunksize ADMIT_CHUNK]

Two workloads — every entry signed by one key, and every entry by its own key (so the
per-process key cache never hits) — each admitted in this process and then by a pool of
``--workers`` processes, set up the way the sequencer does it: the admission policy
travels with the function the workers run (``functools.partial(admit, policy=...)``).
Prints entries per second.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tlog.admission import ADMIT_CHUNK
from tlog.entries import Entry, admit_json, load_types
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def request(key: ec.EllipticCurvePrivateKey, spki: bytes) -> bytes:
    digest = os.urandom(32)
    sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return json.dumps(
        {
            "hashedRekordRequestV002": {
                "digest": base64.b64encode(digest).decode(),
                "signature": {
                    "content": base64.b64encode(sig).decode(),
                    "verifier": {
                        "publicKey": {"rawBytes": base64.b64encode(spki).decode()},
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    },
                },
            }
        }
    ).encode()


def one_key(n: int) -> list[bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(*SPKI)
    return [request(key, spki) for _ in range(n)]


def distinct_keys(n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        out.append(request(key, key.public_key().public_bytes(*SPKI)))
    return out


def admit_chunk(lines: Sequence[bytes], policy: AdmissionPolicy = DEFAULT_POLICY) -> list[Entry]:
    """Admit a chunk in a worker (one task per chunk keeps IPC overhead low)."""
    return [admit_json(line, policy) for line in lines]


def timed(label: str, n: int, run: Callable[[], object]) -> None:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(f"  {label:<28} {n / elapsed:>10,.0f} entries/s  ({elapsed:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="entries per workload")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunksize", type=int, default=ADMIT_CHUNK)
    args = parser.parse_args()
    n, chunk = args.n, args.chunksize
    workloads = {"one key": one_key(n), "distinct keys": distinct_keys(n)}
    admit = functools.partial(admit_chunk, policy=DEFAULT_POLICY)
    load_types()  # forked workers inherit the loaded entry types
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(admit, [[] for _ in range(args.workers)]))  # start the workers
        for name, lines in workloads.items():
            print(f"{name}: {n} hashedrekord 0.0.2 ECDSA P-256 entries")
            timed("1 process", n, lambda lines=lines: admit(lines))  # type: ignore[misc]
            chunks = [lines[i : i + chunk] for i in range(0, n, chunk)]
            timed(
                f"{args.workers}-process pool",
                n,
                lambda chunks=chunks: list(pool.map(admit, chunks)),  # type: ignore[misc]
            )


if __name__ == "__main__":
    main()
