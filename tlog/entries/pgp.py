"""OpenPGP detached signatures over binary documents, for rekord ``pgp``.

The minimum of RFC 4880 / RFC 9580 that a log needs, written here because the pure layer
takes no dependency beyond ``cryptography`` (and the pure-Python OpenPGP libraries on PyPI
are unmaintained or need a native toolchain):

* ASCII armor (§6): decode with CRC-24 check; encode in the layout Rekor's Go library
  (ProtonMail go-crypto ``armor.Encode``) writes: header line, blank line, 64-column
  base64, ``=`` CRC line, footer line without a final newline.
* Packets (§4.2): old and new headers with definite lengths (no partial lengths).
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

import base64
import binascii
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
# Hashed subpackets whose meaning is understood (or harmless to ignore) when critical.
_KNOWN_SUBPACKETS = {2, 3, 4, 5, 7, 9, 11, 16, 21, 22, 23, 25, 26, 27, 28, 30, 31, 32, 33, 34, 35}
_SUB_ISSUER = 16
_SUB_KEY_FLAGS = 27
_SUB_EMBEDDED_SIGNATURE = 32
_SUB_ISSUER_FINGERPRINT = 33
_FLAG_SIGN = 0x02

_ARMOR_BEGIN = re.compile(rb"^-----BEGIN PGP ([A-Z ,0-9/]+)-----$")

# --- ASCII armor ---------------------------------------------------------------------


def crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (RFC 4880 §6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(label: str, data: bytes) -> bytes:
    """Armor ``data`` as go-crypto's ``armor.Encode`` does (no headers, with CRC)."""
    text = base64.b64encode(data)
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    crc = base64.b64encode(crc24(data).to_bytes(3, "big"))
    head = label.encode("ascii")
    return (
        b"-----BEGIN "
        + head
        + b"-----\n\n"
        + lines
        + b"\n="
        + crc
        + b"\n-----END "
        + head
        + b"-----"
    )


def is_armored(data: bytes) -> bool:
    """True if ``data`` starts (after whitespace) with an OpenPGP armor header line."""
    return data.lstrip().startswith(b"-----BEGIN PGP ")


def dearmor(data: bytes, labels: set[str], path: str) -> bytes:
    """The binary content of all armored blocks in ``data`` (each labelled one of ``labels``)."""
    lines = [ln.rstrip(b"\r").strip() for ln in data.split(b"\n")]
    out = bytearray()
    i = 0
    found = False
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        m = _ARMOR_BEGIN.match(lines[i])
        if m is None:
            raise MalformedError(f"{path}: unexpected text outside the OpenPGP armor")
        label = m.group(1).decode("ascii")
        if label not in labels:
            raise MalformedError(
                f"{path}: armored PGP {label}, expected {' or '.join(sorted(labels))}"
            )
        i += 1
        while i < len(lines) and lines[i]:  # armor headers (Version:, Comment:, ...)
            if b": " not in lines[i]:
                break
            i += 1
        body: list[bytes] = []
        checksum: bytes | None = None
        end = b"-----END PGP " + m.group(1) + b"-----"
        while i < len(lines) and lines[i] != end:
            if lines[i].startswith(b"=") and len(lines[i]) == 5:
                checksum = lines[i][1:]
            elif lines[i]:
                body.append(lines[i])
            i += 1
        if i == len(lines):
            raise MalformedError(f"{path}: armored PGP {label} has no end line")
        i += 1
        try:
            block = base64.b64decode(b"".join(body), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedError(f"{path}: armored PGP {label} has invalid base64") from exc
        if checksum is not None and base64.b64encode(crc24(block).to_bytes(3, "big")) != checksum:
            raise MalformedError(f"{path}: armored PGP {label} fails its CRC-24 checksum")
        out += block
        found = True
    if not found:
        raise MalformedError(f"{path}: no OpenPGP armor found")
    return bytes(out)


# --- packets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """One OpenPGP packet: its tag and body."""

    tag: int
    body: bytes

    def serialize(self) -> bytes:
        """The packet with a new-format header (RFC 4880 §4.2.2), as go-crypto writes it."""
        n = len(self.body)
        if n < 192:
            length = bytes([n])
        elif n < 8384:
            length = bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
        else:
            length = b"\xff" + struct.pack(">I", n)
        return bytes([0xC0 | self.tag]) + length + self.body


def read_packets(data: bytes, path: str) -> list[Packet]:
    """Split binary OpenPGP data into packets (definite lengths only)."""
    packets = []
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise MalformedError(f"{path}: not OpenPGP data (bad packet header at byte {pos})")
        pos += 1
        if head & 0x40:
            tag = head & 0x3F
            if pos >= len(data):
                raise MalformedError(f"{path}: truncated OpenPGP packet header")
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                if pos + 1 >= len(data):
                    raise MalformedError(f"{path}: truncated OpenPGP packet header")
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                if pos + 5 > len(data):
                    raise MalformedError(f"{path}: truncated OpenPGP packet header")
                length, pos = struct.unpack(">I", data[pos + 1 : pos + 5])[0], pos + 5
            else:
                raise MalformedError(f"{path}: partial-length OpenPGP packets are not supported")
        else:
            tag, kind = (head >> 2) & 0x0F, head & 0x03
            if kind == 3:
                raise MalformedError(
                    f"{path}: indeterminate-length OpenPGP packets are not supported"
                )
            size = 1 << kind
            if pos + size > len(data):
                raise MalformedError(f"{path}: truncated OpenPGP packet header")
            length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
        if pos + length > len(data):
            raise MalformedError(f"{path}: truncated OpenPGP packet (tag {tag})")
        packets.append(Packet(tag, data[pos : pos + length]))
        pos += length
    if not packets:
        raise MalformedError(f"{path}: empty OpenPGP data")
    return packets


class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedError(f"{self.path}: truncated OpenPGP packet")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def mpi(self) -> bytes:
        bits = int.from_bytes(self.take(2), "big")
        return self.take((bits + 7) // 8)

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)


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
    r = _Reader(body, path)
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


def _subpackets(area: bytes, path: str, hashed: bool) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(area):
        first = area[pos]
        if first < 192:
            length, pos = first, pos + 1
        elif first < 255:
            if pos + 1 >= len(area):
                raise MalformedError(f"{path}: truncated signature subpacket")
            length, pos = ((first - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            if pos + 5 > len(area):
                raise MalformedError(f"{path}: truncated signature subpacket")
            length, pos = struct.unpack(">I", area[pos + 1 : pos + 5])[0], pos + 5
        if length == 0 or pos + length > len(area):
            raise MalformedError(f"{path}: malformed signature subpacket")
        kind, data = area[pos], area[pos + 1 : pos + length]
        pos += length
        critical, kind = kind & 0x80, kind & 0x7F
        if hashed and critical and kind not in _KNOWN_SUBPACKETS:
            raise MalformedError(f"{path}: critical signature subpacket {kind} is not understood")
        out.append((kind, data))
    return out


def parse_signature(body: bytes, path: str) -> PgpSignature:
    """Parse a v4 signature packet body."""
    r = _Reader(body, path)
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
        for kind, data in _subpackets(area, path, hashed):
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
