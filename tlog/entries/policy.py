"""What the operator lets into the log: signing algorithms, PKI formats, trusted CAs.

An :class:`AdmissionPolicy` is a frozen, picklable value passed explicitly to
:func:`tlog.entries.admit_json` and from there to each entry type's validator; a worker
pool gets it with the function it runs (the CA bundle travels as PEM bytes and is parsed
once per process)::

    admit = functools.partial(tlog.entries.admit_json, policy=policy)
    with ProcessPoolExecutor(2) as pool:
        entries = pool.map(admit, lines)

:data:`DEFAULT_POLICY` is Rekor's defaults. How the policy applies, per signature:

* x509-style signatures whose hash is known (hashedrekord, rekord x509, dsse, intoto):
  the (key shape, hash) pair must be one of :attr:`AdmissionPolicy.algorithms`, as Rekor's
  algorithm registry checks it. Where the entry does not say the hash (rekord x509, dsse,
  intoto sign the message itself) the signature is tried with each allowed algorithm
  for that key shape (:meth:`AdmissionPolicy.verifying_algorithm`), so P-384 keys verify
  with SHA-384 by default and with SHA-256 only if ``PKIX_ECDSA_P384_SHA_256`` (what
  Rekor v1 uses there) is allowed.
* ssh, minisign and pgp signatures fix their own hash; there the key shape alone must be
  that of an allowed algorithm (RSA 2048/3072/4096, a NIST curve, Ed25519), and each
  format refuses weak hashes itself (no SHA-1, no MD5).
* With a CA bundle, an x509 verifier must be a certificate that chains to one of its
  roots (:meth:`AdmissionPolicy.check_trust`, at the certificate's notBefore, since
  code-signing certificates are short-lived and the signature was made inside their
  validity); bare public keys are refused.

This module loads no parser (``cryptography.x509`` pulls in ``email`` and ``socket``):
the keys its checks take were parsed by :mod:`tlog.entries.pkix`, which is imported here
only to read a CA bundle when a policy is made with one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlog.entries.algorithm import (
    ALGORITHMS,
    DEFAULT_ALGORITHMS,
    PKI_FORMATS,
    Algorithm,
    KeyShape,
    lookup,
)
from tlog.errors import ConfigError, UnsupportedEntryError, VerificationError

if TYPE_CHECKING:
    from tlog.entries.pkix import PkixKey


@dataclass(frozen=True)
class AdmissionPolicy:
    """The operator's narrowing of what entries may be admitted.

    ``algorithms`` holds ``PublicKeyDetails`` names (see
    :mod:`tlog.entries.algorithm`); ``pki_formats`` the rekord signature formats;
    ``ca_bundle`` PEM certificates that x509 verifiers must chain to (empty: any key or
    certificate, as Rekor). ConfigError for an unknown name or an unreadable bundle.
    """

    algorithms: frozenset[str] = DEFAULT_ALGORITHMS
    pki_formats: frozenset[str] = frozenset(PKI_FORMATS)
    ca_bundle: bytes = b""
    _allowed: tuple[Algorithm, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(n for n in self.algorithms if n not in ALGORITHMS)
        if unknown:
            raise ConfigError(f"unknown signing algorithm(s): {', '.join(unknown)}")
        bad = sorted(self.pki_formats - frozenset(PKI_FORMATS))
        if bad:
            raise ConfigError(f"unknown PKI format(s): {', '.join(bad)}")
        ordered = tuple(a for n, a in ALGORITHMS.items() if n in self.algorithms)
        object.__setattr__(self, "_allowed", ordered)
        if self.ca_bundle:
            from tlog.entries.pkix import ca_roots  # X.509 is loaded only for a CA bundle

            ca_roots(self.ca_bundle)  # a bad bundle fails when the policy is made

    @classmethod
    def from_options(
        cls,
        algorithms: Iterable[str] | None = None,
        *,
        pki_formats: Iterable[str] | None = None,
        ca_bundle: bytes = b"",
    ) -> AdmissionPolicy:
        """Build a policy from CLI-style options.

        ``algorithms`` accepts enum names (``PKIX_ECDSA_P256_SHA_256``) or Sigstore flag
        spellings (``ecdsa-sha2-256-nistp256``); None keeps the defaults.
        """
        names = DEFAULT_ALGORITHMS
        if algorithms is not None:
            found: set[str] = set()
            for item in algorithms:
                alg = lookup(item.strip())
                if alg is None:
                    raise ConfigError(f"unknown signing algorithm {item!r}")
                found.add(alg.name)
            if not found:
                raise ConfigError("the algorithm list is empty: nothing could be admitted")
            names = frozenset(found)
        formats = frozenset(PKI_FORMATS if pki_formats is None else pki_formats)
        return cls(algorithms=names, pki_formats=formats, ca_bundle=ca_bundle)

    def allowed_for(self, shape: KeyShape) -> tuple[Algorithm, ...]:
        """Allowed algorithms for keys of ``shape``, in registry order."""
        return tuple(a for a in self._allowed if a.shape == shape)

    def require(self, alg: Algorithm, path: str) -> None:
        """Refuse ``alg`` (used at ``path``) unless the policy allows it."""
        if alg.name not in self.algorithms:
            raise UnsupportedEntryError(
                f"{path}: signing algorithm {alg.name} is not allowed by this log's policy"
            )

    def require_shape(self, shape: KeyShape, path: str) -> None:
        """Refuse keys of ``shape`` unless some allowed algorithm uses such keys."""
        if not self.allowed_for(shape):
            raise UnsupportedEntryError(
                f"{path}: {shape} keys are not allowed by this log's policy"
            )

    def require_format(self, pki_format: str, path: str) -> None:
        """Refuse a rekord signature format the operator turned off."""
        if pki_format not in self.pki_formats:
            raise UnsupportedEntryError(
                f"{path}: signature format {pki_format!r} is not allowed by this log's policy"
            )

    def check_trust(self, key: PkixKey, path: str) -> None:
        """With a CA bundle, require ``key`` to be a certificate chaining to it."""
        if not self.ca_bundle:
            return
        if not key.certs:
            raise VerificationError(
                f"{path}: this log admits only certificates issued by its configured CAs, "
                "not bare keys"
            )
        if not key.chains_to(self.ca_bundle):
            raise VerificationError(
                f"{path}: certificate does not chain to the log's configured CAs"
            )

    def verifying_algorithm(
        self, key: PkixKey, signature: bytes, message: bytes, path: str
    ) -> Algorithm | None:
        """The allowed algorithm with which ``signature`` verifies over ``message``, if any.

        Rekor v1's rekord x509, dsse and intoto signatures carry no algorithm; each
        allowed algorithm for the key's shape is tried. UnsupportedEntryError when the
        policy allows no algorithm for such keys at all.
        """
        candidates = [a for a in self.allowed_for(key.shape) if not a.prehash_ed25519]
        if not candidates:
            raise UnsupportedEntryError(
                f"{path}: {key.shape} signatures over whole messages are not allowed "
                "by this log's policy"
            )
        for alg in candidates:
            if key.verify(alg, signature, message, prehashed=False):
                return alg
        return None

    def verify_message(
        self, key: PkixKey, signature: bytes, message: bytes, path: str
    ) -> Algorithm:
        """Like :meth:`verifying_algorithm`, but a signature that does not verify is a
        VerificationError naming ``path`` (the signature's field)."""
        alg = self.verifying_algorithm(key, signature, message, path)
        if alg is None:
            raise VerificationError(f"{path}: signature does not verify with the given public key")
        return alg


#: Rekor's defaults: every algorithm of :data:`DEFAULT_ALGORITHMS`, every format, no CA.
DEFAULT_POLICY = AdmissionPolicy()
