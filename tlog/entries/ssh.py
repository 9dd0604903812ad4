"""SSH keys and SSHSIG signatures (OpenSSH ``PROTOCOL.sshsig``), for rekord ``ssh``.

``ssh-keygen -Y sign -n file`` writes an armored ``SSH SIGNATURE`` PEM block holding::

    byte[6] "SSHSIG"  uint32 version (1)  string publickey  string namespace
    string reserved  string hash_algorithm  string signature

and the signature (itself ``string format, string blob``) is over::

    byte[6] "SSHSIG"  string namespace  string reserved  string hash_algorithm  string H(message)

with strings as RFC 4251 §5 (uint32 length, bytes). Rekor requires namespace ``file``
and stores the signature re-armored by Go's PEM encoder (64-column lines), the key as
``ssh.MarshalAuthorizedKey`` writes it (``<type> <base64>\\n``, comment dropped).

Differences from Rekor, both refusals of what it would accept or mis-store: the key
embedded in the signature must be the given key, and the re-armored signature keeps its
real hash algorithm (Rekor always writes ``sha512``, so a ``sha256`` SSHSIG would not
verify in its own canonical form). RSA ``ssh-rsa`` (SHA-1) signatures are refused.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tlog.codec import b64decode, b64encode, encode_pem, pem_blocks
from tlog.entries.algorithm import KeyShape
from tlog.entries.pkix import PublicKey, shape_of
from tlog.errors import MalformedError, UnsupportedEntryError, VerificationError

MAGIC = b"SSHSIG"
NAMESPACE = b"file"
_MESSAGE_HASHES = {b"sha256": hashlib.sha256, b"sha512": hashlib.sha512}
_ECDSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "ecdsa-sha2-nistp256": hashes.SHA256(),
    "ecdsa-sha2-nistp384": hashes.SHA384(),
    "ecdsa-sha2-nistp521": hashes.SHA512(),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "rsa-sha2-256": hashes.SHA256(),
    "rsa-sha2-512": hashes.SHA512(),
}


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


class _Reader:
    """Reads RFC 4251 ``uint32`` and ``string`` fields, failing with a named error."""

    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedError(f"{self.path}: truncated SSH data")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedError(f"{self.path}: unexpected trailing bytes")


@dataclass(frozen=True)
class SshKey:
    """An SSH public key: its wire blob, type name and loaded key."""

    blob: bytes
    key_type: str
    key: PublicKey
    shape: KeyShape

    def authorized_key(self) -> bytes:
        """Rekor's canonical value: ``<type> <base64 blob>\\n``."""
        return self.key_type.encode() + b" " + b64encode(self.blob).encode() + b"\n"


