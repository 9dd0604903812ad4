"""The operator/publisher CLI: keygen, init, sequence, submit, serve — and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from logcheck import check_log

from tlog import layout
from tlog.cli import main
from tlog.keys import load_keys
from tlog.serve import make_server
from tlog.storage.folder import FolderStore

ORIGIN = "cli.example/log"
SIGNER = ec.generate_private_key(ec.SECP256R1())


def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args), input=input)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, Path]:
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


def test_keygen_writes_private_key_0600_and_prints_only_vkeys(tmp_path: Path) -> None:
    code, out, _ = run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    assert code == 0
    key = tmp_path / "k" / "log.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE" not in out
    assert out == (tmp_path / "k" / "log.vkey").read_text()
    assert len(out.splitlines()) == 2 and all(
        line.startswith(ORIGIN + "+") for line in out.splitlines()
    )
    assert (tmp_path / "k" / "log.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    code, _, err = run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    assert code == 1 and "refusing to overwrite" in one_error_line(err)


def test_keygen_ecdsa_log_signs_and_verifies(tmp_path: Path) -> None:
    run("keygen", "--origin", ORIGIN, "--type", "ecdsa-p256", "--out", str(tmp_path / "k"))
    code, _, err = run(
        "init",
        "--log",
        str(tmp_path / "log"),
        "--origin",
        ORIGIN,
        "--key",
        str(tmp_path / "k" / "log.key"),
    )
    assert code == 0, err
    f = tmp_path / "e.bin"
    f.write_bytes(b"hello")
    code, _out, err = run(
        "sequence",
        "--log",
        str(tmp_path / "log"),
        "--key",
        str(tmp_path / "k" / "log.key"),
        "--raw",
        str(f),
    )
    assert code == 0, err
    keys = load_keys(str(tmp_path / "k" / "log.key"), ORIGIN)
    assert check_log(FolderStore(tmp_path / "log"), keys) == [b"hello"]


def test_sequence_raw_files_prints_index_uuid_and_checkpoint(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    files = []
    for i in range(3):
        f = tmp_path / f"artifact{i}"
        f.write_bytes(b"artifact %d" % i)
        files.append(str(f))
    code, out, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--raw", *files
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{files[0]}: index 0 uuid ")
    assert lines[2].startswith(f"{files[2]}: index 2 uuid ")
    assert lines[3] == ORIGIN and lines[4] == "3"
    keys = load_keys(str(keydir / "log.key"), ORIGIN)
    assert check_log(FolderStore(logdir), keys) == [b"artifact 0", b"artifact 1", b"artifact 2"]


def test_sequence_json_format_is_machine_readable(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "a"
    f.write_bytes(b"x")
    code, out, _ = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        "--format",
        "json",
        str(f),
    )
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs[0]["index"] == 0 and len(docs[0]["uuid"]) == 64
    assert docs[1]["size"] == 1 and docs[1]["checkpoint"].startswith(ORIGIN + "\n1\n")


def test_unreadable_and_oversize_inputs_are_refused_and_the_rest_goes_on(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    good = tmp_path / "good"
    good.write_bytes(b"fine")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    code, out, _err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        str(tmp_path / "missing"),
        str(big),
        str(good),
    )
    assert code == 1
    assert f"{tmp_path / 'missing'}: refused: cannot read" in out
    assert f"{big}: refused: entry is larger than the 65535-byte limit" in out
    assert f"{good}: index 0 uuid" in out


def test_nothing_admissible_writes_nothing(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    before = snapshot(logdir)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), str(empty)
    )
    assert code == 1 and "empty" in one_error_line(err)
    code, _out, err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        str(tmp_path / "nope"),
    )
    assert code == 1 and "nothing written" in one_error_line(err)
    code, _, err = run("sequence", "--log", str(logdir), "--key", str(keydir / "log.key"))
    assert code == 1 and "--pending" in one_error_line(err)
    assert snapshot(logdir) == before


def test_unsupported_json_entries_get_a_reason(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "batch.jsonl"
    f.write_text('{"kind": "nosuchkind", "apiVersion": "9.9.9", "spec": {}}\nnot json\n')
    key = str(keydir / "log.key")
    code, out, _err = run("sequence", "--log", str(logdir), "--key", key, str(f))
    assert code == 1
    assert f"{f}:1: refused: entry kind 'nosuchkind' version '9.9.9' is not supported" in out
    assert f"{f}:2: refused: not a JSON document" in out


def test_missing_key_mismatched_key_and_unwritable_target(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    before = snapshot(logdir)
    f = tmp_path / "a"
    f.write_bytes(b"x")
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(tmp_path / "nokey"), "--raw", str(f)
    )
    assert code == 1 and "does not exist" in one_error_line(err)
    run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "other"))
    code, _, err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(tmp_path / "other" / "log.key"),
        "--raw",
        str(f),
    )
    assert code == 1 and "key does not match" in one_error_line(err)
    assert snapshot(logdir) == before
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    code, _, err = run(
        "init", "--log", str(blocker / "log"), "--origin", ORIGIN, "--key", str(keydir / "log.key")
    )
    assert code == 1
    one_error_line(err)
    code, _, err = run(
        "init",
        "--log",
        "http://127.0.0.1:9/log",
        "--origin",
        ORIGIN,
        "--key",
        str(keydir / "log.key"),
    )
    assert code == 1 and "read-only" in one_error_line(err)


def signed_request(i: int) -> bytes:
    """A valid Rekor v2 hashedrekord request over artifact number ``i``."""
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


def test_submit_then_sequence_pending(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "q.jsonl"
    f.write_bytes(signed_request(1) + b"\n")
    code, _, err = run("submit", "--log", str(logdir), str(f), str(f))
    assert code == 0, err
    assert len(FolderStore(logdir).list(layout.PENDING_PREFIX)) == 1  # the same entry once
    code, _out, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--pending"
    )
    assert code == 0, err
    assert FolderStore(logdir).list(layout.PENDING_PREFIX) == []
    keys = load_keys(str(keydir / "log.key"), ORIGIN)
    (entry,) = check_log(FolderStore(logdir), keys)
    assert b'"kind":"hashedrekord"' in entry


def test_serve_exposes_only_public_objects_with_cdn_headers(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    f = tmp_path / "a"
    f.write_bytes(b"x")
    run("sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--raw", str(f))
    server = make_server(logdir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with urllib.request.urlopen(base + "checkpoint") as r:
            assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert r.headers["Cache-Control"] == "no-cache"
            assert r.read() == (logdir / "checkpoint").read_bytes()
        with urllib.request.urlopen(base + "tile/0/000.p/1") as r:
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.headers["Content-Type"] == "application/octet-stream"
        for secret in ("private/lock", "private/../private/lock", "%2e%2e/etc/passwd", "log.key"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + secret)
            assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    assert os.path.exists(logdir / "private" / "lock")


def test_a_batch_mixing_good_and_bad_rekor_entries(log: tuple[Path, Path], tmp_path: Path) -> None:
    """Good hashedrekord entries land; bad ones get a reason; nothing is lost."""
    from tlog.entries.proposal import build_proposal

    logdir, keydir = log
    data = Path(__file__).parent / "entries" / "data"
    artifact = (data / "artifact.txt").read_bytes()
    good = build_proposal(
        "hashedrekord",
        pki_format="x509",
        artifact=artifact,
        signature=(data / "x509" / "p256.sig").read_bytes(),
        public_keys=[(data / "x509" / "p256.pub.pem").read_bytes()],
    )
    bad_sig = build_proposal(
        "hashedrekord",
        pki_format="x509",
        artifact=artifact + b"tampered",
        signature=(data / "x509" / "p256.sig").read_bytes(),
        public_keys=[(data / "x509" / "p256.pub.pem").read_bytes()],
    )
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"\n".join([good, bad_sig, b'{"kind": "hashedrekord"}', good]) + b"\n")
    key = str(keydir / "log.key")
    code, out, _ = run("sequence", "--log", str(logdir), "--key", key, str(batch))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{batch}:1: index 0 uuid ")
    assert lines[1].startswith(f"{batch}:2: refused: ") and "signature" in lines[1]
    assert lines[2].startswith(f"{batch}:3: refused: ")
    assert lines[3].startswith(f"{batch}:4: index 0 uuid ") and "duplicate" in lines[3]
    keys = load_keys(key, ORIGIN)
    (entry,) = check_log(FolderStore(logdir), keys)
    assert b'"kind":"hashedrekord"' in entry


def test_hostile_bytes_in_a_refusal_reason_still_print(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    f = tmp_path / "evil.jsonl"
    f.write_text('{"hashedRekordRequestV002": {"\\ud800": 1}}\n')
    code, out, err = run("sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), str(f))
    assert code == 1
    assert f"{f}:1: refused: " in out
    one_error_line(err)
