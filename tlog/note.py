"""C2SP signed-note v1.0.0: notes, signers, verifiers, vkeys and note signer keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> base64(keyID[4] ‖ signature)``. Signature types (signed-note "Signature
types"):

* ``0x01`` Ed25519 over the note text; key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pub)[:4].
* ``0x02`` ECDSA (P-256, SHA-256, ASN.1 DER signature) over the note text, as
  transparency-dev/witness and Rekor do; key ID = SHA-256(SPKI DER)[:4]; the vkey
  carries ``0x02 ‖ SPKI DER``.
* ``0x04`` timestamped Ed25519 cosignature (C2SP tlog-cosignature v1): the signature is
  ``u64 timestamp ‖ Ed25519(sig)`` over ``"cosignature/v1\\ntime <T>\\n" ‖ text``; key
  ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pub)[:4].

Verifiers ignore signatures from unknown (name, key ID) pairs; a failing known one
rejects the note; at least one known one must verify (signed-note "Signatures").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tlog.codec import b64decode, b64encode, utf8_text
from tlog.errors import ConfigError, MalformedError, OversizeError, VerificationError

ALG_ED25519 = 0x01
ALG_ECDSA = 0x02
ALG_COSIGNATURE_V1 = 0x04

#: Bounds on what :meth:`Note.parse` accepts (the spec asks for at least 16 signatures).
MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100

_DASH = "\u2014"


def check_key_name(name: str) -> None:
    """Key names are non-empty, with no Unicode spaces and no '+' (signed-note "Format")."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise MalformedError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")
    if any(ord(c) < 0x20 for c in name):
        raise MalformedError(f"invalid key name {name!r}: control character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedError(f"invalid key name {name!r}: not UTF-8 text") from None


def key_id(name: str, alg: int, public: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] (signed-note "Signatures")."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH} {self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> Note:
        """Parse a note strictly (signed-note "Format"); signatures are not checked here."""
        whole = utf8_text(data, "note", MAX_NOTE_SIZE)
        for i, c in enumerate(whole):
            if ord(c) < 0x20 and c != "\n":
                raise MalformedError(f"note has control character {c!r} at offset {i}")
        split = whole.rfind("\n\n")
        if split < 0:
            raise MalformedError("note has no blank line before its signatures")
        text, sigblock = whole[: split + 1], whole[split + 2 :]
        if not sigblock:
            raise MalformedError("note has no signature lines")
        if not sigblock.endswith("\n"):
            raise MalformedError("note does not end with a newline")
        lines = sigblock[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise OversizeError(f"note has {len(lines)} signatures, over {MAX_SIGNATURES}")
        sigs: list[Signature] = []
        seen: set[tuple[str, bytes]] = set()
        for line in lines:
            if not line.startswith(_DASH + " "):
                raise MalformedError(f"malformed signature line {line[:80]!r}")
            parts = line[2:].split(" ")
            if len(parts) != 2:
                raise MalformedError(f"malformed signature line {line[:80]!r}")
            name, b64 = parts
            check_key_name(name)
            raw = b64decode(b64, f"signature of {name!r}")
            if len(raw) < 5:
                raise MalformedError(f"signature of {name!r} is too short ({len(raw)} bytes)")
            if (name, raw[:4]) in seen:
                # Decided here, once, for every reader (Go's note.Open drops repeats): a
                # key signs a note once, so a repeat is an edit and the note is refused.
                raise MalformedError(f"note repeats a signature line of key {name}+{raw[:4].hex()}")
            seen.add((name, raw[:4]))
            sigs.append(Signature(name, raw[:4], raw[4:]))
        return cls(text, tuple(sigs))

    def format(self) -> bytes:
        if not self.text.endswith("\n"):
            raise MalformedError("note text must end with a newline")
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.format()


class Verifier(Protocol):
    """Checks one key's signatures. ``name`` and ``key_id`` select the lines it owns."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def verify(self, text: bytes, signature: bytes) -> bool:
        """True iff ``signature`` (without the key ID) is valid for note ``text``."""
        ...

    def vkey(self) -> str:
        """This verifier as a vkey string ``<name>+<hex id>+<base64(type ‖ key)>``."""
        ...


class Signer(Protocol):
    """Signs note text with one key; contract: the result verifies with :meth:`verifier`."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def sign(self, text: bytes) -> bytes:
        """The signature over ``text``, without the key ID."""
        ...

    def verifier(self) -> Verifier: ...


def _ed_raw(pub: ed25519.Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class _Ed25519Key:
    """A named raw Ed25519 public key, shared by the type 0x01 and 0x04 verifiers;
    each subclass's ``ALG`` picks its key ID and vkey type (signed-note "Verifier keys")."""

    ALG: ClassVar[int]
    name: str
    public: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public) != 32:
            raise MalformedError(f"Ed25519 public key is {len(self.public)} bytes, want 32")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.ALG, self.public)

    def vkey(self) -> str:
        return _vkey(self.name, self.key_id, self.ALG, self.public)


@dataclass(frozen=True)
class Ed25519Verifier(_Ed25519Key):
    """Type 0x01 verifier."""

    ALG: ClassVar[int] = ALG_ED25519

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.public).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class ECDSAVerifier:
    """Type 0x02 verifier (NIST P-256/384/521, SHA-256, DER signatures)."""

    name: str
    spki: bytes
    _key: ec.EllipticCurvePublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        try:
            key = serialization.load_der_public_key(self.spki)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise MalformedError("ECDSA vkey does not hold a DER public key") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
            "secp256r1",
            "secp384r1",
            "secp521r1",
        ):
            raise MalformedError("ECDSA vkey must hold a NIST P-256, P-384 or P-521 key")
        object.__setattr__(self, "_key", key)

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.spki).digest()[:4]

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def vkey(self) -> str:
        return _vkey(self.name, self.key_id, ALG_ECDSA, self.spki)


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs (tlog-cosignature "Ed25519 signed message")."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True)
class CosignatureVerifier(_Ed25519Key):
    """Type 0x04 verifier: timestamped Ed25519 cosignatures (C2SP tlog-cosignature v1)."""

    ALG: ClassVar[int] = ALG_COSIGNATURE_V1

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        (ts,) = struct.unpack(">Q", signature[:8])
        if ts >= 1 << 63:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.public).verify(
                signature[8:], cosignature_message(text, ts)
            )
        except InvalidSignature:
            return False
        return True

    @staticmethod
    def timestamp(signature: bytes) -> int:
        """The POSIX time a (verified) cosignature carries."""
        return int(struct.unpack(">Q", signature[:8])[0])


