"""A log's signing keys: generating them and loading them from where operators keep them.

Every log has an **Ed25519 key** (name = the log's origin). It signs each checkpoint
twice: a plain Ed25519 note signature (type 0x01), which C2SP tlog-tiles requires of
every public log and which witnesses verify; and a C2SP tlog-cosignature/v1 line (type
0x04, same name) whose signed POSIX time is the integrated time of the entries the
checkpoint is first to cover. The signed-note key ID commits to the type byte, and a
cosignature message starts with ``cosignature/v1\\ntime``, which no checkpoint body can
(its second line is a decimal size), so the two uses stay domain-separated.

A log may also have an **ECDSA P-256 key** (type 0x02: local, or AWS KMS), as Rekor's
logs do; it then adds a third signature line and is the log's principal key (the
Sigstore log ID).

Key sources (``--key``): a PEM file holding a PKCS#8 Ed25519 key, or an EC P-256 key
followed by the Ed25519 key; a file holding a Go sumdb/note signer string
``PRIVATE+KEY+<name>+<id>+<base64>``; or ``awskms://<key id or ARN>`` (ECDSA P-256, with
``--timestamp-key`` naming the file with the Ed25519 key).

Private key material is never printed, logged or put in an error message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tlog.errors import ConfigError, MalformedError
from tlog.note import (
    CosignatureSigner,
    ECDSASigner,
    Ed25519Signer,
    Signer,
    Verifier,
    check_key_name,
    parse_signer_key,
)

MAX_KEY_FILE = 64 * 1024
KMS_SCHEME = "awskms://"


@dataclass(frozen=True)
class LogKeys:
    """The keys of one log (origin = every key's name): Ed25519, and optionally ECDSA."""

    origin: str
    ed25519: ed25519.Ed25519PrivateKey = field(repr=False)
    ecdsa: Signer | None = None

    @property
    def log(self) -> Signer:
        """The principal log key: the ECDSA key if the log has one, else the Ed25519 key."""
        return self.ecdsa or Ed25519Signer(self.origin, self.ed25519)

    def signers(self, clock: Callable[[], int]) -> list[Signer]:
        """Checkpoint signers, principal key first; ``clock`` gives the cosignature time."""
        out: list[Signer] = [self.ecdsa] if self.ecdsa else []
        out.append(Ed25519Signer(self.origin, self.ed25519))
        out.append(CosignatureSigner(self.origin, self.ed25519, clock))
        return out

    def verifiers(self) -> list[Verifier]:
        return [s.verifier() for s in self.signers(lambda: 0)]

    def vkeys(self) -> list[str]:
        """The vkey lines a verifier needs, principal log key first, timestamp key last."""
        return [v.vkey() for v in self.verifiers()]


def _read_key_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_KEY_FILE:
            raise ConfigError(f"key file {path} is {size} bytes: not a key file")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"key file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"key file {path} is a directory") from exc
    except PermissionError as exc:
        raise ConfigError(f"key file {path} is not readable (permission denied)") from exc


def _pem_blocks(data: bytes) -> list[bytes]:
    text = data.decode("ascii", errors="replace")
    blocks: list[bytes] = []
    start = text.find("-----BEGIN ")
    while start >= 0:
        end_marker = text.find("-----END ", start)
        if end_marker < 0:
            raise MalformedError("PEM block without an END line")
        end = text.find("-----", end_marker + 9)
        if end < 0:
            raise MalformedError("PEM block with a broken END line")
        blocks.append(text[start : end + 5].encode("ascii"))
        start = text.find("-----BEGIN ", end + 5)
    return blocks


def _pem_private_keys(
    data: bytes, where: str
) -> list[ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey]:
    keys: list[ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey] = []
    for block in _pem_blocks(data):
        if b"PRIVATE KEY" not in block.split(b"\n", 1)[0]:
            continue
        try:
            key = serialization.load_pem_private_key(block, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{where}: a PEM private key could not be loaded ({type(exc).__name__})"
            ) from None
        if isinstance(key, ed25519.Ed25519PrivateKey):  # noqa: SIM114 (narrows types)
            keys.append(key)
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            keys.append(key)
        else:
            raise ConfigError(f"{where}: only Ed25519 and ECDSA P-256 log keys are supported")
    return keys


def load_timestamp_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 private key from a PEM or PRIVATE+KEY file."""
    data = _read_key_file(path)
    if data.lstrip().startswith(b"PRIVATE+KEY+"):
        return parse_signer_key(data.decode("ascii", errors="replace")).private_key
    for key in _pem_private_keys(data, str(path)):
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
    raise ConfigError(f"{path} holds no Ed25519 private key for timestamps")


def load_keys(
    source: str,
    origin: str,
    *,
    timestamp_key: Path | None = None,
    endpoint_url: str | None = None,
) -> LogKeys:
    """Load the keys of the log ``origin`` from ``source`` (see module docstring)."""
    check_key_name(origin)
    if source.startswith(KMS_SCHEME):
        from tlog.kms import KMSSigner

        if timestamp_key is None:
            raise ConfigError("an awskms:// key needs --timestamp-key with an Ed25519 key file")
        kms = KMSSigner.connect(origin, source[len(KMS_SCHEME) :], endpoint_url=endpoint_url)
        return LogKeys(origin, load_timestamp_key(timestamp_key), kms)
    path = Path(source)
    data = _read_key_file(path)
    ts_override = load_timestamp_key(timestamp_key) if timestamp_key else None
    if data.lstrip().startswith(b"PRIVATE+KEY+"):
        try:
            signer = parse_signer_key(
                data.decode("ascii", errors="replace").strip().splitlines()[0]
            )
        except MalformedError as exc:
            raise ConfigError(f"key file {path}: {exc}") from None
        if signer.name != origin:
            raise ConfigError(
                f"key file {path} is for origin {signer.name!r}, but the log's origin is {origin!r}"
            )
        _no_override(ts_override, path)
        return LogKeys(origin, signer.private_key)
    keys = _pem_private_keys(data, str(path))
    if not keys:
        raise ConfigError(f"key file {path} holds no private key (PEM or PRIVATE+KEY)")
    first = keys[0]
    if isinstance(first, ed25519.Ed25519PrivateKey):
        _no_override(ts_override, path)
        return LogKeys(origin, first)
    eds = [k for k in keys[1:] if isinstance(k, ed25519.Ed25519PrivateKey)]
    ts = ts_override or (eds[0] if eds else None)
    if ts is None:
        raise ConfigError(
            f"key file {path} holds an ECDSA log key but no Ed25519 key "
            "(add one to the file or pass --timestamp-key)"
        )
    return LogKeys(origin, ts, ECDSASigner(origin, first))


def _no_override(ts_override: object, path: Path) -> None:
    if ts_override is not None:
        raise ConfigError(
            f"{path} is an Ed25519 log key, which also signs the timestamps: "
            "--timestamp-key is only for ECDSA and KMS log keys"
        )


def _pkcs8(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class GeneratedKeys:
    """What ``tlog keygen`` writes: the private key file, vkey lines and public PEM."""

    keys: LogKeys
    private_pem: bytes = field(repr=False)
    public_pem: bytes


def generate(origin: str, key_type: str = "ed25519") -> GeneratedKeys:
    """Fresh keys for a new log: ``ed25519`` (one key for both roles), or
    ``ecdsa-p256`` (an ECDSA log key plus an Ed25519 timestamp key)."""
    check_key_name(origin)
    if key_type == "ed25519":
        ed = ed25519.Ed25519PrivateKey.generate()
        keys = LogKeys(origin, ed)
        private = _pkcs8(ed)
        public = ed.public_key()
        pub_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    elif key_type == "ecdsa-p256":
        eck = ec.generate_private_key(ec.SECP256R1())
        ts = ed25519.Ed25519PrivateKey.generate()
        keys = LogKeys(origin, ts, ECDSASigner(origin, eck))
        private = _pkcs8(eck) + _pkcs8(ts)
        pub_pem = eck.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        raise ConfigError(f"unknown key type {key_type!r} (ed25519 or ecdsa-p256)")
    return GeneratedKeys(keys, private, pub_pem)


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (refusing to overwrite an existing key)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path} already exists: refusing to overwrite a key") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
