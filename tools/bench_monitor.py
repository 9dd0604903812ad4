"""Benchmark: how fast ``tlog monitor`` scans a log it has not seen, and in what memory.

Usage: python tools/bench_monitor.py [--raw 200000 ...] [--rekor 20000 ...]
[--dir D] [--no-validate-too]

Builds logs with the real sequencer in folders (under ``--dir``, default a temporary
folder in /dev/shm; a log already built there is reused): ``--raw`` raw entries, and
``--rekor`` hashedrekord 0.0.1 entries as Sigstore's keyless signing makes them: each
signed with a fresh key whose certificate, issued by one CA for that entry alone, names
one of 64 identities (half an email, half a GitHub workflow URI) with Fulcio's
extensions and an embedded SCT list of its own. No two entries share a key or a
certificate, so nothing can be cached across entries (a certificate's parts that
every certificate of the CA shares are read once: tlog/monitor/certificate.py).

Each scan is one fresh ``tlog monitor``-equivalent run (checkpoint, every bundle
authenticated, every entry's index keys, validity (Rekor entries re-admitted: parsed,
signature verified, canonical bytes compared), duplicates, the watch list (an identity,
a fingerprint and a digest), and the index check against the published segments) in a
child process, so that its peak resident memory is its own: printed for the monitor's
process and for its largest worker process. Give several sizes to see that memory does
not grow with the log.

Targets (issue 10): ≥ 200,000 raw entries/s and ≥ 20,000 hashedrekord entries with
certificates/s, index check on (the default); memory flat in log size.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlog.admission import Candidate, rekor_admission
from tlog.client import Client
from tlog.entries.policy import DEFAULT_POLICY
from tlog.fetch.store import StoreFetcher
from tlog.keys import generate
from tlog.monitor import hashedrekord
from tlog.monitor.config import MonitorConfig
from tlog.monitor.finding import Finding
from tlog.monitor.run import Monitor
from tlog.sequencer import Sequencer
from tlog.state import CheckpointState
from tlog.storage.folder import FolderStore
from tlog.vkey import parse_vkeys

ISSUER = "https://token.actions.githubusercontent.com"
BATCH = 50_000
NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
WATCHED = b"entry 77"
CONFIG = (
    "monitoredValues:\n  certIdentities: [{certSubject: ^user2@example\\.com$}]\n"
    "  fingerprints: [" + "ab" * 32 + "]\n"
    f"  digests: [sha256:{hashlib.sha256(WATCHED).hexdigest()}]\n"
)


def _utf8(oid: str, text: str) -> x509.UnrecognizedExtension:
    raw = text.encode()
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x0c" + bytes([len(raw)]) + raw)


def _scts(i: int) -> x509.UnrecognizedExtension:
    """An embedded precertificate SCT list (RFC 6962 §3.3) of one SCT, as Fulcio's
    certificates carry: its own time and signature (not checked by a monitor)."""
    signature = hashlib.sha512(b"sct %d" % i).digest()[:71]
    body = (
        b"\x00" + hashlib.sha256(b"bench ct log").digest() + (1735689600000 + i).to_bytes(8, "big")
        + b"\x00\x00\x04\x03" + len(signature).to_bytes(2, "big") + signature
    )  # fmt: skip
    listed = len(body).to_bytes(2, "big") + body
    data = len(listed).to_bytes(2, "big") + listed
    return x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), b"\x04" + bytes([len(data)]) + data
    )


class Fulcio:
    """A CA issuing short-lived code-signing certificates as Fulcio does."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-intermediate")])
        self.ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())

    def issue(self, i: int, key: ec.EllipticCurvePrivateKey) -> bytes:
        """The PEM certificate of entry ``i``'s key: identity ``i % 64``."""
        n = i % 64
        if n % 2:
            repo = f"https://github.com/org{n}/repo"
            san: x509.GeneralName = x509.UniformResourceIdentifier(
                f"{repo}/.github/workflows/release.yml@refs/heads/main"
            )
            extra = [
                _utf8("1.3.6.1.4.1.57264.1.9", f"{repo}/.github/workflows/release.yml@main"),
                _utf8("1.3.6.1.4.1.57264.1.12", repo),
                _utf8("1.3.6.1.4.1.57264.1.13", hashlib.sha1(b"%d" % i).hexdigest()),
            ]
        else:
            san, extra = x509.RFC822Name(f"user{n}@example.com"), []
        extra.append(_scts(i))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(i + 1)
            .not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, *[False] * 8), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), False
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), ISSUER.encode()
                ),
                False,
            )
            .add_extension(_utf8("1.3.6.1.4.1.57264.1.8", ISSUER), False)
        )
        for ext in extra:
            builder = builder.add_extension(ext, False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM)


