"""Key sources: PEM files, Go note signer keys, AWS KMS (through the moto server)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from tlog import merkle
from tlog.checkpoint import Checkpoint, open_checkpoint
from tlog.codec import encode_pem
from tlog.errors import ConfigError
from tlog.keys import generate, load_keys, timestamp_vkey, write_new
from tlog.note import Ed25519Signer, sign
from tlog.vkey import parse_vkey

ORIGIN = "keys.example/log"


def key_file(path: Path, data: bytes | str) -> Path:
    """A private key file as an operator keeps it: mode 0600."""
    write_new(path, data.encode() if isinstance(data, str) else data)
    return path


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
    f = key_file(tmp_path / "log.key", gen.private_pem)
    _roundtrip(str(f), tmp_path)
    assert load_keys(str(f), ORIGIN).vkeys() == gen.keys.vkeys()


def test_note_signer_key_file_gives_the_same_vkey(tmp_path: Path) -> None:
    gen = generate(ORIGIN)
    f = key_file(tmp_path / "skey", gen.keys.log.signer_key() + "\n")  # type: ignore[attr-defined]
    assert load_keys(str(f), ORIGIN).vkeys() == gen.keys.vkeys()
    with pytest.raises(ConfigError, match="origin"):
        load_keys(str(f), "another.example/log")


def test_ecdsa_pem_without_timestamp_key_is_refused(tmp_path: Path) -> None:
    gen = generate(ORIGIN, "ecdsa-p256")
    first = gen.private_pem.split(b"-----END PRIVATE KEY-----")[0] + b"-----END PRIVATE KEY-----\n"
    f = key_file(tmp_path / "ec.key", first)
    with pytest.raises(ConfigError, match="timestamp"):
        load_keys(str(f), ORIGIN)


def test_bad_key_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_keys(str(tmp_path / "none"), ORIGIN)
    junk = key_file(tmp_path / "junk", "hello\n")
    with pytest.raises(ConfigError, match="holds no private key"):
        load_keys(str(junk), ORIGIN)
    secret = generate(ORIGIN).private_pem
    broken = key_file(tmp_path / "broken", secret.replace(b"-----\n", b"-----\nX", 1))
    with pytest.raises(ConfigError) as err:
        load_keys(str(broken), ORIGIN)
    body = secret.split(b"-----\n")[1].split(b"\n")[0]
    assert len(body) > 40 and body.decode() not in str(err.value)  # no key material echoed


def test_kms_key_signs_checkpoints(s3_bucket: tuple[str, str], tmp_path: Path) -> None:
    endpoint, _ = s3_bucket
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ts = key_file(tmp_path / "ts.key", generate(ORIGIN).private_pem)
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
    f = key_file(tmp_path / "skey", skey[:-3] + "!" + skey[-2:] + "\n")
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
    ts = key_file(tmp_path / "ts.key", generate(ORIGIN).private_pem)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", endpoint)
    _roundtrip(f"awskms://{key}", tmp_path, timestamp_key=ts)


# -- a key is made for one origin ---------------------------------------------------------


def test_a_key_made_for_another_origin_is_refused_naming_both(tmp_path: Path) -> None:
    gen = generate(ORIGIN, "ecdsa-p256")
    f = key_file(tmp_path / "log.key", gen.private_pem)
    assert gen.private_pem.startswith(f"Origin: {ORIGIN}\n".encode())
    with pytest.raises(ConfigError) as err:
        load_keys(str(f), "other.example/log")
    assert ORIGIN in str(err.value) and "other.example/log" in str(err.value)
    # The recorded origin is the default, and the file stays a PEM file for other tools.
    assert load_keys(str(f), None).vkeys() == gen.keys.vkeys()
    assert serialization.load_pem_private_key(gen.private_pem, None) is not None


def test_a_pem_key_without_recorded_origin_loads_for_any_origin(tmp_path: Path) -> None:
    plain = generate(ORIGIN).private_pem.split(b"\n", 1)[1]
    f = key_file(tmp_path / "openssl.key", plain)
    assert load_keys(str(f), "any.example/log").origin == "any.example/log"
    with pytest.raises(ConfigError, match="--origin"):
        load_keys(str(f), None)


def test_a_timestamp_key_made_for_another_origin_is_refused(tmp_path: Path) -> None:
    ec_only = generate(ORIGIN, "ecdsa-p256").private_pem.split(b"-----END PRIVATE KEY-----")[0]
    f = key_file(tmp_path / "ec.key", ec_only + b"-----END PRIVATE KEY-----\n")
    ts = key_file(tmp_path / "ts.key", generate("other.example/log").private_pem)
    with pytest.raises(ConfigError, match=r"other\.example/log"):
        load_keys(str(f), ORIGIN, timestamp_key=ts)


def test_the_timestamp_vkey_follows_from_the_ed25519_vkey(tmp_path: Path) -> None:
    keys = generate(ORIGIN).keys
    roles = keys.roles()
    assert list(roles) == ["log", "timestamp"]
    assert timestamp_vkey(roles["log"]) == roles["timestamp"]
    ecdsa = generate(ORIGIN, "ecdsa-p256").keys.roles()
    assert list(ecdsa) == ["ecdsa", "log", "timestamp"]
    assert timestamp_vkey(ecdsa["log"]) == ecdsa["timestamp"]
    with pytest.raises(ConfigError, match="Ed25519"):
        timestamp_vkey(ecdsa["ecdsa"])
    lines = keys.labelled().splitlines()
    vkeys = [ln for ln in lines if not ln.startswith("#")]
    assert vkeys == keys.vkeys() and len(lines) == 5
    assert [parse_vkey(v).vkey() for v in vkeys] == vkeys


# -- what cannot be a key file ------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_others_can_access_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    f = key_file(tmp_path / "log.key", generate(ORIGIN).private_pem)
    f.chmod(mode)
    with pytest.raises(ConfigError, match=f"chmod 600 {f}"):
        load_keys(str(f), ORIGIN)
    ts = key_file(tmp_path / "ec.key", generate(ORIGIN, "ecdsa-p256").private_pem)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keys(str(ts), ORIGIN, timestamp_key=f)
    f.chmod(0o400)
    assert load_keys(str(f), ORIGIN).origin == ORIGIN


def test_devices_directories_and_fifos_are_refused_without_reading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_keys("/dev/zero", ORIGIN)  # read unbounded, this would exhaust memory
    with pytest.raises(ConfigError, match="directory"):
        load_keys(str(tmp_path), ORIGIN)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_keys(str(fifo), ORIGIN)
        except ConfigError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(60)  # a bound against a hang, not a timing assertion: it returns at once
    assert not worker.is_alive(), "opening a FIFO as --key hangs"
    assert "not a regular file" in str(outcome[0])
    big = key_file(tmp_path / "big", b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="not a key file"):
        load_keys(str(big), ORIGIN)


def _damaged_keys() -> dict[str, bytes]:
    good = generate(ORIGIN).private_pem
    der = serialization.load_pem_private_key(good, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unknown_oid = bytearray(der)
    unknown_oid[10] ^= 0xFF  # the algorithm OID: cryptography's UnsupportedAlgorithm
    zero_ed448 = "302e020100300506032b657104220420" + "00" * 32
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    ed448_key = ed448.Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "non-ascii": good.replace(b"-----END", "\u00e9\n-----END".encode(), 1),
        "unknown-oid": encode_pem("PRIVATE KEY", bytes(unknown_oid)),
        "openssl-internal": encode_pem("PRIVATE KEY", bytes.fromhex(zero_ed448)),
        "encrypted": encrypted,
        "ed448": ed448_key,
        "bad-base64": b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "signer-key-non-ascii": "PRIVATE+KEY+a.example/log+abcd+\u00e9\n".encode(),
    }


@pytest.mark.parametrize("name", list(_damaged_keys()))
def test_damaged_key_files_are_one_config_error(tmp_path: Path, name: str) -> None:
    f = key_file(tmp_path / "k", _damaged_keys()[name])
    with pytest.raises(ConfigError) as err:
        load_keys(str(f), ORIGIN)
    assert "\n" not in str(err.value) and str(f) in str(err.value)


def test_write_new_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    (tmp_path / "planted").symlink_to(target)
    with pytest.raises(ConfigError, match="refusing"):
        write_new(tmp_path / "planted", b"secret")
    assert not target.exists()
    write_new(tmp_path / "fresh", b"secret")
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="already exists"):
        write_new(tmp_path / "fresh", b"again")
    assert (tmp_path / "fresh").read_bytes() == b"secret"
