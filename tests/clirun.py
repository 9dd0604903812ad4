"""Running the ``tlog`` command line in tests, and what its tests share."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tlog.cli import main

ORIGIN = "cli.example/log"
SIGNER = ec.generate_private_key(ec.SECP256R1())


def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args), input=input)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def make_log(tmp_path: Path) -> tuple[Path, Path]:
    """A new folder log with its keys: (log folder, key folder)."""
    keydir = tmp_path / "keys"
    code, _, _ = run("keygen", "--origin", ORIGIN, "--out", str(keydir))
    assert code == 0
    logdir = tmp_path / "log"
    code, _out, err = run(
        "init", "--log", str(logdir), "--origin", ORIGIN, "--key", str(keydir / "log.key")
    )
    assert code == 0, err
    return logdir, keydir


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tlog: error: ")
    assert "Traceback" not in err
    return lines[0]


@functools.cache
def signed_request(i: int) -> bytes:
    """A valid Rekor v2 hashedrekord request over artifact number ``i`` (the same bytes
    each time: ECDSA signatures are randomised)."""
    digest = hashlib.sha256(b"artifact %d" % i).digest()
    sig = SIGNER.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    spki = SIGNER.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b64 = base64.b64encode
    doc = {
        "hashedRekordRequestV002": {
            "digest": b64(digest).decode(),
            "signature": {
                "content": b64(sig).decode(),
                "verifier": {
                    "publicKey": {"rawBytes": b64(spki).decode()},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                },
            },
        }
    }
    return json.dumps(doc).encode()
