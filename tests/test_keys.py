"""Key sources: PEM files, Go note signer keys, AWS KMS (through the moto server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tlog import merkle
from tlog.checkpoint import Checkpoint, open_checkpoint
from tlog.errors import ConfigError
from tlog.keys import generate, load_keys
from tlog.note import Ed25519Signer, sign

ORIGIN = "keys.example/log"


def _roundtrip(keys_source: str, tmp_path: Path, **kw: object) -> None:
    keys = load_keys(keys_source, ORIGIN, **kw)  # type: ignore[arg-type]
    note = sign(Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT).format(), keys.signers(lambda: 7))
    opened = open_checkpoint(note.format(), keys.verifiers(), origin=ORIGIN)
    assert opened.timestamp == 7
    # Always an Ed25519 (0x01) line, as tlog-tiles asks of public logs, and the
    # cosignature/v1 (0x04) timestamp line; an ECDSA (0x02) line when the log has one.
    ids = [s.key_id for s in note.signatures]
    assert Ed25519Signer(ORIGIN, keys.ed25519).key_id in ids
    assert len(ids) == (3 if keys.ecdsa else 2)


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_generated_pem_keys_load_and_sign(key_type: str, tmp_path: Path) -> None:
    gen = generate(ORIGIN, key_type)
    f = tmp_path / "log.key"
    f.write_bytes(gen.private_pem)
    _roundtrip(str(f), tmp_path)
    assert load_keys(str(f), ORIGIN).vkeys() == gen.keys.vkeys()


def test_note_signer_key_file_gives_the_same_vkey(tmp_path: Path) -> None:
    gen = generate(ORIGIN)
    f = tmp_path / "skey"
    f.write_text(gen.keys.log.signer_key() + "\n")  # type: ignore[attr-defined]
    assert load_keys(str(f), ORIGIN).vkeys() == gen.keys.vkeys()
    with pytest.raises(ConfigError, match="origin"):
        load_keys(str(f), "another.example/log")


def test_ecdsa_pem_without_timestamp_key_is_refused(tmp_path: Path) -> None:
    gen = generate(ORIGIN, "ecdsa-p256")
    first = gen.private_pem.split(b"-----END PRIVATE KEY-----")[0] + b"-----END PRIVATE KEY-----\n"
    f = tmp_path / "ec.key"
    f.write_bytes(first)
    with pytest.raises(ConfigError, match="timestamp"):
        load_keys(str(f), ORIGIN)


def test_bad_key_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_keys(str(tmp_path / "none"), ORIGIN)
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError, match="holds no private key"):
        load_keys(str(junk), ORIGIN)
    secret = generate(ORIGIN).private_pem
    broken = tmp_path / "broken"
    broken.write_bytes(secret.replace(b"\n", b"\nX", 1))
    with pytest.raises(ConfigError) as err:
        load_keys(str(broken), ORIGIN)
    assert secret.split(b"\n")[1].decode() not in str(err.value)  # no key material echoed


def test_kms_key_signs_checkpoints(s3_bucket: tuple[str, str], tmp_path: Path) -> None:
    endpoint, _ = s3_bucket
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ts = tmp_path / "ts.key"
    ts.write_bytes(generate(ORIGIN).private_pem)
    _roundtrip(f"awskms://{key}", tmp_path, timestamp_key=ts, endpoint_url=endpoint)
    with pytest.raises(ConfigError, match="timestamp-key"):
        load_keys(f"awskms://{key}", ORIGIN, endpoint_url=endpoint)
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ConfigError, match="ECC_NIST_P256"):
        load_keys(f"awskms://{rsa}", ORIGIN, timestamp_key=ts, endpoint_url=endpoint)


def test_a_damaged_signer_key_file_never_echoes_the_key(tmp_path: Path) -> None:
    from tlog.note import Ed25519Signer

    gen = generate(ORIGIN)
    skey = Ed25519Signer(ORIGIN, gen.keys.ed25519).signer_key()
    # PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ key)>: the base64 itself may hold '+'.
    secret = skey.split("+", 4)[4]
    assert len(secret) == 44
    f = tmp_path / "skey"
    f.write_text(skey[:-3] + "!" + skey[-2:] + "\n")
    with pytest.raises(ConfigError) as err:
        load_keys(str(f), ORIGIN)
    message = str(err.value)
    # No 8-character run of the key's base64 reaches the message.
    assert not any(secret[i : i + 8] in message for i in range(len(secret) - 7))


def test_kms_endpoint_comes_from_the_environment_not_the_s3_flag(
    s3_bucket: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3-compatible store and KMS are often different endpoints."""
    endpoint, _ = s3_bucket
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ts = tmp_path / "ts.key"
    ts.write_bytes(generate(ORIGIN).private_pem)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", endpoint)
    _roundtrip(f"awskms://{key}", tmp_path, timestamp_key=ts)
