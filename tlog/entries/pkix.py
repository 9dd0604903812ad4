"""PKIX public keys and X.509 certificates: parsing, canonical PEM, signature checks.

Rekor v1 reads an x509 "public key" as PEM: one ``PUBLIC KEY`` block, one
``CERTIFICATE`` block, or a chain of up to ten certificates (leaf first, checked up to
the last one). Its canonical value is Go's PEM encoding (64-column base64 lines, a final
newline) of the key's re-marshalled SubjectPublicKeyInfo, or of the certificates' DER as
given. Rekor v2 takes DER directly (``publicKey.rawBytes``, ``x509Certificate.rawBytes``).

Every parse failure, including those ``cryptography`` reports lazily (a certificate's
version, names or extensions are decoded on first use), is a one-line
:class:`~tlog.errors.MalformedError`. Parsed keys are cached per process, keyed by their
exact bytes, so a batch of entries signed by one key (or certificate) parses it once;
only small ones (:data:`MAX_CACHED`), so crafted big ones cannot fill the memory.
What a log accepts (algorithms, trusted CAs) is :class:`~tlog.entries.policy.AdmissionPolicy`'s
business; this module only parses and checks.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification

import tlog.entries.ed25519ph as ed25519ph
from tlog.codec import encode_pem, pem_blocks
from tlog.entries.algorithm import Algorithm, KeyShape
from tlog.errors import ConfigError, MalformedError, UnsupportedEntryError, VerificationError

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]  # noqa: UP007

#: Rekor reads at most this many certificates from one PEM chain.
MAX_CHAIN = 10

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: Keys and certificates of at most this many bytes are remembered, per process and
#: by their exact bytes (8,192 keys, 4,096 certificates): a batch signed by one key
#: parses it once, and a batch of crafted big ones cannot fill the memory.
MAX_CACHED = 4096
#: The DER SubjectPublicKeyInfo of a P-256 key up to its point's coordinates.
_P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004")
_P256 = KeyShape("ecdsa", "P-256")
#: ECDSA signature algorithms by (hash, prehashed), made once (they hold no state).
_ECDSA = {
    (name, pre): ec.ECDSA(Prehashed(cls()) if pre else cls())
    for name, cls in _HASHES.items()
    for pre in (False, True)
}
#: What ``cryptography`` raises for DER it cannot read (InvalidVersion: an X.509 version
#: other than 1-3; DuplicateExtension: an extension given twice).
_BAD_DER = (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension)


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

    def verify(self, alg: Algorithm, signature: bytes, data: bytes, *, prehashed: bool) -> bool:
        """True iff ``signature`` by this key with ``alg`` is over ``data``.

        With ``prehashed``, ``data`` is the ``alg.hash`` digest of the message (its length
        must already be checked); otherwise it is the message itself. Pure Ed25519 needs
        the message, Ed25519ph (RFC 8032 §5.1) the SHA-512 digest.
        """
        pub = self.key
        kind = _KINDS.get(type(pub)) or _kind(pub)
        try:
            if kind == "ed25519":
                edkey = cast(ed25519.Ed25519PublicKey, pub)
                return _verify_ed25519(edkey, alg, signature, data, prehashed)
            if alg.hash is None:
                return False
            if kind == "ec":
                cast(ec.EllipticCurvePublicKey, pub).verify(
                    signature, data, _ECDSA[alg.hash, prehashed]
                )
                return True
            pub = cast(rsa.RSAPublicKey, pub)
            algo: hashes.HashAlgorithm | Prehashed = _HASHES[alg.hash]()
            if prehashed:
                algo = Prehashed(_HASHES[alg.hash]())
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
            if alg.pss:
                pad = padding.PSS(padding.MGF1(_HASHES[alg.hash]()), padding.PSS.AUTO)
            pub.verify(signature, data, pad, algo)
            return True
        except (InvalidSignature, ValueError, UnsupportedAlgorithm):
            return False

    def chains_to(self, ca_bundle: bytes) -> bool:
        """True iff this key is a certificate (chain) that chains to a root of ``ca_bundle``
        (at the leaf's notBefore: code-signing certificates are short-lived)."""
        return bool(self.certs) and _chain_ok(self.certs, ca_roots(ca_bundle))


#: Which kind of key each class of key is (``isinstance`` of an abstract class costs
#: more than the rest of a verification's Python: asked once per class).
_KINDS: dict[type, str] = {}


def _kind(pub: PublicKey) -> str:
    kind = "ed25519" if isinstance(pub, ed25519.Ed25519PublicKey) else "other"
    kind = "ec" if isinstance(pub, ec.EllipticCurvePublicKey) else kind
    _KINDS[type(pub)] = kind
    return kind


def _verify_ed25519(
    pub: ed25519.Ed25519PublicKey, alg: Algorithm, signature: bytes, data: bytes, prehashed: bool
) -> bool:
    if alg.prehash_ed25519:
        digest = data if prehashed else _digest("sha512", data)
        return ed25519ph.verify(pub.public_bytes_raw(), signature, digest)
    if prehashed:
        return False
    pub.verify(signature, data)
    return True


def _digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(_HASHES[name]())
    h.update(data)
    return h.finalize()


def shape_of(key: object, path: str) -> KeyShape:
    """The :class:`KeyShape` of a loaded key; other key types are not admitted."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeyShape("rsa", (key.key_size + 7) // 8 * 8)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyShape("ecdsa", _CURVES.get(key.curve.name, key.curve.name))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyShape("ed25519")
    raise UnsupportedEntryError(f"{path}: {type(key).__name__} keys are not supported")


def _parse_spki(der: bytes) -> PkixKey:
    key = serialization.load_der_public_key(der)
    if isinstance(key, ec.EllipticCurvePublicKey) and len(der) == 91 and der[:27] == _P256_SPKI:
        # P-256's one canonical form (RFC 5480: the named curve, an uncompressed point),
        # parsed: its encoding below would give these bytes again.
        return PkixKey(key, _P256, der)
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


_load_spki = functools.lru_cache(maxsize=8192)(_parse_spki)


def parse_certificate(der: bytes) -> x509.Certificate:
    """A certificate, decoded whole as Go's ``x509.ParseCertificate`` (which Rekor uses)
    does: ``cryptography`` decodes the version, names and extensions lazily, and one of
    them failing later (in chain building, say) must fail here, as malformed input.
    A serial number that is not positive (RFC 5280 §4.1.2.2), which ``cryptography``
    only warns about for now and Go refuses, is refused too."""
    cert = load_der(der)
    cert.version, cert.extensions  # noqa: B018
    check_names(cert)
    return cert


def load_der(der: bytes) -> x509.Certificate:
    """``der`` loaded by ``cryptography`` (lazily), refused unless it is exactly DER
    (nothing trailing, re-encoding gives the same bytes) and loads without a deprecation
    warning (a serial number that is not positive, which Go refuses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        try:
            cert = x509.load_der_x509_certificate(der)
        except CryptographyDeprecationWarning as exc:
            raise ValueError(str(exc).split(",", 1)[0]) from None
    if cert.public_bytes(serialization.Encoding.DER) != der:
        raise ValueError("trailing or non-DER data")
    return cert


def check_names(cert: x509.Certificate) -> None:
    """Decode the subject and issuer now (``cryptography`` decodes them lazily)."""
    try:
        cert.subject, cert.issuer  # noqa: B018
    except KeyError as exc:  # cryptography's lookup of the string type's tag
        raise ValueError(f"a name holds a value of unknown ASN.1 string type {exc}") from None


def _parse_cert(der: bytes) -> PkixKey:
    return certificate_key(parse_certificate(der), der)


_cached_cert = functools.lru_cache(maxsize=4096)(_parse_cert)


def _load_cert(der: bytes) -> PkixKey:
    """:func:`_parse_cert`, remembered if ``der`` is small (:data:`MAX_CACHED`)."""
    return _cached_cert(der) if len(der) <= MAX_CACHED else _parse_cert(der)


def certificate_key(cert: x509.Certificate, der: bytes) -> PkixKey:
    """The key of ``cert`` (parsed from ``der`` by :func:`parse_certificate`). Its SPKI
    is ``cryptography``'s own encoding, canonical as :func:`key_from_spki` requires."""
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnsupportedAlgorithm(f"{type(key).__name__} keys are not supported")
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PkixKey(key, shape_of(key, ""), spki, (der,))


def key_from_spki(der: bytes, path: str) -> PkixKey:
    """A key from DER SubjectPublicKeyInfo (Rekor v2 ``publicKey.rawBytes``)."""
    load = _load_spki if len(der) <= MAX_CACHED else _parse_spki
    return _loaded(load, der, path, "public key type", "public key")


def key_from_cert(der: bytes, path: str) -> PkixKey:
    """The key of a DER X.509 certificate (Rekor v2 ``x509Certificate.rawBytes``)."""
    return _loaded(_load_cert, der, path, "certificate key", "X.509 certificate")


def _loaded(
    load: Callable[[bytes], PkixKey], der: bytes, path: str, unsupported: str, invalid: str
) -> PkixKey:
    """``load(der)``, with its failures as one-line entry errors naming ``path``."""
    try:
        return load(der)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedEntryError(f"{path}: unsupported {unsupported} ({exc})") from None
    except _BAD_DER as exc:
        raise MalformedError(f"{path}: not a valid DER {invalid} ({exc})") from None


def key_from_pem(data: bytes, path: str) -> PkixKey:
    """A key from Rekor v1's PEM forms: a public key, a certificate, or a chain.

    A chain (leaf first) must verify up to its last certificate, as Rekor checks it: at
    the leaf's notBefore, any extended key usage.
    """
    if b"-----BEGIN " not in data:
        raise MalformedError(f"{path}: not a PEM-encoded public key or certificate")
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
        except (*_BAD_DER, UnsupportedAlgorithm):
            raise MalformedError(
                f"{path}: certificate {i + 1} of the chain is not a valid X.509 certificate"
            ) from None
    if not _chain_ok(chain, chain[-1:]):
        raise VerificationError(
            f"{path}: certificate chain does not verify up to its last certificate"
        )
    return PkixKey(leaf.key, leaf.shape, leaf.spki, chain)


@functools.lru_cache(maxsize=64)
def ca_roots(bundle: bytes) -> tuple[bytes, ...]:
    """The DER certificates of a PEM CA bundle (checked once per process).

    ConfigError if the bundle holds anything but valid certificates: it is the
    operator's file, read at startup.
    """
    try:
        blocks = pem_blocks(bundle, "CA bundle")
    except MalformedError as exc:
        raise ConfigError(str(exc)) from None
    roots = []
    for label, der in blocks:
        if label != "CERTIFICATE":
            raise ConfigError(f"CA bundle: unexpected PEM block {label!r}")
        try:
            parse_certificate(der)
        except _BAD_DER as exc:
            raise ConfigError(f"CA bundle: invalid certificate ({exc})") from None
        roots.append(der)
    return tuple(roots)


@functools.lru_cache(maxsize=4096)
def _chain_ok(chain: tuple[bytes, ...], anchors: tuple[bytes, ...]) -> bool:
    """True iff ``chain`` (leaf first) verifies up to one of ``anchors``.

    Anything the verifier cannot read in a certificate (a malformed name or extension,
    decoded lazily) counts as a chain that does not verify.
    """
    try:
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
        verifier.verify(leaf, intermediates)
    except (verification.VerificationError, UnsupportedAlgorithm, *_BAD_DER):
        return False
    return True
