"""Running ``tlog server`` in tests: a real subprocess on 127.0.0.1, and signed requests.

Requests are built by sigstore-python's own Rekor v2 client from a self-signed ECDSA
P-256 certificate, as ``sigstore sign`` would send them.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore.hashes import Hashed
from sigstore_models.common.v1 import HashAlgorithm

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0

KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate() -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tlog test signer")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )


CERT = _certificate()


def request(i: int, tag: str = "") -> dict[str, Any]:
    """sigstore-python's hashedRekordRequestV002 for artifact ``i`` (signed afresh)."""
    digest = hashlib.sha256(f"artifact {tag}{i}".encode()).digest()
    sig = KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
    return dict(RekorV2Client._build_hashed_rekord_request(hashed, sig, CERT))


def tlog(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the tlog command line of this tree in a subprocess."""
    cmd = [sys.executable, "-c", "from tlog.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@dataclass
class Log:
    """A folder log and its key files."""

    path: Path
    key: Path
    vkey: Path
    origin: str


def make_log(tmp_path: Path, key_type: str = "ecdsa-p256", origin: str = "server.test/log") -> Log:
    keys = tmp_path / "keys"
    tlog("keygen", "--origin", origin, "--type", key_type, "--out", str(keys))
    path = tmp_path / "log"
    tlog("init", "--log", str(path), "--origin", origin, "--key", str(keys / "log.key"))
    return Log(path, keys / "log.key", keys / "log.vkey", origin)


class Server:
    """A ``tlog server`` subprocess: its URL once it said it listens."""

    def __init__(self, log: Log | str, key: Path, *args: str, stderr: Path) -> None:
        location = str(log.path) if isinstance(log, Log) else log
        cmd = [
            sys.executable, "-c", "from tlog.cli import main; main()", "server",
            "--log", location, "--key", str(key), "--port", "0", *args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.stderr = stderr
        with stderr.open("ab") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        self.url = self._wait_ready()

    def _wait_ready(self) -> str:
        assert self.proc.stdout is not None
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        if not line.startswith(b"listening on http://127.0.0.1:"):
            self.kill()
            raise RuntimeError(f"server did not start: {line!r}: {self.stderr.read_text()}")
        return line.split()[2].decode()

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@contextmanager
def running(log: Log | str, key: Path, *args: str, stderr: Path) -> Iterator[Server]:
    server = Server(log, key, *args, stderr=stderr)
    try:
        yield server
    finally:
        server.kill()
