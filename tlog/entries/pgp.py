"""OpenPGP detached signatures over binary documents, for rekord ``pgp``.

The minimum of RFC 4880 / RFC 9580 that a log needs, written here because the pure layer
takes no dependency beyond ``cryptography`` (and the pure-Python OpenPGP libraries on PyPI
are unmaintained or need a native toolchain). Armor and packet framing are in
:mod:`tlog.entries.pgp_packet`; this module gives the packets their meaning:

* Version 4 public keys and subkeys (§5.5.2): RSA (1, 3), ECDSA (19) on P-256/384/521,
  EdDSA (22, legacy Ed25519) and Ed25519 (27, RFC 9580).
* Version 4 signatures (§5.2.3) of type 0x00 (binary document) and 0x01 (text document,
  line endings made CRLF), with SHA-224/256/384/512. The hashed data is the document,
  then the signature's hashed part and trailer ``0x04 0xFF ‖ uint32 length``.
* A signing subkey counts only with a valid binding signature (0x18) from its primary
  key that allows signing (key flag 0x02) and carries the subkey's back-signature (0x19),
  as RFC 4880 §11.1 and §5.2.1 require.

Not done (refused or ignored): v3/v5/v6 keys and signatures, SHA-1/MD5/RIPEMD-160, DSA,
ElGamal, critical unknown subpackets (refused); key expiry and revocation, signature
expiry, and third-party certifications (ignored: the log records what was signed, not
whether a keyring still trusts the key).

Canonical values, following Rekor (``pkg/pki/pgp``): an armored signature is stored as
given, a binary one armored; the key is armored again from its packets (trust and marker
packets dropped, headers rewritten in the new format as go-crypto serializes them).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from tlog.entries.algorithm import KeyShape
from tlog.entries.pgp_packet import (
    Packet,
    Reader,
    armor,
    dearmor,
    is_armored,
    read_packets,
    subpackets,
)
from tlog.entries.pkix import PublicKey, shape_of
from tlog.errors import MalformedError, VerificationError

TAG_SIGNATURE = 2
TAG_PUBLIC_KEY = 6
TAG_MARKER = 10
TAG_TRUST = 12
TAG_PUBLIC_SUBKEY = 14

SIG_BINARY = 0x00
SIG_TEXT = 0x01
SIG_SUBKEY_BINDING = 0x18
SIG_PRIMARY_BINDING = 0x19

_HASHES: dict[int, tuple[Callable[[], hashlib._Hash], hashes.HashAlgorithm]] = {
    8: (hashlib.sha256, hashes.SHA256()),
    9: (hashlib.sha384, hashes.SHA384()),
    10: (hashlib.sha512, hashes.SHA512()),
    11: (hashlib.sha224, hashes.SHA224()),
}
_CURVES: dict[bytes, ec.EllipticCurve] = {
    bytes.fromhex("2a8648ce3d030107"): ec.SECP256R1(),
    bytes.fromhex("2b81040022"): ec.SECP384R1(),
    bytes.fromhex("2b81040023"): ec.SECP521R1(),
}
_ED25519_LEGACY_OID = bytes.fromhex("2b06010401da470f01")
_SUB_ISSUER = 16
_SUB_KEY_FLAGS = 27
_SUB_EMBEDDED_SIGNATURE = 32
_SUB_ISSUER_FINGERPRINT = 33
_FLAG_SIGN = 0x02

# --- keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgpKey:
    """A v4 public key or subkey usable for signatures."""

    body: bytes
    fingerprint: bytes
    key: PublicKey
    shape: KeyShape

    @property
    def key_id(self) -> bytes:
        """The low 64 bits of the fingerprint."""
        return self.fingerprint[-8:]

    def hash_prefix(self) -> bytes:
        """How a key is hashed into a key signature (RFC 4880 §5.2.4)."""
        return b"\x99" + struct.pack(">H", len(self.body)) + self.body


def parse_key(body: bytes, path: str) -> PgpKey | None:
    """A v4 signing-capable public key packet body, or None for other algorithms."""
    r = Reader(body, path)
    version = r.byte()
    if version != 4:
        raise MalformedError(f"{path}: OpenPGP v{version} keys are not supported (only v4)")
    r.take(4)  # creation time
    algo = r.byte()
    key: PublicKey
    try:
        if algo in (1, 3):
            n, e = int.from_bytes(r.mpi(), "big"), int.from_bytes(r.mpi(), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
        elif algo == 19:
            curve = _CURVES.get(r.take(r.byte()))
            if curve is None:
                return None
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve, r.mpi())
        elif algo == 22:
            if r.take(r.byte()) != _ED25519_LEGACY_OID:
                return None
            point = r.mpi()
            if len(point) != 33 or point[0] != 0x40:
                raise MalformedError(f"{path}: malformed EdDSA public key")
            key = ed25519.Ed25519PublicKey.from_public_bytes(point[1:])
        elif algo == 27:
            key = ed25519.Ed25519PublicKey.from_public_bytes(r.take(32))
        else:
            return None  # encryption-only or unsupported algorithm: not a signer here
    except ValueError as exc:
        raise MalformedError(f"{path}: invalid OpenPGP public key ({exc})") from exc
    fingerprint = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).digest()
    return PgpKey(body, fingerprint, key, shape_of(key, path))


# --- signatures ------------------------------------------------------------------------


@dataclass(frozen=True)
class PgpSignature:
    """A v4 signature packet, with what verification needs."""

    sig_type: int
    pub_algo: int
    hash_algo: int
    hashed_part: bytes  # version .. end of hashed subpackets
    left16: bytes
    material: tuple[bytes, ...]
    issuers: tuple[bytes, ...]  # 8-byte key ids and 20-byte fingerprints
    key_flags: int | None
    embedded: tuple[bytes, ...]  # bodies of embedded signature subpackets

    def trailer(self) -> bytes:
        """The hashed part and v4 trailer (RFC 4880 §5.2.4)."""
        return self.hashed_part + b"\x04\xff" + struct.pack(">I", len(self.hashed_part))

    def issued_by(self, key: PgpKey) -> bool:
        """True if the signature names ``key`` as issuer, or names no issuer."""
        return not self.issuers or any(i in (key.key_id, key.fingerprint) for i in self.issuers)


def parse_signature(body: bytes, path: str) -> PgpSignature:
    """Parse a v4 signature packet body."""
    r = Reader(body, path)
    version = r.byte()
    if version != 4:
        raise MalformedError(f"{path}: OpenPGP v{version} signatures are not supported (only v4)")
    sig_type, pub_algo, hash_algo = r.byte(), r.byte(), r.byte()
    hashed_area = r.take(int.from_bytes(r.take(2), "big"))
    hashed_part = body[: r.pos]
    unhashed_area = r.take(int.from_bytes(r.take(2), "big"))
    left16 = r.take(2)
    if pub_algo in (1, 3):
        material: tuple[bytes, ...] = (r.mpi(),)
    elif pub_algo in (19, 22):
        material = (r.mpi(), r.mpi())
    elif pub_algo == 27:
        material = (r.take(64),)
    else:
        raise MalformedError(f"{path}: OpenPGP public-key algorithm {pub_algo} is not supported")
    issuers: list[bytes] = []
    key_flags: int | None = None
    embedded: list[bytes] = []
    for hashed, area in ((True, hashed_area), (False, unhashed_area)):
        for kind, data in subpackets(area, path, hashed):
            if kind == _SUB_ISSUER and len(data) == 8:
                issuers.append(data)
            elif kind == _SUB_ISSUER_FINGERPRINT and len(data) == 21 and data[0] == 4:
                issuers.append(data[1:])
            elif kind == _SUB_KEY_FLAGS and hashed and data:
                key_flags = data[0]
            elif kind == _SUB_EMBEDDED_SIGNATURE:
                embedded.append(data)
    return PgpSignature(
        sig_type,
        pub_algo,
        hash_algo,
        hashed_part,
        left16,
        material,
        tuple(issuers),
        key_flags,
        tuple(embedded),
    )


def _check(sig: PgpSignature, key: PgpKey, signed: bytes) -> bool:
    """Verify ``sig`` by ``key`` over ``signed`` (what precedes the trailer)."""
    if sig.hash_algo not in _HASHES:
        return False
    new_hash, prehash = _HASHES[sig.hash_algo]
    h = new_hash()
    h.update(signed)
    h.update(sig.trailer())
    digest = h.digest()
    if digest[:2] != sig.left16:
        return False
    pub = key.key
    try:
        if isinstance(pub, rsa.RSAPublicKey) and sig.pub_algo in (1, 3):
            size = (pub.key_size + 7) // 8
            pub.verify(
                sig.material[0].rjust(size, b"\0"), digest, padding.PKCS1v15(), Prehashed(prehash)
            )
        elif isinstance(pub, ec.EllipticCurvePublicKey) and sig.pub_algo == 19:
            r, s = (int.from_bytes(m, "big") for m in sig.material)
            pub.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(prehash)))
        elif isinstance(pub, ed25519.Ed25519PublicKey) and sig.pub_algo == 22:
            r_bytes, s_bytes = sig.material
            if len(r_bytes) > 32 or len(s_bytes) > 32:
                return False
            pub.verify(r_bytes.rjust(32, b"\0") + s_bytes.rjust(32, b"\0"), digest)
        elif isinstance(pub, ed25519.Ed25519PublicKey) and sig.pub_algo == 27:
            pub.verify(sig.material[0], digest)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Keyring:
    """Transferable public keys: their signing-capable keys and packets."""

    packets: tuple[Packet, ...]
    signers: tuple[PgpKey, ...]

    def armored(self) -> bytes:
        """Rekor-style canonical value: the key packets armored again."""
        kept = (p for p in self.packets if p.tag not in (TAG_TRUST, TAG_MARKER))
        return armor("PGP PUBLIC KEY BLOCK", b"".join(p.serialize() for p in kept))


def _bound_subkey(primary: PgpKey, subkey: PgpKey, sigs: list[PgpSignature]) -> bool:
    signed = primary.hash_prefix() + subkey.hash_prefix()
    for sig in sigs:
        if sig.sig_type != SIG_SUBKEY_BINDING or not _check(sig, primary, signed):
            continue
        if sig.key_flags is not None and not sig.key_flags & _FLAG_SIGN:
            continue
        for body in sig.embedded:
            try:
                back = parse_signature(body, "embedded signature")
            except MalformedError:
                continue
            if back.sig_type == SIG_PRIMARY_BINDING and _check(back, subkey, signed):
                return True
    return False


def parse_keyring(data: bytes, path: str) -> Keyring:
    """Parse public keys (armored or binary) and find the keys that may sign."""
    binary = dearmor(data, {"PUBLIC KEY BLOCK"}, path) if is_armored(data) else data
    packets = read_packets(binary, path)
    if packets[0].tag != TAG_PUBLIC_KEY:
        raise MalformedError(f"{path}: OpenPGP data does not start with a public key packet")
    signers: list[PgpKey] = []
    primary: PgpKey | None = None
    subkey: PgpKey | None = None
    sub_sigs: list[PgpSignature] = []

    def close_subkey() -> None:
        if primary is not None and subkey is not None and _bound_subkey(primary, subkey, sub_sigs):
            signers.append(subkey)

    for packet in packets:
        if packet.tag == TAG_PUBLIC_KEY:
            close_subkey()
            primary, subkey, sub_sigs = parse_key(packet.body, path), None, []
            if primary is not None:
                signers.append(primary)
        elif packet.tag == TAG_PUBLIC_SUBKEY:
            close_subkey()
            subkey, sub_sigs = parse_key(packet.body, path), []
        elif packet.tag == TAG_SIGNATURE and subkey is not None:
            with contextlib.suppress(MalformedError):  # an unreadable binding binds nothing
                sub_sigs.append(parse_signature(packet.body, path))
        elif packet.tag in (TAG_SIGNATURE, TAG_TRUST, TAG_MARKER, 13, 17):
            pass  # certifications, user ids and attributes are kept but not checked
        else:
            raise MalformedError(
                f"{path}: unexpected OpenPGP packet (tag {packet.tag}) in a public key"
            )
    close_subkey()
    if not signers:
        raise MalformedError(f"{path}: no signing-capable OpenPGP key found")
    return Keyring(tuple(packets), tuple(signers))


@dataclass(frozen=True)
class DetachedSignature:
    """A detached document signature, with the bytes Rekor stores for it."""

    signature: PgpSignature
    canonical: bytes


def parse_detached(data: bytes, path: str) -> DetachedSignature:
    """Parse one detached signature, armored or binary."""
    armored = is_armored(data)
    binary = dearmor(data, {"SIGNATURE"}, path) if armored else data
    packets = read_packets(binary, path)
    if len(packets) != 1 or packets[0].tag != TAG_SIGNATURE:
        raise MalformedError(f"{path}: expected exactly one OpenPGP signature packet")
    sig = parse_signature(packets[0].body, path)
    if sig.sig_type not in (SIG_BINARY, SIG_TEXT):
        raise MalformedError(
            f"{path}: OpenPGP signature type 0x{sig.sig_type:02x} is not a document signature"
        )
    if sig.hash_algo not in _HASHES:
        raise MalformedError(
            f"{path}: OpenPGP hash algorithm {sig.hash_algo} is not accepted (SHA-2 only)"
        )
    return DetachedSignature(sig, data if armored else armor("PGP SIGNATURE", binary))


def _text_canonical(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def verify(detached: DetachedSignature, keyring: Keyring, message: bytes, sig_path: str) -> PgpKey:
    """Verify ``detached`` over ``message`` with a key of ``keyring``; return that key."""
    sig = detached.signature
    document = _text_canonical(message) if sig.sig_type == SIG_TEXT else message
    candidates = [k for k in keyring.signers if sig.issued_by(k)]
    if not candidates:
        raise VerificationError(f"{sig_path}: made by a key that is not in the given public key")
    for key in candidates:
        if _check(sig, key, document):
            return key
    raise VerificationError(f"{sig_path}: signature does not verify with the given public key")
