"""Signing algorithms, named as Sigstore names them.

Each :class:`Algorithm` is one value of the ``PublicKeyDetails`` enum of Sigstore's
protobuf-specs (``sigstore_common.proto``) that Rekor's algorithm registry knows: a key
shape (RSA modulus size, ECDSA curve, Ed25519) together with the hash the signature is
computed over. Rekor v1 and v2 check an entry's (key, hash) pair against a configured
subset of these; :class:`~tlog.entries.policy.AdmissionPolicy` does the same here.

The ``flag`` names are the ones Sigstore services accept on their command lines
(``--client-signing-algorithms``), so an operator can use either spelling. The module
also names the rekord signature formats (:data:`PKI_FORMATS`): it is the vocabulary the
admission policy is written in, and loads no parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KeyType = Literal["rsa", "ecdsa", "ed25519"]
HashName = Literal["sha256", "sha384", "sha512"]

#: The signature formats of rekord entries (``spec.signature.format``): the PKI types of
#: Rekor's ``pkg/pki`` that this log reads, in the order ``rekor-cli`` lists them.
PKI_FORMATS: tuple[str, ...] = ("x509", "ssh", "minisign", "pgp")

#: ``HashAlgorithm`` enum names of protobuf-specs, as protojson writes them.
PROTO_HASH: dict[str, str] = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}
#: Digest sizes in bytes.
HASH_SIZE: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class KeyShape:
    """What a public key is, as far as algorithm policy cares.

    ``param`` is the RSA modulus size in bits (rounded up to whole bytes, as Go's
    ``rsa.PublicKey.Size()*8``), the ECDSA curve (``P-256``, ``P-384``, ``P-521``, or
    another curve's name, which no algorithm accepts), or None for Ed25519.
    """

    key_type: KeyType
    param: int | str | None = None

    def __str__(self) -> str:
        if self.key_type == "rsa":
            return f"RSA-{self.param}"
        if self.key_type == "ecdsa":
            return f"ECDSA {self.param}"
        return "Ed25519"


@dataclass(frozen=True)
class Algorithm:
    """One signing algorithm: a key shape and the hash signed (None: pure Ed25519)."""

    name: str
    flag: str
    shape: KeyShape
    hash: HashName | None
    pss: bool = False

    @property
    def prehash_ed25519(self) -> bool:
        """True for Ed25519ph (RFC 8032 §5.1, signing the SHA-512 digest)."""
        return self.shape.key_type == "ed25519" and self.hash is not None

    @property
    def proto_hash(self) -> str:
        """The ``HashAlgorithm`` enum name of this algorithm's digest."""
        if self.hash is None:
            raise ValueError(f"{self.name} signs the message itself, not a digest")
        return PROTO_HASH[self.hash]

    def __str__(self) -> str:
        return self.name


def _rsa(bits: int, pss: bool) -> Algorithm:
    kind = "PSS" if pss else "PKCS1V15"
    flag = "pss" if pss else "pkcs1"
    return Algorithm(
        f"PKIX_RSA_{kind}_{bits}_SHA256",
        f"rsa-sign-{flag}-{bits}-sha256",
        KeyShape("rsa", bits),
        "sha256",
        pss,
    )


def _ec(curve: int, hash_bits: int) -> Algorithm:
    hash_name: HashName = (
        "sha256" if hash_bits == 256 else "sha384" if hash_bits == 384 else "sha512"
    )
    return Algorithm(
        f"PKIX_ECDSA_P{curve}_SHA_{hash_bits}",
        f"ecdsa-sha2-{hash_bits}-nistp{curve}",
        KeyShape("ecdsa", f"P-{curve}"),
        hash_name,
    )


#: Every algorithm this log knows, by ``PublicKeyDetails`` name.
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        *(_rsa(bits, pss) for pss in (False, True) for bits in (2048, 3072, 4096)),
        _ec(256, 256),
        _ec(384, 384),
        _ec(521, 512),
        _ec(384, 256),  # deprecated in protobuf-specs; what Rekor v1 uses for P-384 rekord/dsse
        _ec(521, 256),  # likewise for P-521
        Algorithm("PKIX_ED25519", "ed25519", KeyShape("ed25519"), None),
        Algorithm("PKIX_ED25519_PH", "ed25519-ph", KeyShape("ed25519"), "sha512"),
    )
}
_BY_FLAG = {a.flag: a for a in ALGORITHMS.values()}

#: Rekor v1's default ``--client-signing-algorithms`` (``AllowedClientSigningAlgorithms``):
#: RSA PKCS#1 v1.5 2048/3072/4096 with SHA-256, ECDSA P-256/SHA-256, P-384/SHA-384,
#: P-521/SHA-512, Ed25519 and Ed25519ph. Rekor v2 allows the same minus pure Ed25519,
#: which hashedrekord 0.0.2 refuses by construction (it needs a prehash).
DEFAULT_ALGORITHMS: frozenset[str] = frozenset(
    {
        "PKIX_RSA_PKCS1V15_2048_SHA256",
        "PKIX_RSA_PKCS1V15_3072_SHA256",
        "PKIX_RSA_PKCS1V15_4096_SHA256",
        "PKIX_ECDSA_P256_SHA_256",
        "PKIX_ECDSA_P384_SHA_384",
        "PKIX_ECDSA_P521_SHA_512",
        "PKIX_ED25519",
        "PKIX_ED25519_PH",
    }
)


def lookup(name: str) -> Algorithm | None:
    """The algorithm called ``name`` (enum name or flag spelling), or None."""
    return ALGORITHMS.get(name) or _BY_FLAG.get(name)


def algorithm_for(shape: KeyShape, hash_name: str) -> Algorithm | None:
    """The PKCS#1 v1.5 / ECDSA / Ed25519ph algorithm for keys of ``shape`` and a hash.

    This is how Rekor v1 names the algorithm of a hashedrekord 0.0.1 entry, which states
    only its digest's hash; None if no algorithm has that pair (such an entry is refused
    whatever the policy).
    """
    for alg in ALGORITHMS.values():
        if alg.shape == shape and alg.hash == hash_name and not alg.pss:
            return alg
    return None
