"""hashedrekord 0.0.1 bodies read once: validity and index keys from one parse.

The monitor's hot path (docs/monitor.md "Speed and memory"). A stored Rekor body is
valid when admitting it again returns it (:mod:`tlog.monitor.examine`), and its index
keys are :func:`tlog.index.keys.index_keys`: two more parses of the JSON, the PEM and
the certificate. For the common shape, the canonical hashedrekord 0.0.1 body whose
key is one certificate or one public key, :func:`read` proves both from one parse.

It only ever *accepts*. Anything it does not recognise, or any check that fails,
returns None and the caller takes the general path, which gives the verdict and its
message. Accepting is sound because each step is admission's own
(:func:`tlog.entries.hashedrekord.admit_v001` under the default policy):

* the body matches the canonical JSON of that shape byte for byte (members in RFC 8785
  order, values of characters that need no escaping), so parsing it gives exactly the
  fields matched, and the canonical JSON of the entry admission builds is the body
  itself once each value re-encodes to itself: the signature and key as canonical
  base64 (:func:`tlog.codec.b64decode`), the key's PEM as
  :func:`tlog.codec.encode_pem` writes its one block (what ``PkixKey.pem`` returns);
* the certificate passes :func:`tlog.entries.pkix.parse_certificate` and its key
  :func:`~tlog.entries.pkix.certificate_key` (what ``key_from_cert`` runs); a bare
  key is :func:`~tlog.entries.pkix.key_from_spki`'s;
* the digest is :func:`~tlog.entries.fields.lower_hex` of its hash's size, the
  algorithm :func:`~tlog.entries.algorithm.algorithm_for` the key and hash, allowed and
  trusted by the policy, and the signature verifies with ``PkixKey.verify``.

The keys come from the same parsed certificate through
:func:`tlog.index.keys.certificate_keys`, as ``index_keys`` derives them.
"""

from __future__ import annotations

import binascii
import hashlib
import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from tlog.codec import b64decode, encode_pem
from tlog.entries.algorithm import HASH_SIZE, algorithm_for
from tlog.entries.fields import lower_hex
from tlog.entries.pkix import PkixKey, certificate_key, key_from_spki, parse_certificate
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError
from tlog.index.keys import certificate_keys, normalize
from tlog.tile import MAX_ENTRY_SIZE

__all__ = ["read"]

_BODY = re.compile(
    rb'\{"apiVersion":"0\.0\.1","kind":"hashedrekord","spec":\{"data":\{"hash":\{'
    rb'"algorithm":"(sha256|sha384|sha512)","value":"([0-9a-f]+)"\}\},"signature":\{'
    rb'"content":"([A-Za-z0-9+/]+={0,2})","publicKey":\{"content":"([A-Za-z0-9+/]+={0,2})"'
    rb"\}\}\}\}"
)
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\n"
_PUBLIC_KEY = b"-----BEGIN PUBLIC KEY-----\n"
#: What reading a certificate or key raises besides TlogError (as pkix's callers expect).
_UNREADABLE = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
)


def read(
    entry: bytes, uuid: str, policy: AdmissionPolicy = DEFAULT_POLICY
) -> list[tuple[str, str]] | None:
    """The index keys of ``entry`` (as :func:`tlog.index.keys.index_keys` gives them)
    if it is a valid hashedrekord 0.0.1 body of the common shape; None if it is not of
    that shape or any check fails (the general path decides then)."""
    m = _BODY.fullmatch(entry)
    if m is None or len(entry) > MAX_ENTRY_SIZE:
        return None
    hash_name, value, content, pem_b64 = (g.decode("ascii") for g in m.groups())
    try:
        signature = b64decode(content, "signature")
        pem = b64decode(pem_b64, "key")
        digest = lower_hex(value, "value", HASH_SIZE[hash_name])
        key, keys = _key(pem)
    except (TlogError, *_UNREADABLE):
        return None
    if key is None:
        return None
    alg = algorithm_for(key.shape, hash_name)
    if alg is None:
        return None
    try:
        policy.require(alg, "algorithm")
        policy.check_trust(key, "key")
    except TlogError:
        return None
    if not key.verify(alg, signature, digest, prehashed=True):
        return None
    keys.add(("uuid", uuid))
    keys.add((hash_name, value))
    return sorted({(k, normalize(k, v)) for k, v in keys})


def _key(pem: bytes) -> tuple[PkixKey | None, set[tuple[str, str]]]:
    """The key of a canonical one-block PEM and its index keys (None if not one)."""
    if pem.startswith(_CERTIFICATE):
        der = _der(pem, "CERTIFICATE")
        if der is None:
            return None, set()
        cert = parse_certificate(der)
        key = certificate_key(cert, der)
        return key, set(certificate_keys(cert, der, key.spki))
    if pem.startswith(_PUBLIC_KEY):
        der = _der(pem, "PUBLIC KEY")
        if der is None:
            return None, set()
        key = key_from_spki(der, "key")
        return key, {("key", hashlib.sha256(key.spki).hexdigest())}
    return None, set()


def _der(pem: bytes, label: str) -> bytes | None:
    """The DER of ``pem`` if it is exactly :func:`~tlog.codec.encode_pem` of it."""
    head = len(label) + 17  # "-----BEGIN " label "-----\n"
    tail = len(label) + 15  # "-----END " label "-----\n"
    try:
        der = binascii.a2b_base64(pem[head:-tail])
    except binascii.Error:
        return None
    return der if encode_pem(label, der) == pem else None
