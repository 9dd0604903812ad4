"""hashedrekord bodies read once: validity and index keys from one parse.

The monitor's hot path (docs/monitor.md "Speed and memory"). A stored Rekor body is
valid when admitting it again returns it (:mod:`tlog.monitor.examine`), and its index
keys are :func:`tlog.index.keys.index_keys`: two more parses of the JSON, the PEM and
the certificate. For the common shapes, the canonical hashedrekord 0.0.1 body whose
key is one certificate or one public key (PEM), and the canonical 0.0.2 body (Rekor
v2's, DER), :func:`read` proves both from one parse.

It only ever *accepts*. Anything it does not recognise, or any check that fails,
returns None and the caller takes the general path, which gives the verdict and its
message. Accepting is sound because each step is admission's own
(:func:`tlog.entries.hashedrekord.admit_v001` and ``admit_v002`` of a stored
``hashedRekordV002``, under the default policy):

* the body matches the canonical JSON of that shape byte for byte (members in RFC 8785
  order, values of characters that need no escaping), so parsing it gives exactly the
  fields matched, and the canonical JSON of the entry admission builds is the body
  itself once each value re-encodes to itself: the signature and key as canonical
  base64 (what :func:`tlog.codec.b64decode` accepts, returning the same bytes), the
  key's PEM as :func:`tlog.codec.encode_pem` writes its one block (what
  ``PkixKey.pem`` returns);
* the certificate passes :func:`tlog.entries.pkix.parse_certificate` and its key
  :func:`~tlog.entries.pkix.certificate_key` (what ``key_from_cert`` runs), proved by
  :func:`tlog.monitor.certificate.read` with less work where it can; a bare key is
  :func:`~tlog.entries.pkix.key_from_spki`'s;
* 0.0.1: the digest is :func:`~tlog.entries.fields.lower_hex` of its hash's size and
  the algorithm :func:`~tlog.entries.algorithm.algorithm_for` the key and hash; 0.0.2:
  the algorithm is the ``keyDetails`` one, prehashed, of the key's shape, its hash
  the stated one and the digest that hash's size (canonical base64 is read alike by
  ``b64_lenient``);
* the algorithm is allowed and the key trusted by the policy, and the signature
  verifies with ``PkixKey.verify``.

The keys come from the same parsed certificate through
:func:`tlog.index.keys.certificate_keys`, as ``index_keys`` derives them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from tlog.entries.algorithm import ALGORITHMS, HASH_SIZE, Algorithm, KeyShape, algorithm_for
from tlog.entries.pkix import PkixKey, certificate_key, key_from_spki, parse_certificate
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError
from tlog.index.keys import BODY_V2, certificate_keys, normalize
from tlog.monitor import certificate
from tlog.tile import MAX_ENTRY_SIZE

__all__ = ["read"]

_HEAD = b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"'
_HEX_SIZE = {b"sha256": 64, b"sha384": 96, b"sha512": 128}
_VALUE = b'","value":"'
_SIGNATURE = b'"}},"signature":{"content":"'
_PUBLIC = b'","publicKey":{"content":"'
_TAIL = b'"}}}}'
#: ``algorithm_for`` of each (key shape, hash name) pair that has one.
_ALGORITHM: dict[tuple[KeyShape, str], Algorithm] = {
    (a.shape, a.hash): a
    for a in ALGORITHMS.values()
    if a.hash is not None and algorithm_for(a.shape, a.hash) is a
}
#: Base64 (RFC 4648 §4) from pybase64 if it is installed (SIMD: about five times as
#: fast on the 2 KiB of base64 a Fulcio entry holds), else from the standard library.
#: Only canonical text is ever taken (each decoding is encoded again and compared), and
#: both decode canonical text alike; pybase64 raises on text outside the alphabet
#: (ValueError, as binascii's).
_decode: Callable[[bytes], bytes] = binascii.a2b_base64
_encode: Callable[[bytes], bytes] = base64.b64encode
with contextlib.suppress(ImportError):
    import pybase64  # type: ignore[import-not-found,unused-ignore]

    _decode = functools.partial(pybase64.b64decode, validate=True)
    _encode = pybase64.b64encode
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
    if it is a valid hashedrekord body of a common shape; None if it is not of such a
    shape or any check fails (the general path decides then)."""
    if len(entry) > MAX_ENTRY_SIZE:
        return None
    try:
        found = _v001(entry) or _v002(entry)
        if found is None:
            return None
        alg, key, keys, signature, digest = found
        policy.require(alg, "algorithm")
        policy.check_trust(key, "key")
    except (TlogError, *_UNREADABLE):
        return None
    if not key.verify(alg, signature, digest, prehashed=True):
        return None
    keys.add(("uuid", uuid))
    return sorted({(k, normalize(k, v)) for k, v in keys})


#: What a body's shape yields: algorithm, key, index keys but the UUID, signature, digest.
_Read = tuple[Algorithm, PkixKey, set[tuple[str, str]], bytes, bytes]