def document(fulcio: Fulcio, i: int) -> bytes:
    """Entry ``i``: a hashedrekord 0.0.1 proposal signed with a fresh key."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"artifact %d" % i).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    pem = fulcio.issue(i, key)
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


def build(folder: Path, kind: str, n: int) -> Path:
    """The log of ``n`` entries of ``kind`` in ``folder`` (built unless already there)."""
    log = folder / (f"{kind}-{n}" if kind == "raw" else f"{kind}-sct-{n}")
    if (log / "bench.vkey").exists():
        return log
    t = time.perf_counter()
    keys = generate("bench.example/monitor").keys
    seq = Sequencer(FolderStore(log), keys)
    seq.init()
    admit = rekor_admission(DEFAULT_POLICY) if kind == "rekor" else None
    fulcio = Fulcio()
    for lo in range(0, n, BATCH):
        ids = range(lo, min(n, lo + BATCH))
        docs = [document(fulcio, i) if admit else b"entry %d" % i for i in ids]
        seq.sequence([Candidate(str(i), d) for i, d in zip(ids, docs, strict=True)], admit)
    (log / "bench.vkey").write_text("\n".join(keys.vkeys()) + "\n")
    print(f"{kind}: built {n:,} entries in {time.perf_counter() - t:.1f}s", flush=True)
    return log


def scan(log: Path, validate: bool) -> dict[str, object]:
    """One fresh monitor run over the log in ``log`` (this process is the child)."""
    verifiers = parse_vkeys((log / "bench.vkey").read_text(), "bench.vkey")
    found: list[Finding] = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        monitor = Monitor(
            open_client=lambda: Client(
                StoreFetcher(FolderStore(log)), verifiers, state=CheckpointState(state)
            ),
            config=MonitorConfig.parse(CONFIG),
            config_text=CONFIG,
            state_root=state,
            emit=found.append,
            validate=validate,
        )
        before = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu0 = sum(r.ru_utime + r.ru_stime for r in before)
        main0 = before[0].ru_utime + before[0].ru_stime
        start = time.perf_counter()
        result = monitor.run_once()
        seconds = time.perf_counter() - start
    assert result.complete, result
    me = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "findings": len(found),
        "kinds": sorted({f.kind for f in found}),
        "rss": _peak_rss_mib(),
        "workers_rss": workers.ru_maxrss / 1024,
        "cpu": me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime - cpu0,
        "main_cpu": me.ru_utime + me.ru_stime - main0,
    }


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited
    from the process that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(what: str, log: Path, n: int, validate: bool = True) -> None:
    args = [sys.executable, __file__, "--child", str(log)] + ([] if validate else ["--nv"])
    out = json.loads(subprocess.run(args, check=True, capture_output=True).stdout)
    load = os.getloadavg()[0]
    print(
        f"{what}: {n:,} entries in {out['seconds']:.2f}s = {n / out['seconds']:,.0f} entries/s;"
        f" {out['cpu'] / n * 1e6:.1f} µs CPU each ({out['main_cpu'] / n * 1e6:.1f} in the"
        " monitor's process);"
        f" peak RSS {out['rss']:.0f} MiB (largest worker {out['workers_rss']:.0f} MiB);"
        f" {out['findings']} finding(s) {','.join(out['kinds'])}; load {load:.2f};"
        f" base64 from {_BASE64}",
        flush=True,
    )


#: Where the monitor's hashedrekord reading takes its base64 from (pybase64 if installed).
_BASE64 = "pybase64" if hashedrekord._encode is not base64.b64encode else "the standard library"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=int, nargs="*", default=[200_000])
    parser.add_argument("--rekor", type=int, nargs="*", default=[20_000])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--no-validate-too", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--nv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(scan(args.child, validate=not args.nv)))
        return
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        folder = args.dir or Path(tmp)
        for n in args.raw:
            report("raw, index checked", build(folder, "raw", n), n)
        for n in args.rekor:
            log = build(folder, "rekor", n)
            report("hashedrekord with certificates, index checked", log, n)
            if args.no_validate_too:
                report("hashedrekord with certificates, --no-validate", log, n, False)


if __name__ == "__main__":
    main()
