"""PKIX public keys and X.509 certificates: parsing, canonical PEM, signature checks.

Rekor v1 reads an x509 "public key" as PEM: one ``PUBLIC KEY`` block, one
``CERTIFICATE`` block, or a chain of up to ten certificates (leaf first, checked up to
the last one). Its canonical value is Go's PEM encoding (64-column base64 lines, a final
newline) of the key's re-marshalled SubjectPublicKeyInfo, or of the certificates' DER as
given. Rekor v2 takes DER directly (``publicKey.rawBytes``, ``x509Certificate.rawBytes``).

Parsed keys are cached per process, keyed by their exact bytes, so a batch of entries
signed by one key (or one certificate) parses it once.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from typing import Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import verification

from tlog.entries import UnsupportedEntryError, ed25519ph
from tlog.entries.algorithm import Algorithm, KeyShape
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import ConfigError, MalformedError, VerificationError

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]  # noqa: UP007

#: Rekor reads at most this many certificates from one PEM chain.
MAX_CHAIN = 10

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----", re.DOTALL
)


@dataclass(frozen=True)
class PkixKey:
    """A verifying key, taken from a bare public key or from a certificate (chain).

    ``spki`` is the DER SubjectPublicKeyInfo, ``certs`` the DER certificates it came
    from (leaf first; empty for a bare key).
    """

    key: PublicKey
    shape: KeyShape
    spki: bytes
    certs: tuple[bytes, ...] = ()

    def pem(self) -> bytes:
        """Rekor v1's canonical value: the certificates' PEM, or the key's PEM."""
        if self.certs:
            return b"".join(encode_pem("CERTIFICATE", der) for der in self.certs)
        return encode_pem("PUBLIC KEY", self.spki)


def encode_pem(label: str, der: bytes) -> bytes:
    """PEM as Go's ``pem.EncodeToMemory`` writes it (RFC 7468 with 64-column lines)."""
    text = base64.b64encode(der)
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    head = label.encode("ascii")
    return b"-----BEGIN " + head + b"-----\n" + lines + b"\n-----END " + head + b"-----\n"


def pem_blocks(data: bytes, path: str) -> list[tuple[str, bytes]]:
    """All PEM blocks of ``data``, which must hold nothing else but whitespace."""
    blocks: list[tuple[str, bytes]] = []
    pos = 0
    text = data.strip()
    for m in _PEM_BLOCK.finditer(text):
        if text[pos : m.start()].strip():
            raise MalformedError(f"{path}: unexpected text outside the PEM blocks")
        body = re.sub(rb"\s+", b"", m.group(2))
        try:
            der = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedError(f"{path}: PEM block has invalid base64") from exc
        blocks.append((m.group(1).decode("ascii"), der))
        pos = m.end()
    if not blocks:
        raise MalformedError(f"{path}: not a PEM-encoded public key or certificate")
    if text[pos:].strip():
        raise MalformedError(f"{path}: unexpected text outside the PEM blocks")
    return blocks


