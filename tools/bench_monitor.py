"""Benchmark: how fast ``tlog monitor`` scans a log it has not seen.

Usage: python tools/bench_monitor.py [--raw 200000] [--rekor 20000] [--identities 64]
[--no-validate-too]

Builds two logs in memory with the real sequencer: ``--raw`` raw entries, and
``--rekor`` hashedrekord 0.0.1 entries, each signed by one of ``--identities`` test
identities with a certificate (SAN email and Fulcio issuer extension). Then one fresh
monitor run over each (state in a temporary folder, a watch list with an identity, a
fingerprint and a digest), reporting entries/s for the whole run: checkpoint, bundles
authenticated, every entry's index keys, matching, validity (Rekor entries re-admitted),
duplicates, and the index check against the published segments; then the raw log
again without its index objects (what the scan costs without the index check).

Targets (issue 10): ≥ 200,000 raw entries/s, ≥ 20,000 hashedrekord entries/s.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from tlog.admission import Candidate, rekor_admission
from tlog.client import Client
from tlog.entries.policy import DEFAULT_POLICY
from tlog.fetch.store import StoreFetcher
from tlog.keys import LogKeys, generate
from tlog.monitor.config import MonitorConfig
from tlog.monitor.finding import Finding
from tlog.monitor.run import Monitor
from tlog.sequencer import Sequencer
from tlog.state import CheckpointState
from tlog.storage.memory import MemoryStore

ISSUER = "https://issuer.example"
BATCH = 50_000


def identity(email: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    ext = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"),
        b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode(),
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(ext, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def document(key: ec.EllipticCurvePrivateKey, pem: bytes, artifact: bytes) -> bytes:
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return json.dumps(
        {
            "kind": "hashedrekord",
            "apiVersion": "0.0.1",
            "spec": {
                "signature": {
                    "content": base64.b64encode(sig).decode(),
                    "publicKey": {"content": base64.b64encode(pem).decode()},
                },
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            },
        }
    ).encode()


def build(keys: LogKeys, docs: list[bytes], rekor: bool) -> MemoryStore:
    store = MemoryStore()
    seq = Sequencer(store, keys)
    seq.init()
    admit = rekor_admission(DEFAULT_POLICY) if rekor else None
    for lo in range(0, len(docs), BATCH):
        batch = [Candidate(str(i), d) for i, d in enumerate(docs[lo : lo + BATCH], lo)]
        seq.sequence(batch, admit)
    return store


def scan(store: MemoryStore, keys: LogKeys, config: str, validate: bool) -> tuple[float, int]:
    """Seconds for one fresh monitor run over the whole log, and its findings."""
    found: list[Finding] = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        monitor = Monitor(
            open_client=lambda: Client(
                StoreFetcher(store), keys.verifiers(), state=CheckpointState(state)
            ),
            config=MonitorConfig.parse(config),
            config_text=config,
            state_root=state,
            emit=found.append,
            validate=validate,
        )
        start = time.perf_counter()
        result = monitor.run_once()
        seconds = time.perf_counter() - start
    assert result.complete, result
    return seconds, len(found)


def without_index(store: MemoryStore) -> MemoryStore:
    """The same log with its index objects removed (the monitor then only notes it)."""
    bare = MemoryStore()
    for key, data in store.objects.items():
        if not key.startswith("index"):
            bare.write(key, data)
    return bare


def report(what: str, n: int, seconds: float, found: int) -> None:
    print(f"{what}: scanned {n:,} in {seconds:.2f}s = {n / seconds:,.0f}/s, {found} finding(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=int, default=200_000)
    parser.add_argument("--rekor", type=int, default=20_000)
    parser.add_argument("--identities", type=int, default=64)
    parser.add_argument("--no-validate-too", action="store_true")
    args = parser.parse_args()
    keys = generate("bench.example/monitor").keys
    watched = b"entry 77"
    config = (
        "monitoredValues:\n  certIdentities: [{certSubject: ^user3@example\\.com$}]\n"
        f"  digests: [sha256:{hashlib.sha256(watched).hexdigest()}]\n"
    )
    if args.raw:
        t = time.perf_counter()
        store = build(keys, [b"entry %d" % i for i in range(args.raw)], rekor=False)
        print(f"raw: built {args.raw:,} entries in {time.perf_counter() - t:.1f}s")
        report("raw, index checked", args.raw, *scan(store, keys, config, validate=True))
        bare = without_index(store)
        report("raw, no index", args.raw, *scan(bare, keys, config, validate=True))
    if args.rekor:
        t = time.perf_counter()
        ids = [identity(f"user{i}@example.com") for i in range(args.identities)]
        docs = [document(*ids[i % len(ids)], b"artifact %d" % i) for i in range(args.rekor)]
        store = build(keys, docs, rekor=True)
        print(f"hashedrekord: built {args.rekor:,} entries in {time.perf_counter() - t:.1f}s")
        modes = [True, False] if args.no_validate_too else [True]
        for validate in modes:
            what = "re-admitted" if validate else "not re-admitted"
            report(f"hashedrekord, {what}", args.rekor, *scan(store, keys, config, validate))


if __name__ == "__main__":
    main()