def _v001(entry: bytes) -> _Read | None:
    """A canonical 0.0.1 body with one certificate or public key (PEM)."""
    fields = _fields_v001(entry)
    if fields is None:
        return None
    name, value, content, pem_b64 = fields
    signature = _b64(content)
    digest = binascii.a2b_hex(value)
    if signature is None or value.translate(None, b"0123456789abcdef"):
        return None
    key, keys = _key(_decode(pem_b64), pem_b64)
    alg = _ALGORITHM.get((key.shape, name)) if key is not None else None
    if key is None or alg is None:
        return None
    keys.add((name, value.decode("ascii")))
    return alg, key, keys, signature, digest


def _fields_v001(entry: bytes) -> tuple[str, bytes, bytes, bytes] | None:
    """The hash name, hex value, signature and key (base64) of a body of the canonical
    0.0.1 shape, or None: the body cut at its quotes, which the values it may hold
    (lowercase hex of the hash's size, canonical base64: checked next) do not contain."""
    if not entry.startswith(_HEAD) or not entry.endswith(_TAIL):
        return None
    p = len(_HEAD)
    name = entry[p : p + 6]
    size = _HEX_SIZE.get(name)
    if size is None or not entry.startswith(_VALUE, p + 6):
        return None
    p += 6 + len(_VALUE)
    value = entry[p : p + size]
    p += size
    if not entry.startswith(_SIGNATURE, p):
        return None
    p += len(_SIGNATURE)
    q = entry.find(b'"', p)
    if q <= p or not entry.startswith(_PUBLIC, q) or q + len(_PUBLIC) >= len(entry) - len(_TAIL):
        return None
    return name.decode("ascii"), value, entry[p:q], entry[q + len(_PUBLIC) : -len(_TAIL)]


def _v002(entry: bytes) -> _Read | None:
    """A canonical 0.0.2 body (Rekor v2's log entry) with its certificate or key in DER
    (:func:`tlog.entries.hashedrekord.admit_v002` of a stored ``hashedRekordV002``)."""
    m = BODY_V2.fullmatch(entry)
    if m is None:
        return None
    proto_hash, details, holder = (m[i].decode("ascii") for i in (1, 4, 5))
    digest, signature, raw = (_b64(m[i]) for i in (2, 3, 6))
    if digest is None or signature is None or raw is None:
        return None
    alg = ALGORITHMS.get(details)
    if alg is None or alg.hash is None or alg.proto_hash != proto_hash:
        return None
    if holder == "publicKey":
        key = key_from_spki(raw, "rawBytes")
        keys = {("key", hashlib.sha256(raw).hexdigest())}
    else:
        key, keys = _certificate(raw)
    if alg.shape != key.shape or len(digest) != HASH_SIZE[alg.hash]:
        return None
    keys.add((alg.hash, digest.hex()))
    return alg, key, keys, signature, digest


def _key(pem: bytes, pem_b64: bytes) -> tuple[PkixKey | None, set[tuple[str, str]]]:
    """The key of a PEM whose base64 is ``pem_b64``, and its index keys, if that base64
    is canonical and the PEM one block as :func:`~tlog.codec.encode_pem` writes it."""
    if pem.startswith(_CERTIFICATE):
        der = _der(pem, pem_b64, "CERTIFICATE")
        if der is None:
            return None, set()
        return _certificate(der)
    if pem.startswith(_PUBLIC_KEY):
        der = _der(pem, pem_b64, "PUBLIC KEY")
        if der is None:
            return None, set()
        key = key_from_spki(der, "key")
        return key, {("key", hashlib.sha256(key.spki).hexdigest())}
    return None, set()


def _certificate(der: bytes) -> tuple[PkixKey, set[tuple[str, str]]]:
    """The key and index keys of a certificate, as admission and ``index_keys`` read it
    (:func:`tlog.monitor.certificate.read`, else the general functions)."""
    try:
        found = certificate.read(der)
    except IndexError:  # a shape the DER walk does not know: the general functions read it
        found = None
    if found is not None:
        return found[0], set(found[1])
    cert = parse_certificate(der)
    key = certificate_key(cert, der)
    return key, set(certificate_keys(cert, der, key.spki))


def _der(pem: bytes, pem_b64: bytes, label: str) -> bytes | None:
    """The DER of ``pem`` if ``pem_b64`` is exactly the base64 of
    :func:`~tlog.codec.encode_pem` of it: ``pem_b64`` the canonical base64 of ``pem``,
    and ``pem`` what ``encode_pem`` writes of the DER its body decodes to."""
    if _encode(pem) != pem_b64:
        return None
    head = len(label) + 17  # "-----BEGIN " label "-----\n"
    tail = len(label) + 15  # "-----END " label "-----\n"
    der = _decode(pem[head:-tail].replace(b"\n", b""))
    return der if _pem(label, der) == pem else None


def _pem(label: str, der: bytes) -> bytes:
    """:func:`tlog.codec.encode_pem` with :data:`_encode`."""
    text = _encode(der)
    lines = b"\n".join([text[i : i + 64] for i in range(0, len(text), 64)])
    head = label.encode("ascii")
    return b"-----BEGIN " + head + b"-----\n" + lines + b"\n-----END " + head + b"-----\n"


def _b64(text: bytes) -> bytes | None:
    """The bytes ``text`` is the canonical base64 of, or None. Canonical text is what
    :func:`tlog.codec.b64decode` (strict) accepts, and it returns the same bytes."""
    raw = _decode(text)
    return raw if _encode(raw) == text else None