def parse_key(data: bytes, path: str) -> SshKey:
    """Parse an ``authorized_keys``-style line (``<type> <base64> [comment]``).

    As Go's ``ssh.ParsePublicKey`` (which Rekor uses): RSA, NIST-curve ECDSA with an
    uncompressed point, and Ed25519 keys; anything else is refused in one line.
    """
    lines = [ln.strip() for ln in data.splitlines() if ln.strip() and not ln.startswith(b"#")]
    if not lines:
        raise MalformedError(f"{path}: not an SSH public key")
    fields = lines[0].split()
    if len(fields) < 2:
        raise MalformedError(f"{path}: not an SSH public key line (<type> <base64> [comment])")
    name = fields[0].decode("ascii", "replace")
    blob = b64decode(fields[1].decode("ascii", "replace"), f"{path}: the SSH public key")
    try:
        key = serialization.load_ssh_public_key(b" ".join(fields[:2]))
    except UnsupportedAlgorithm:
        raise UnsupportedEntryError(f"{path}: unsupported SSH key type {name!r}") from None
    except (ValueError, TypeError, NotImplementedError) as exc:
        # NotImplementedError: cryptography's word for a compressed ECDSA point.
        raise MalformedError(f"{path}: not a valid SSH public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnsupportedEntryError(f"{path}: unsupported SSH key type {name!r}")
    key_type = _Reader(blob, path).string().decode("ascii", "replace")
    return SshKey(blob, key_type, key, shape_of(key, path))


@dataclass(frozen=True)
class SshSignature:
    """A parsed SSHSIG blob."""

    public_key: bytes
    namespace: bytes
    reserved: bytes
    hash_algorithm: bytes
    signature: bytes

    def armored(self) -> bytes:
        """The canonical armored form: version 1, Go's PEM layout."""
        blob = (
            MAGIC
            + struct.pack(">I", 1)
            + _string(self.public_key)
            + _string(self.namespace)
            + _string(self.reserved)
            + _string(self.hash_algorithm)
            + _string(self.signature)
        )
        return encode_pem("SSH SIGNATURE", blob)

    def signed_data(self, message_digest: bytes) -> bytes:
        """What the key signed, given H(message) with :attr:`hash_algorithm`."""
        return (
            MAGIC
            + _string(self.namespace)
            + _string(self.reserved)
            + _string(self.hash_algorithm)
            + _string(message_digest)
        )


def parse_signature(data: bytes, path: str) -> SshSignature:
    """Parse an armored SSHSIG signature as ``ssh-keygen -Y sign`` writes it."""
    if b"-----BEGIN " not in data:
        raise MalformedError(f"{path}: not a PEM-encoded SSH signature")
    blocks = pem_blocks(data, path)
    if len(blocks) != 1 or blocks[0][0] != "SSH SIGNATURE":
        raise MalformedError(f"{path}: expected one SSH SIGNATURE PEM block")
    r = _Reader(blocks[0][1], path)
    if r.take(6) != MAGIC:
        raise MalformedError(f"{path}: not an SSHSIG signature (bad magic)")
    version = r.uint32()
    if version != 1:
        raise MalformedError(f"{path}: SSHSIG version {version} is not supported")
    sig = SshSignature(r.string(), r.string(), r.string(), r.string(), r.string())
    r.end()
    if sig.namespace != NAMESPACE:
        namespace = sig.namespace.decode("ascii", "replace")
        raise MalformedError(f"{path}: SSHSIG namespace must be 'file', not {namespace!r}")
    if sig.reserved:
        raise MalformedError(f"{path}: SSHSIG reserved field must be empty")
    if sig.hash_algorithm not in _MESSAGE_HASHES:
        name = sig.hash_algorithm.decode("ascii", "replace")
        raise MalformedError(f"{path}: SSHSIG hash algorithm {name!r} is not sha256 or sha512")
    return sig


def message_digest(sig: SshSignature, message: bytes) -> bytes:
    """H(message) with the signature's hash algorithm."""
    return _MESSAGE_HASHES[sig.hash_algorithm](message).digest()


def verify(sig: SshSignature, key: SshKey, digest: bytes, sig_path: str) -> None:
    """Check ``sig`` by ``key`` over the message whose SSHSIG digest is ``digest``."""
    if sig.public_key != key.blob:
        raise VerificationError(f"{sig_path}: signed by another key than the given public key")
    r = _Reader(sig.signature, sig_path)
    fmt = r.string().decode("ascii", "replace")
    blob = r.string()
    data = sig.signed_data(digest)
    pub = key.key
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey) and fmt == "ssh-ed25519":
            pub.verify(blob, data)
        elif isinstance(pub, ec.EllipticCurvePublicKey) and fmt == key.key_type in _ECDSA_HASHES:
            inner = _Reader(blob, sig_path)
            sig_r = int.from_bytes(inner.string(), "big", signed=True)
            sig_s = int.from_bytes(inner.string(), "big", signed=True)
            inner.end()
            pub.verify(encode_dss_signature(sig_r, sig_s), data, ec.ECDSA(_ECDSA_HASHES[fmt]))
        elif isinstance(pub, rsa.RSAPublicKey) and fmt in _RSA_HASHES:
            # OpenSSH pads a short RSA signature to the modulus size; so does this.
            size = (pub.key_size + 7) // 8
            pub.verify(blob.rjust(size, b"\0"), data, padding.PKCS1v15(), _RSA_HASHES[fmt])
        else:
            raise MalformedError(
                f"{sig_path}: signature format {fmt!r} does not fit a {key.key_type} key"
            )
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(
            f"{sig_path}: signature does not verify with the given public key"
        ) from exc