_EdV = TypeVar("_EdV", bound=_Ed25519Key)


class _Ed25519Signing(Generic[_EdV]):
    """An Ed25519 private key and the verifier it matches, shared by the type 0x01 and
    0x04 signers; the verifier gives the name and key ID, subclasses sign."""

    def __init__(self, verifier: _EdV, private: ed25519.Ed25519PrivateKey) -> None:
        self._verifier = verifier
        self._key = private

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    def verifier(self) -> _EdV:
        return self._verifier


class Ed25519Signer(_Ed25519Signing[Ed25519Verifier]):
    """Type 0x01 signer; deterministic (RFC 8032), so equal inputs give equal notes."""

    def __init__(self, name: str, private: ed25519.Ed25519PrivateKey) -> None:
        check_key_name(name)
        super().__init__(Ed25519Verifier(name, _ed_raw(private.public_key())), private)

    @property
    def private_key(self) -> ed25519.Ed25519PrivateKey:
        return self._key

    def sign(self, text: bytes) -> bytes:
        return self._key.sign(text)

    def signer_key(self) -> str:
        """The Go sumdb/note signer key string ``PRIVATE+KEY+<name>+<id>+<base64>``."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return (
            f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64encode(bytes([ALG_ED25519]) + seed)}"
        )


class ECDSAKey:
    """A type 0x02 signer's name and SPKI, key ID and verifier; subclasses sign (with a
    local key: :class:`ECDSASigner`; in AWS KMS: ``tlog.kms.KMSSigner``)."""

    def __init__(self, name: str, spki: bytes) -> None:
        check_key_name(name)
        self._name = name
        self._spki = spki

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self._spki).digest()[:4]

    def verifier(self) -> ECDSAVerifier:
        return ECDSAVerifier(self._name, self._spki)


class ECDSASigner(ECDSAKey):
    """Type 0x02 signer over a local EC private key."""

    def __init__(self, name: str, private: ec.EllipticCurvePrivateKey) -> None:
        der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        super().__init__(name, private.public_key().public_bytes(der, spki))
        self._key = private

    def __repr__(self) -> str:
        return f"ECDSASigner({self._name!r})"

    def sign(self, text: bytes) -> bytes:
        return self._key.sign(text, ec.ECDSA(hashes.SHA256()))


class CosignatureSigner(_Ed25519Signing[CosignatureVerifier]):
    """Type 0x04 signer: a timestamped cosignature/v1 over a checkpoint.

    ``clock`` returns the POSIX time to stamp; it is injected so tests and the golden
    log are deterministic.
    """

    def __init__(
        self, name: str, private: ed25519.Ed25519PrivateKey, clock: Callable[[], int]
    ) -> None:
        check_key_name(name)
        super().__init__(CosignatureVerifier(name, _ed_raw(private.public_key())), private)
        self._clock = clock

    def sign(self, text: bytes) -> bytes:
        ts = int(self._clock())
        if not 0 <= ts < 1 << 63:
            raise ConfigError(f"clock gave an impossible timestamp {ts}")
        return struct.pack(">Q", ts) + self._key.sign(cosignature_message(text, ts))


def _vkey(name: str, kid: bytes, alg: int, public: bytes) -> str:
    return f"{name}+{kid.hex()}+{b64encode(bytes([alg]) + public)}"


def parse_signer_key(skey: str) -> Ed25519Signer:
    """Parse a Go sumdb/note signer key ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>``."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise MalformedError("signer key must be PRIVATE+KEY+<name>+<id>+<key>")
    _, _, name, hexid, b64 = parts
    check_key_name(name)
    raw = b64decode(b64, "signer key", secret=True)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise MalformedError("signer key must be an Ed25519 (type 0x01) 32-byte seed")
    signer = Ed25519Signer(name, ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.key_id.hex() != hexid.lower():
        raise MalformedError(f"signer key ID {hexid} does not match its key")
    return signer


@dataclass(frozen=True)
class Verified:
    """A note whose signatures were checked, and which known keys signed it."""

    note: Note
    signed_by: tuple[tuple[Verifier, Signature], ...]


def sign(text: str, signers: Sequence[Signer], keep: Iterable[Signature] = ()) -> Note:
    """Sign ``text`` with each signer; ``keep`` are existing signatures to carry over."""
    data = text.encode("utf-8")
    sigs = [*keep, *(Signature(s.name, s.key_id, s.sign(data)) for s in signers)]
    return Note(text, tuple(sigs))


def open_note(data: bytes, verifiers: Sequence[Verifier]) -> Verified:
    """Parse and verify a note against known keys.

    Signatures whose (name, key ID) match no verifier are ignored; one that matches and
    fails rejects the note; with no verified signature from a known key, the note is
    rejected (signed-note "Signatures").
    """
    note = Note.parse(data)
    text = note.text.encode("utf-8")
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[tuple[Verifier, Signature]] = []
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(text, sig.signature):
            raise VerificationError(
                f"signature by {sig.name} (key {sig.key_id.hex()}) does not verify"
            )
        good.append((v, sig))
    if not good:
        names = ", ".join(sorted({f"{v.name}+{v.key_id.hex()}" for v in verifiers})) or "none"
        raise VerificationError(f"note is not signed by any known key ({names})")
    return Verified(note, tuple(good))