def shape_of(key: object, path: str) -> KeyShape:
    """The :class:`KeyShape` of a loaded key; other key types are not admitted."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeyShape("rsa", (key.key_size + 7) // 8 * 8)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyShape("ecdsa", _CURVES.get(key.curve.name, key.curve.name))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyShape("ed25519")
    raise UnsupportedEntryError(f"{path}: {type(key).__name__} keys are not supported")


@functools.lru_cache(maxsize=8192)
def _load_spki(der: bytes) -> PkixKey:
    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnsupportedAlgorithm(f"{type(key).__name__} keys are not supported")
    canonical = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if canonical != der:
        # Go's x509.ParsePKIXPublicKey, which Rekor uses, takes only this form (no
        # compressed EC points, RSA parameters present); keeping it makes the stored
        # key unique.
        raise ValueError("not in canonical DER form (for example, a compressed EC point)")
    return PkixKey(key, shape_of(key, ""), der)


@functools.lru_cache(maxsize=4096)
def _load_cert(der: bytes) -> PkixKey:
    cert = x509.load_der_x509_certificate(der)
    if cert.public_bytes(serialization.Encoding.DER) != der:
        raise ValueError("trailing or non-DER data")
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = _load_spki(spki)
    return PkixKey(key.key, key.shape, spki, (der,))


def key_from_spki(der: bytes, path: str) -> PkixKey:
    """A key from DER SubjectPublicKeyInfo (Rekor v2 ``publicKey.rawBytes``)."""
    try:
        return _load_spki(der)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedEntryError(f"{path}: unsupported public key type ({exc})") from exc
    except (ValueError, TypeError) as exc:
        raise MalformedError(f"{path}: not a valid DER public key ({exc})") from exc


def key_from_cert(der: bytes, path: str) -> PkixKey:
    """The key of a DER X.509 certificate (Rekor v2 ``x509Certificate.rawBytes``)."""
    try:
        return _load_cert(der)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedEntryError(f"{path}: unsupported certificate key ({exc})") from exc
    except (ValueError, TypeError) as exc:
        raise MalformedError(f"{path}: not a valid DER X.509 certificate ({exc})") from exc


def key_from_pem(data: bytes, path: str) -> PkixKey:
    """A key from Rekor v1's PEM forms: a public key, a certificate, or a chain.

    A chain (leaf first) must verify up to its last certificate, as Rekor checks it: at
    the leaf's notBefore, any extended key usage.
    """
    blocks = pem_blocks(data, path)
    if len(blocks) == 1 and blocks[0][0] == "PUBLIC KEY":
        return key_from_spki(blocks[0][1], path)
    if any(label != "CERTIFICATE" for label, _ in blocks):
        labels = ", ".join(sorted({label for label, _ in blocks}))
        raise MalformedError(
            f"{path}: PEM must be one PUBLIC KEY or CERTIFICATE blocks, not {labels}"
        )
    if len(blocks) > MAX_CHAIN:
        raise MalformedError(f"{path}: certificate chain of {len(blocks)}, over {MAX_CHAIN}")
    leaf = key_from_cert(blocks[0][1], path)
    if len(blocks) == 1:
        return leaf
    chain = tuple(der for _, der in blocks)
    for i, der in enumerate(chain[1:], 1):
        try:
            _load_cert(der)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise MalformedError(
                f"{path}: certificate {i + 1} of the chain is not a valid X.509 certificate"
            ) from exc
    if not _chain_ok(chain, chain[-1:]):
        raise VerificationError(
            f"{path}: certificate chain does not verify up to its last certificate"
        )
    return PkixKey(leaf.key, leaf.shape, leaf.spki, chain)


@functools.lru_cache(maxsize=64)
def ca_roots(bundle: bytes) -> tuple[bytes, ...]:
    """The DER certificates of a PEM CA bundle (checked once per process)."""
    try:
        blocks = pem_blocks(bundle, "CA bundle")
    except MalformedError as exc:
        raise ConfigError(str(exc)) from exc
    roots = []
    for label, der in blocks:
        if label != "CERTIFICATE":
            raise ConfigError(f"CA bundle: unexpected PEM block {label!r}")
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise ConfigError(f"CA bundle: invalid certificate ({exc})") from exc
        roots.append(der)
    return tuple(roots)


@functools.lru_cache(maxsize=4096)
def _chain_ok(chain: tuple[bytes, ...], anchors: tuple[bytes, ...]) -> bool:
    leaf = x509.load_der_x509_certificate(chain[0])
    store = verification.Store([x509.load_der_x509_certificate(der) for der in anchors])
    intermediates = [x509.load_der_x509_certificate(der) for der in chain[1:]]
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .time(leaf.not_valid_before_utc)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError:
        return False
    return True


def check_trust(key: PkixKey, policy: AdmissionPolicy, path: str) -> None:
    """With a CA bundle in ``policy``, require ``key`` to be a certificate chaining to it."""
    if not policy.ca_bundle:
        return
    if not key.certs:
        raise VerificationError(
            f"{path}: this log admits only certificates issued by its configured CAs, not bare keys"
        )
    if not _chain_ok(key.certs, ca_roots(policy.ca_bundle)):
        raise VerificationError(f"{path}: certificate does not chain to the log's configured CAs")


def verify(key: PkixKey, alg: Algorithm, signature: bytes, data: bytes, *, prehashed: bool) -> bool:
    """Check ``signature`` by ``key`` with ``alg`` over ``data``.

    With ``prehashed``, ``data`` is the digest ``alg.hash`` of the message (its length
    must already be checked); otherwise it is the message itself. Pure Ed25519 needs the
    message, Ed25519ph the SHA-512 digest.
    """
    pub = key.key
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            if alg.prehash_ed25519:
                digest = data if prehashed else hashes_digest("sha512", data)
                return ed25519ph.verify(pub.public_bytes_raw(), signature, digest)
            if prehashed:
                return False
            pub.verify(signature, data)
            return True
        if alg.hash is None:
            return False
        algo: hashes.HashAlgorithm | Prehashed = _HASHES[alg.hash]()
        if prehashed:
            algo = Prehashed(_HASHES[alg.hash]())
        if isinstance(pub, rsa.RSAPublicKey):
            if alg.pss:
                pad: padding.AsymmetricPadding = padding.PSS(
                    padding.MGF1(_HASHES[alg.hash]()), padding.PSS.AUTO
                )
            else:
                pad = padding.PKCS1v15()
            pub.verify(signature, data, pad, algo)
            return True
        pub.verify(signature, data, ec.ECDSA(algo))
        return True
    except (InvalidSignature, ValueError):
        return False


def hashes_digest(name: str, data: bytes) -> bytes:
    """The ``name`` digest (sha256/sha384/sha512) of ``data``."""
    h = hashes.Hash(_HASHES[name]())
    h.update(data)
    return h.finalize()


def verifying_algorithm(
    key: PkixKey, policy: AdmissionPolicy, signature: bytes, message: bytes, path: str
) -> Algorithm | None:
    """The allowed algorithm with which ``signature`` verifies over ``message``, if any.

    Rekor v1's rekord x509, dsse and intoto signatures carry no algorithm; each allowed
    algorithm for the key's shape is tried (see :mod:`tlog.entries.policy`). Raises
    UnsupportedEntryError when the policy allows no algorithm for such keys at all.
    """
    candidates = [a for a in policy.allowed_for(key.shape) if not a.prehash_ed25519]
    if not candidates:
        raise UnsupportedEntryError(
            f"{path}: {key.shape} signatures over whole messages are not allowed "
            "by this log's policy"
        )
    for alg in candidates:
        if verify(key, alg, signature, message, prehashed=False):
            return alg
    return None


def verify_message(
    key: PkixKey, policy: AdmissionPolicy, signature: bytes, message: bytes, path: str
) -> Algorithm:
    """Like :func:`verifying_algorithm`, but a signature that does not verify is an error
    (naming ``path``, the signature's field)."""
    alg = verifying_algorithm(key, policy, signature, message, path)
    if alg is None:
        raise VerificationError(f"{path}: signature does not verify with the given public key")
    return alg
