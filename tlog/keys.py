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

A key is made for one log: a note signer key carries the origin as its name, and a PEM
file written by ``tlog keygen`` records it on an ``Origin:`` line before its blocks
(RFC 7468 §5.2 explanatory text). A key recorded for another origin is refused; keys
recording none (openssl's) load for any origin.

Key files must be regular files private to their owner (no group or other access, as
ssh demands of private keys) and at most MAX_KEY_FILE bytes. Private key material is
never printed, logged or put in an error message.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tlog.codec import encode_pem, pem_blocks
from tlog.errors import ConfigError, MalformedError
from tlog.note import (
    ALG_ED25519,
    CosignatureSigner,
    CosignatureVerifier,
    ECDSASigner,
    Ed25519Signer,
    Ed25519Verifier,
    Signer,
    Verifier,
    check_key_name,
    parse_signer_key,
)
from tlog.vkey import parse_vkey

MAX_KEY_FILE = 64 * 1024
KMS_SCHEME = "awskms://"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

#: What each of a log's vkeys is for (the roles of :meth:`LogKeys.roles`).
ROLES = {
    "ecdsa": "ECDSA P-256 log key (type 0x02): the log's principal key, its Sigstore log ID",
    "log": "Ed25519 log key (type 0x01): signs every checkpoint (C2SP tlog-tiles)",
    "timestamp": "timestamp key (type 0x04, C2SP tlog-cosignature/v1): signs integrated times",
}


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

    def roles(self) -> dict[str, str]:
        """Each vkey by its role (see ROLES): ``ecdsa`` (if any), ``log``, ``timestamp``."""
        out = {"ecdsa": self.ecdsa.verifier().vkey()} if self.ecdsa else {}
        out["log"] = Ed25519Signer(self.origin, self.ed25519).verifier().vkey()
        out["timestamp"] = CosignatureSigner(self.origin, self.ed25519, int).verifier().vkey()
        return out

    def labelled(self) -> str:
        """The vkey lines, each under a ``#`` line saying what it is: a vkey file as
        readers take it (``--vkey``), which also tells people which line is which."""
        head = f"# vkeys of the log {self.origin}\n"
        return head + "".join(f"# {ROLES[r]}\n{v}\n" for r, v in self.roles().items())


def timestamp_vkey(log_vkey: str) -> str:
    """The timestamp (cosignature/v1) vkey of a log whose Ed25519 vkey is ``log_vkey``.

    A tlog log signs its timestamps with its Ed25519 key (module docstring), so a
    reader holding only that vkey (say, from a Go note signer key) can derive the other.
    """
    v = parse_vkey(log_vkey)
    if not isinstance(v, Ed25519Verifier):
        raise ConfigError(f"{log_vkey[:80]!r} is not an Ed25519 (type 0x{ALG_ED25519:02x}) vkey")
    return CosignatureVerifier(v.name, v.public).vkey()


def _read_private(path: Path) -> bytes:
    """A private key file's bytes, refusing what cannot be one before reading it.

    Opened without blocking (a FIFO never hangs), then refused unless it is a regular
    file private to its owner (as ssh refuses a key others can read) of at most
    MAX_KEY_FILE bytes; never more than MAX_KEY_FILE + 1 bytes are read (/dev/zero).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"key file {path} is not readable (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    try:
        _check_private(path, os.fstat(fd).st_mode)
        data = b""
        while len(data) <= MAX_KEY_FILE and (chunk := os.read(fd, MAX_KEY_FILE + 1 - len(data))):
            data += chunk
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE:
        raise ConfigError(f"key file {path} is over {MAX_KEY_FILE} bytes: not a key file")
    return data


def _check_private(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ConfigError(f"key file {path} is a directory")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"key file {path} is not a regular file (a device, FIFO or socket)")
    if mode & 0o077:
        raise ConfigError(
            f"key file {path} is accessible by others (mode {stat.S_IMODE(mode):04o}): a "
            f"private key must be its owner's alone; run: chmod 600 {path}"
        )


_ORIGIN_LINE = re.compile(rb"^Origin:[ \t]*(\S+)[ \t]*\r?$", re.MULTILINE)


def _recorded_origin(data: bytes, path: Path) -> str | None:
    """The origin an ``Origin: <origin>`` line outside the PEM blocks records, if any.

    RFC 7468 §5.2 lets explanatory text stand before a PEM block; ``tlog keygen`` puts
    the log's origin there (PEM itself has no place for it).
    """
    found = {m.group(1) for m in _ORIGIN_LINE.finditer(data)}
    if len(found) > 1:
        raise ConfigError(f"key file {path} records more than one origin")
    if not found:
        return None
    origin = found.pop().decode("utf-8", "replace")
    try:
        check_key_name(origin)
    except MalformedError as exc:
        raise ConfigError(f"key file {path} records a bad origin: {exc}") from None
    return origin


def _load_der(label: str, der: bytes, path: Path) -> PrivateKey:
    if label.startswith("ENCRYPTED"):
        raise ConfigError(
            f"key file {path} holds an encrypted private key: tlog needs it unencrypted "
            "(openssl pkey -in KEY -out PLAIN), kept with mode 0600"
        )
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
        # Never the library's message: it could quote key material.
        raise ConfigError(
            f"key file {path}: a PEM private key ({label}) is damaged or of an unknown kind"
        ) from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return key
    raise ConfigError(f"key file {path}: only Ed25519 and ECDSA P-256 log keys are supported")


def _pem_private_keys(data: bytes, path: Path) -> list[PrivateKey]:
    """Every private key of the PEM blocks of ``data``, in order (other blocks skipped)."""
    if b"-----BEGIN " not in data:
        return []
    try:
        blocks = pem_blocks(data, f"key file {path}", only_pem=False, secret=True)
    except MalformedError as exc:
        raise ConfigError(str(exc)) from None
    return [_load_der(label, der, path) for label, der in blocks if "PRIVATE KEY" in label]


def _signer_key(data: bytes, path: Path) -> Ed25519Signer:
    """The Go note signer key on the first line of ``data`` (never echoed in errors)."""
    line = data.strip().split(b"\n", 1)[0].decode("ascii", errors="replace")
    try:
        return parse_signer_key(line)
    except MalformedError as exc:
        raise ConfigError(f"key file {path}: {exc}") from None


@dataclass(frozen=True)
class KeyFile:
    """What one private key file holds: its keys in order, and the origin it records
    (a note signer key's name, or a PEM file's ``Origin:`` line; None if neither)."""

    path: Path
    origin: str | None
    keys: tuple[PrivateKey, ...] = field(repr=False)


def read_key_file(path: Path) -> KeyFile:
    """Read and parse a private key file (PEM or PRIVATE+KEY); ConfigError, one line."""
    data = _read_private(path)
    if data.lstrip().startswith(b"PRIVATE+KEY+"):
        signer = _signer_key(data, path)
        return KeyFile(path, signer.name, (signer.private_key,))
    return KeyFile(path, _recorded_origin(data, path), tuple(_pem_private_keys(data, path)))


def _agreed_origin(origin: str | None, files: list[KeyFile]) -> str:
    """``origin``, or the one the key files record; ConfigError when they disagree."""
    for f in files:
        if f.origin is None:
            continue
        if origin is None:
            origin = f.origin
        elif f.origin != origin:
            raise ConfigError(
                f"key file {f.path} is for origin {f.origin!r}, but the log's origin is "
                f"{origin!r}: use the key made for {origin!r}"
            )
    if origin is None:
        raise ConfigError("the key records no origin: give the log's origin with --origin")
    check_key_name(origin)
    return origin


def _timestamp_key(f: KeyFile) -> ed25519.Ed25519PrivateKey:
    for key in f.keys:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
    raise ConfigError(f"{f.path} holds no Ed25519 private key for timestamps")


def load_keys(
    source: str,
    origin: str | None,
    *,
    timestamp_key: Path | None = None,
    endpoint_url: str | None = None,
) -> LogKeys:
    """Load the keys of the log ``origin`` from ``source`` (see module docstring).

    A key file that records another origin is refused, naming both. With ``origin``
    None the origin is the one the key files record (ConfigError if none does).
    """
    ts_file = read_key_file(timestamp_key) if timestamp_key else None
    if source.startswith(KMS_SCHEME):
        if ts_file is None:
            raise ConfigError("an awskms:// key needs --timestamp-key with an Ed25519 key file")
        origin = _agreed_origin(origin, [ts_file])
        from tlog.kms import KMSSigner

        kms = KMSSigner.connect(origin, source[len(KMS_SCHEME) :], endpoint_url=endpoint_url)
        return LogKeys(origin, _timestamp_key(ts_file), kms)
    key_file = read_key_file(Path(source))
    origin = _agreed_origin(origin, [key_file] + ([ts_file] if ts_file else []))
    if not key_file.keys:
        raise ConfigError(f"key file {source} holds no private key (PEM or PRIVATE+KEY)")
    first = key_file.keys[0]
    if isinstance(first, ed25519.Ed25519PrivateKey):
        if ts_file is not None:
            raise ConfigError(
                f"{source} is an Ed25519 log key, which also signs the timestamps: "
                "--timestamp-key is only for ECDSA and KMS log keys"
            )
        return LogKeys(origin, first)
    eds = [k for k in key_file.keys[1:] if isinstance(k, ed25519.Ed25519PrivateKey)]
    ts = _timestamp_key(ts_file) if ts_file else (eds[0] if eds else None)
    if ts is None:
        raise ConfigError(
            f"key file {source} holds an ECDSA log key but no Ed25519 key "
            "(add one to the file or pass --timestamp-key)"
        )
    return LogKeys(origin, ts, ECDSASigner(origin, first))


def _pkcs8(key: PrivateKey) -> bytes:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encode_pem("PRIVATE KEY", der)


def _spki_pem(key: PrivateKey) -> bytes:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encode_pem("PUBLIC KEY", der)


@dataclass(frozen=True)
class GeneratedKeys:
    """What ``tlog keygen`` writes: the private key file, vkey lines and public PEM."""

    keys: LogKeys
    private_pem: bytes = field(repr=False)
    public_pem: bytes


def generate(origin: str, key_type: str = "ed25519") -> GeneratedKeys:
    """Fresh keys for a new log: ``ed25519`` (one key for both roles), or
    ``ecdsa-p256`` (an ECDSA log key plus an Ed25519 timestamp key).

    The private key file starts with ``Origin: <origin>`` (RFC 7468 explanatory text,
    which PEM readers skip), so that :func:`load_keys` can refuse it for another log.
    """
    check_key_name(origin)
    header = f"Origin: {origin}\n".encode()
    if key_type == "ed25519":
        ed = ed25519.Ed25519PrivateKey.generate()
        return GeneratedKeys(LogKeys(origin, ed), header + _pkcs8(ed), _spki_pem(ed))
    if key_type == "ecdsa-p256":
        eck = ec.generate_private_key(ec.SECP256R1())
        ts = ed25519.Ed25519PrivateKey.generate()
        keys = LogKeys(origin, ts, ECDSASigner(origin, eck))
        return GeneratedKeys(keys, header + _pkcs8(eck) + _pkcs8(ts), _spki_pem(eck))
    raise ConfigError(f"unknown key type {key_type!r} (ed25519 or ecdsa-p256)")


def write_new_files(folder: Path, files: Mapping[Path, tuple[bytes, int]]) -> None:
    """Create ``folder`` if needed and each of ``files`` (path: data and mode) in it with
    :func:`write_new`; if any path already exists, none is written."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        if os.path.lexists(path):
            raise ConfigError(f"{path} already exists: refusing to overwrite")
    for path, (data, mode) in files.items():
        write_new(path, data, mode)


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create the file ``path`` with ``mode`` (default 0600: a private key) and sync it.

    Never overwrites and never follows a symlink (``O_CREAT|O_EXCL|O_NOFOLLOW``): a
    name planted in advance, dangling symlinks included, is refused.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigError(f"{path} already exists: refusing to overwrite it") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path} is a symlink: refusing to write through it") from None
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
