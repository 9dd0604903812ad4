"""`tlog keygen` and `tlog key show`: keys for one origin, labelled vkeys for readers."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from logcheck import check_log

from tlog.cli import main
from tlog.keys import generate, load_keys, write_new
from tlog.note import Ed25519Signer
from tlog.storage.folder import FolderStore
from tlog.vkey import parse_vkey

ORIGIN = "cli.example/log"


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tlog: error: ")
    assert "Traceback" not in err
    return lines[0]


def vkey_lines(text: str) -> list[str]:
    """The vkeys of a vkey file, as readers take it (blank and # lines ignored)."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


# -- keygen -------------------------------------------------------------------------------


def test_keygen_writes_private_key_0600_and_prints_only_labelled_vkeys(tmp_path: Path) -> None:
    code, out, _ = run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    assert code == 0
    key = tmp_path / "k" / "log.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE" not in out
    assert out == (tmp_path / "k" / "log.vkey").read_text()
    vkeys = vkey_lines(out)
    assert vkeys == load_keys(str(key), ORIGIN).vkeys()
    assert len(vkeys) == 2 and all(line.startswith(ORIGIN + "+") for line in vkeys)
    assert "# Ed25519 log key" in out and "# timestamp key" in out
    assert (tmp_path / "k" / "log.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    code, _, err = run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    assert code == 1 and "refusing to overwrite" in one_error_line(err)


def test_keygen_json(tmp_path: Path) -> None:
    code, out, err = run(
        "keygen",
        "--origin",
        ORIGIN,
        "--type",
        "ecdsa-p256",
        "--out",
        str(tmp_path / "k"),
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    keys = load_keys(str(tmp_path / "k" / "log.key"), ORIGIN)
    assert doc["origin"] == ORIGIN and doc["vkeys"] == keys.vkeys()
    assert [doc["ecdsa_vkey"], doc["log_vkey"], doc["timestamp_vkey"]] == keys.vkeys()
    assert doc["files"]["private_key"] == str(tmp_path / "k" / "log.key")


def test_keygen_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "k"
    out.mkdir()
    for name in ("log.key", "log.vkey", "log.pub.pem"):
        target = tmp_path / f"victim-{name}"
        (out / name).symlink_to(target)  # dangling: Path.exists() says False
        code, _, err = run("keygen", "--origin", ORIGIN, "--out", str(out))
        assert code == 1 and "refusing" in one_error_line(err)
        assert not target.exists()
        (out / name).unlink()


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


def test_init_refuses_a_key_made_for_another_origin(tmp_path: Path) -> None:
    run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    code, _, err = run(
        "init",
        "--log",
        str(tmp_path / "log"),
        "--origin",
        "other.com/log",
        "--key",
        str(tmp_path / "k" / "log.key"),
    )
    line = one_error_line(err)
    assert code == 1 and ORIGIN in line and "other.com/log" in line
    assert not (tmp_path / "log" / "checkpoint").exists()


def test_a_key_others_can_read_is_refused_naming_the_fix(tmp_path: Path) -> None:
    run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    key = tmp_path / "k" / "log.key"
    key.chmod(0o644)
    code, _, err = run(
        "init", "--log", str(tmp_path / "log"), "--origin", ORIGIN, "--key", str(key)
    )
    assert code == 1 and f"chmod 600 {key}" in one_error_line(err)


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "damaged"])
def test_unusable_key_sources_are_one_line(tmp_path: Path, source: str) -> None:
    if source == "fifo":
        os.mkfifo(tmp_path / "fifo", 0o600)
        source = str(tmp_path / "fifo")
    elif source == "damaged":
        source = str(tmp_path / "damaged")
        write_new(
            Path(source),
            "-----BEGIN PRIVATE KEY-----\nMC4\u00e9\n-----END PRIVATE KEY-----\n".encode(),
        )
    code, _, err = run("key", "show", "--key", source, "--origin", ORIGIN)
    assert code == 1 and source in one_error_line(err)


# -- key show -----------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_key_show_prints_what_keygen_printed(tmp_path: Path, key_type: str) -> None:
    code, printed, _ = run(
        "keygen", "--origin", ORIGIN, "--type", key_type, "--out", str(tmp_path / "k")
    )
    assert code == 0
    code, out, err = run("key", "show", "--key", str(tmp_path / "k" / "log.key"))
    assert code == 0, err
    assert out == printed  # the origin comes from the key file itself
    code, out, err = run(
        "key", "show", "--key", str(tmp_path / "k" / "log.key"), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["vkeys"] == vkey_lines(printed)
    code, _, err = run(
        "key", "show", "--key", str(tmp_path / "k" / "log.key"), "--origin", "b.example/x"
    )
    assert code == 1 and "b.example/x" in one_error_line(err)


def test_key_show_gives_a_note_signer_key_its_timestamp_vkey(tmp_path: Path) -> None:
    """A Go note signer key yields one vkey elsewhere; readers also need the timestamp one."""
    gen = generate(ORIGIN)
    skey = tmp_path / "skey"
    write_new(skey, (Ed25519Signer(ORIGIN, gen.keys.ed25519).signer_key() + "\n").encode())
    code, out, err = run("key", "show", "--key", str(skey), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["origin"] == ORIGIN and doc["ecdsa_vkey"] is None
    assert doc["vkeys"] == [doc["log_vkey"], doc["timestamp_vkey"]] == gen.keys.vkeys()
    assert parse_vkey(doc["timestamp_vkey"]).key_id != parse_vkey(doc["log_vkey"]).key_id


def test_key_show_of_an_openssl_key_needs_the_origin(tmp_path: Path) -> None:
    plain = generate(ORIGIN).private_pem.split(b"\n", 1)[1]  # no Origin: line
    f = tmp_path / "openssl.key"
    write_new(f, plain)
    code, _, err = run("key", "show", "--key", str(f))
    assert code == 1 and "--origin" in one_error_line(err)
    code, out, err = run("key", "show", "--key", str(f), "--origin", ORIGIN)
    assert code == 0 and len(vkey_lines(out)) == 2


def test_key_show_of_a_kms_key(
    s3_bucket: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, _ = s3_bucket
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ts = tmp_path / "ts.key"
    write_new(ts, generate(ORIGIN).private_pem)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", endpoint)
    code, out, err = run(
        "key", "show", "--key", f"awskms://{key}", "--timestamp-key", str(ts), "--format", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["origin"] == ORIGIN and doc["ecdsa_vkey"] == doc["vkeys"][0]
    assert len(doc["vkeys"]) == 3
    code, _, err = run("key", "show", "--key", f"awskms://{key}")
    assert code == 1 and "--timestamp-key" in one_error_line(err)
