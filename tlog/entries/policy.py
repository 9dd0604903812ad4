"""What the operator lets into the log: signing algorithms, PKI formats, trusted CAs.

Admission runs in worker processes, and :func:`tlog.entries.admit_json` takes only the
document, so the policy is process-local state: the sequencer builds one
:class:`AdmissionPolicy` from its options and hands it to every worker through the
pool's initializer::

    with ProcessPoolExecutor(2, initializer=policy.init_worker, initargs=(pol,)) as pool:
        entries = pool.map(admit_one, lines)

and calls :func:`set_policy` itself when it admits in-process. A process that never sets
one admits with :data:`DEFAULT_POLICY` (Rekor's defaults). The policy is a frozen,
picklable value (the CA bundle travels as PEM bytes and is parsed once per process).

How the policy applies, per signature:

* x509-style signatures whose hash is known (hashedrekord, rekord x509, dsse, intoto):
  the (key shape, hash) pair must be one of :attr:`AdmissionPolicy.algorithms`, as Rekor's
  algorithm registry checks it. Where the entry does not say the hash (rekord x509, dsse,
  intoto sign the message itself) the signature is tried with each allowed algorithm
  for that key shape, so P-384 keys verify with SHA-384 by default and with SHA-256 only
  if ``PKIX_ECDSA_P384_SHA_256`` (what Rekor v1 uses there) is allowed.
* ssh, minisign and pgp signatures fix their own hash; there the key shape alone must be
  that of an allowed algorithm (RSA 2048/3072/4096, a NIST curve, Ed25519), and each
  format refuses weak hashes itself (no SHA-1, no MD5).
* With a CA bundle, an x509 verifier must be a certificate that chains to one of its
  roots (at the certificate's notBefore, since code-signing certificates are short-lived
  and the signature was made inside their validity); bare public keys are refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tlog.entries import UnsupportedEntryError
from tlog.entries.algorithm import ALGORITHMS, DEFAULT_ALGORITHMS, Algorithm, KeyShape, lookup
from tlog.errors import ConfigError

#: The signature formats of rekord entries (``spec.signature.format``).
PKI_FORMATS: frozenset[str] = frozenset({"x509", "ssh", "minisign", "pgp"})


@dataclass(frozen=True)
class AdmissionPolicy:
    """The operator's narrowing of what entries may be admitted.

    ``algorithms`` holds ``PublicKeyDetails`` names (see
    :mod:`tlog.entries.algorithm`); ``pki_formats`` the rekord signature formats;
    ``ca_bundle`` PEM certificates that x509 verifiers must chain to (empty: any key or
    certificate, as Rekor).
    """

    algorithms: frozenset[str] = DEFAULT_ALGORITHMS
    pki_formats: frozenset[str] = PKI_FORMATS
    ca_bundle: bytes = b""
    _allowed: tuple[Algorithm, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(n for n in self.algorithms if n not in ALGORITHMS)
        if unknown:
            raise ConfigError(f"unknown signing algorithm(s): {', '.join(unknown)}")
        bad = sorted(self.pki_formats - PKI_FORMATS)
        if bad:
            raise ConfigError(f"unknown PKI format(s): {', '.join(bad)}")
        ordered = tuple(a for n, a in ALGORITHMS.items() if n in self.algorithms)
        object.__setattr__(self, "_allowed", ordered)

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
        spellings (``ecdsa-sha2-256-nistp256``); None keeps the defaults. A non-empty
        ``ca_bundle`` is parsed now so that a bad bundle fails at startup.
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
        formats = PKI_FORMATS if pki_formats is None else frozenset(pki_formats)
        policy = cls(algorithms=names, pki_formats=formats, ca_bundle=ca_bundle)
        if ca_bundle:
            from tlog.entries import pkix  # local import: pkix imports this module

            pkix.ca_roots(ca_bundle)
        return policy

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


#: Rekor's defaults: every algorithm of :data:`DEFAULT_ALGORITHMS`, every format, no CA.
DEFAULT_POLICY = AdmissionPolicy()

_current: AdmissionPolicy = DEFAULT_POLICY


def set_policy(policy: AdmissionPolicy) -> None:
    """Make ``policy`` the one this process admits entries with."""
    global _current
    _current = policy


def init_worker(policy: AdmissionPolicy) -> None:
    """Pool initializer: ``ProcessPoolExecutor(initializer=init_worker, initargs=(p,))``.

    Sets the worker's policy and loads every entry type up front.
    """
    from tlog.entries import load_types

    set_policy(policy)
    load_types()


def current_policy() -> AdmissionPolicy:
    """The policy this process admits entries with."""
    return _current


@contextlib.contextmanager
def using_policy(policy: AdmissionPolicy) -> Iterator[AdmissionPolicy]:
    """Admit with ``policy`` inside the ``with`` block, then restore the previous one."""
    previous = current_policy()
    set_policy(policy)
    try:
        yield policy
    finally:
        set_policy(previous)
