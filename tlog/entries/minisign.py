"""minisign keys and signatures, for rekord ``minisign``.

A minisign public key is ``base64("Ed" ‖ key id[8] ‖ Ed25519 key[32])``, usually after an
``untrusted comment:`` line. A signature file has four lines: an untrusted comment,
``base64(algorithm[2] ‖ key id[8] ‖ signature[64])``, a ``trusted comment:`` line and the
global signature over the signature and trusted comment. Algorithm ``Ed`` signs the file
itself (legacy); ``ED`` signs its BLAKE2b-512 digest (the default since minisign 0.8).

Like Rekor (``pkg/pki/minisign``), this accepts a key as the whole ``.pub`` file, its
base64 line, or the 32 raw key bytes (key id zero); a signature also in signify's
two-line form; and stores the key as its base64 line and the signature as
``"untrusted comment:\\n" + base64(algorithm ‖ key id ‖ signature)``. As in Rekor, the
trusted comment is not part of the stored entry and its global signature is not checked,
nor is the key id (Rekor accepts keys whose id differs from the signature's).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.codec import b64decode, b64encode
from tlog.entries.algorithm import KeyShape
from tlog.errors import MalformedError, VerificationError

SHAPE = KeyShape("ed25519")
_KEY_LEN = 42
_SIG_LEN = 74


def _b64_line(line: bytes, size: int) -> bytes | None:
    """The ``size`` bytes a base64 line holds, or None if it holds anything else."""
    try:
        raw = b64decode(line.strip().decode("ascii", "replace"), "minisign line")
    except MalformedError:
        return None
    return raw if len(raw) == size else None


@dataclass(frozen=True)
class MinisignKey:
    """A minisign public key."""

    algorithm: bytes
    key_id: bytes
    public_key: bytes

    def canonical(self) -> bytes:
        """Rekor's canonical value: the key's base64 line, without comment or newline."""
        return b64encode(self.algorithm + self.key_id + self.public_key).encode()


@dataclass(frozen=True)
class MinisignSignature:
    """The signature line of a minisign signature."""

    algorithm: bytes
    key_id: bytes
    signature: bytes

    @property
    def prehashed(self) -> bool:
        """True for ``ED`` signatures, made over the BLAKE2b-512 digest of the file."""
        return self.algorithm == b"ED"

    def canonical(self) -> bytes:
        """Rekor's canonical value: an empty untrusted comment and the signature line."""
        line = b64encode(self.algorithm + self.key_id + self.signature)
        return b"untrusted comment:\n" + line.encode()


def parse_key(data: bytes, path: str) -> MinisignKey:
    """Parse a minisign public key in any of the three forms Rekor accepts."""
    lines = [ln.rstrip(b"\r") for ln in data.strip().split(b"\n")]
    raw = _b64_line(lines[1] if len(lines) >= 2 else lines[0], _KEY_LEN)
    if raw is None:
        if len(data) == 32:
            return MinisignKey(b"Ed", bytes(8), data)
        raise MalformedError(f"{path}: not a minisign public key")
    if raw[:2] != b"Ed":
        raise MalformedError(f"{path}: minisign key algorithm {raw[:2]!r} is not Ed")
    return MinisignKey(raw[:2], raw[2:10], raw[10:])


def parse_signature(data: bytes, path: str) -> MinisignSignature:
    """Parse a minisign (four-line) or signify (two-line) signature."""
    lines = [ln.rstrip(b"\r") for ln in data.rstrip(b"\r\n").split(b"\n")]
    if len(lines) >= 4:
        if not lines[2].startswith(b"trusted comment: "):
            raise MalformedError(
                f"{path}: third line of a minisign signature must be its trusted comment"
            )
        if _b64_line(lines[3], 64) is None:
            raise MalformedError(f"{path}: invalid minisign global signature line")
    elif len(lines) != 2:
        raise MalformedError(f"{path}: not a minisign signature ({len(lines)} lines)")
    raw = _b64_line(lines[1], _SIG_LEN)
    if raw is None:
        raise MalformedError(f"{path}: invalid minisign signature line")
    if raw[:2] not in (b"Ed", b"ED"):
        raise MalformedError(f"{path}: minisign signature algorithm {raw[:2]!r} is not Ed or ED")
    return MinisignSignature(raw[:2], raw[2:10], raw[10:])


def verify(sig: MinisignSignature, key: MinisignKey, message: bytes, sig_path: str) -> None:
    """Check ``sig`` by ``key`` over ``message`` (Ed25519, or Ed25519 of its BLAKE2b-512)."""
    data = hashlib.blake2b(message, digest_size=64).digest() if sig.prehashed else message
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key.public_key).verify(sig.signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(
            f"{sig_path}: signature does not verify with the given public key"
        ) from exc
