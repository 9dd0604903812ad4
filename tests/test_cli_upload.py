"""`tlog upload`: a signed artifact in, a logged Rekor entry (or a queued one) out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog.cli import main
from tlog.entries import MAX_INPUT_SIZE

ORIGIN = "upload.example/log"
DATA = Path(__file__).parent / "entries" / "data"
ARTIFACT = DATA / "artifact.txt"

# (type, pki format, signature, key, the Obj `tlog get` shows, what else the body says)
CASES = {
    "x509": ("hashedrekord", "x509", "x509/p256.sig", "x509/p256.pub.pem", "HashedRekordObj", ""),
    "x509-cert-v2": (
        "hashedrekord:0.0.2",
        "x509",
        "x509/leaf.sig",
        "x509/leaf.pem",
        "HashedRekordObj",
        '"keyDetails": "PKIX_ECDSA_P256_SHA_256"',
    ),
    "ssh": ("rekord", "ssh", "ssh/ed25519.sig", "ssh/ed25519.pub", "RekordObj", '"format": "ssh"'),
    "minisign": (
        "rekord",
        "minisign",
        "minisign/prehashed.minisig",
        "minisign/key.pub",
        "RekordObj",
        '"format": "minisign"',
    ),
    "pgp": (
        "rekord",
        "pgp",
        "pgp/p256.sig.asc",
        "pgp/p256.pub.asc",
        "RekordObj",
        '"format": "pgp"',
    ),
}


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tlog: error: ")
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Log:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.dir = tmp / "log"
        self.key = str(tmp / "keys" / "log.key")
        self.vkey = str(tmp / "keys" / "log.vkey")
        assert run("keygen", "--origin", ORIGIN, "--out", str(tmp / "keys"))[0] == 0
        code, _, err = run("init", "--log", str(self.dir), "--origin", ORIGIN, "--key", self.key)
        assert code == 0, err

    def reader(self) -> list[str]:
        dirs = ["--state-dir", str(self.tmp / "state"), "--cache-dir", str(self.tmp / "cache")]
        return ["--log", str(self.dir), "--vkey", self.vkey, *dirs]

    def upload(self, *args: str) -> tuple[int, str, str]:
        return run("upload", "--log", str(self.dir), "--key", self.key, *args)


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path)


def entry_args(
    case: str, *, artifact: Path = ARTIFACT, sig: Path | None = None, key: str | None = None
) -> list[str]:
    entry_type, pki, sig_name, key_name, _, _ = CASES[case]
    return [
        "--type",
        entry_type,
        "--pki-format",
        pki,
        "--artifact",
        str(artifact),
        "--signature",
        str(sig or DATA / sig_name),
        "--public-key",
        str(DATA / (key or key_name)),
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_upload_logs_the_entry_and_it_gets_proves_and_verifies_offline(log: Log, case: str) -> None:
    code, out, err = log.upload(*entry_args(case))
    assert code == 0, err
    first, *checkpoint = out.splitlines()
    assert first.startswith("Created entry at index 0, available at: ")
    uuid = first.rsplit(" ", 1)[1]
    assert len(uuid) == 64 and checkpoint[:2] == [ORIGIN, "1"]

    code, out, err = run("get", *log.reader(), "--uuid", uuid)
    assert code == 0, err
    obj, detail = CASES[case][4], CASES[case][5]
    assert f"UUID: {uuid}" in out and f'Body: {{\n  "{obj}": {{' in out
    assert detail in out

    proof = log.tmp / "proof.txt"
    code, _, err = run("prove", *log.reader(), "--log-index", "0", "--out", str(proof))
    assert code == 0, err
    code, out, err = run(
        "verify", "--vkey", log.vkey, "--proof", str(proof), "--artifact", str(ARTIFACT)
    )
    assert code == 0, err
    assert "Verification Successful!" in out and "Artifact: entry records the artifact" in out
    other = log.tmp / "other.txt"
    other.write_bytes(b"not the artifact\n")
    code, _, err = run(
        "verify", "--vkey", log.vkey, "--proof", str(proof), "--artifact", str(other)
    )
    assert code == 1 and "not about this artifact" in one_error_line(err)


def test_upload_json_and_artifact_hash(log: Log) -> None:
    digest = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    args = entry_args("x509")
    args[args.index("--artifact") : args.index("--artifact") + 2] = [
        "--artifact-hash",
        f"sha256:{digest}",
    ]
    code, out, err = log.upload(*args, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["index"] == 0 and doc["size"] == 1 and len(doc["uuid"]) == 64
    assert doc["checkpoint"].startswith(f"{ORIGIN}\n1\n")


def flipped(tmp: Path, name: str) -> Path:
    raw = bytearray((DATA / name).read_bytes())
    raw[-8] ^= 1
    out = tmp / "flipped.sig"
    out.write_bytes(bytes(raw))
    return out


@pytest.mark.parametrize(
    ("case", "change", "reason"),
    [
        ("x509", "flip", "signature does not verify"),
        ("x509", "key", "signature does not verify"),
        ("x509", "artifact", "signature does not verify"),
        ("ssh", "flip", "spec.signature"),
        ("ssh", "key", "spec.signature"),
        ("minisign", "artifact", "spec.signature"),
    ],
)
def test_bad_uploads_are_refused_with_one_line_and_nothing_written(
    log: Log, case: str, change: str, reason: str
) -> None:
    before = snapshot(log.dir)
    if change == "flip":
        args = entry_args(case, sig=flipped(log.tmp, CASES[case][2]))
    elif change == "key":
        args = entry_args(case, key="x509/p384.pub.pem" if case == "x509" else "ssh/ecdsa.pub")
    else:
        other = log.tmp / "other.txt"
        other.write_bytes(ARTIFACT.read_bytes() + b"tampered")
        args = entry_args(case, artifact=other)
    code, out, err = log.upload(*args)
    assert code == 1 and out == ""
    assert reason in one_error_line(err)
    assert snapshot(log.dir) == before
    code, _, err = run("upload", "--log", str(log.dir), "--submit", *args)
    assert code == 1 and reason in one_error_line(err)
    assert snapshot(log.dir) == before


def test_submit_queues_and_sequence_pending_logs_it(log: Log) -> None:
    code, out, err = run("upload", "--log", str(log.dir), "--submit", *entry_args("ssh"))
    assert code == 0, err
    queued, uuid_line = out.splitlines()
    assert queued.startswith("Queued entry ") and uuid_line.startswith("UUID: ")
    code, out, err = run(
        "upload", "--log", str(log.dir), "--submit", "--format", "json", *entry_args("ssh")
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["queued"] in queued and doc["uuid"] == uuid_line.split()[1]  # idempotent
    code, out, err = run(
        "sequence", "--log", str(log.dir), "--key", log.key, "--pending", "--format", "json"
    )
    assert code == 0, err
    entry, checkpoint = (json.loads(line) for line in out.splitlines())
    assert entry["index"] == 0 and entry["uuid"] == doc["uuid"] and checkpoint["size"] == 1
    code, out, err = run("get", *log.reader(), "--log-index", "0")
    assert code == 0 and '"RekordObj"' in out


def test_option_errors_are_one_line(log: Log, tmp_path: Path) -> None:
    logdir = str(log.dir)
    base = entry_args("x509")
    cases = [
        (["upload", "--log", logdir, *base], "--key"),
        (["upload", "--log", logdir, "--key", log.key, "--submit", *base], "mutually exclusive"),
        (["upload", "--log", logdir, "--key", log.key, *base, "--artifact-hash", "ab"], "only one"),
        (["upload", "--log", logdir, "--key", log.key, "--type", "rekord"], "--artifact"),
        (
            ["upload", "--log", logdir, "--key", log.key, *base[:-2], "--public-key", "nope.pem"],
            "cannot read public key",
        ),
        (["upload", "--log", str(tmp_path / "none"), "--submit", *base], "no log here"),
        (["upload", "--log", logdir, "--key", log.key, *base[:-2]], "--public-key"),
    ]
    for args, text in cases:
        code, _, err = run(*args)
        assert code == 1 and text in one_error_line(err), (args, err)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * MAX_INPUT_SIZE)
    code, _, err = log.upload(*entry_args("ssh", artifact=big))
    assert code == 1 and "use --type hashedrekord" in one_error_line(err)


def test_default_type_is_rekord_with_pgp_keys_as_rekor_cli(log: Log) -> None:
    code, out, err = log.upload(
        "--artifact",
        str(ARTIFACT),
        "--signature",
        str(DATA / "pgp/p256.sig.asc"),
        "--public-key",
        str(DATA / "pgp/p256.pub.asc"),
    )
    assert code == 0, err
    code, out, err = run("get", *log.reader(), "--log-index", "0")
    assert code == 0 and '"format": "pgp"' in out and '"RekordObj"' in out


@pytest.mark.parametrize(
    ("signature", "what"),
    [("x509/p256.sig", "a binary signature"), ("artifact.txt", "not an SSH signature")],
)
def test_ssh_upload_of_another_kind_of_signature_names_the_problem(
    log: Log, signature: str, what: str
) -> None:
    args = entry_args("ssh", sig=DATA / signature)
    for mode in (["--key", log.key], ["--submit"]):
        code, _, err = run("upload", "--log", str(log.dir), *mode, *args)
        line = one_error_line(err)
        assert code == 1 and what in line and "SSH SIGNATURE" in line, line
        assert "PEM-encoded public key" not in line
