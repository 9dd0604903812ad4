"""hashedrekord entries: a signature over an artifact's digest, with its key.

**0.0.2** (Rekor v2, rekor-tiles). Input is a ``CreateEntryRequest`` in protobuf JSON,
``{"hashedRekordRequestV002": {"digest", "signature": {"content", "verifier":
{"publicKey": {"rawBytes"}} | {"x509Certificate": {"rawBytes"}}, "keyDetails"}}}}``
(``rekor/v2/hashedrekord.proto``, ``verifier.proto``), or the same request, or a stored
``hashedRekordV002`` log entry, as the ``spec`` of a v1-style proposed entry of version
0.0.2. rekor-tiles turns the request into the log entry::

    Entry{kind: "hashedrekord", api_version: "0.0.2",
          spec: Spec{hashed_rekord_v002: HashedRekordLogEntryV002{
              data: HashOutput{algorithm: <hash of keyDetails>, digest: <request digest>},
              signature: <request signature, unchanged>}}}

and stores ``jsoncanonicalizer.Transform(protojson.Marshal(entry))``: protojson names
(``apiVersion``, ``hashedRekordV002``, ``rawBytes``, ``x509Certificate``,
``keyDetails``), enums by name, bytes as standard padded base64, empty fields omitted,
then RFC 8785. This module builds the same JSON value and canonicalizes it.

**0.0.1** (Rekor v1): ``spec.data.hash{algorithm: sha256|sha384|sha512, value: hex}``,
``spec.signature{content: base64 signature, publicKey{content: base64 PEM key or
certificate}}``; Rekor stores the same shape with the key re-encoded as canonical PEM
(:meth:`tlog.entries.pkix.PkixKey.pem`) and nothing else.

Both verify the signature over the digest (ECDSA, RSA PKCS#1 v1.5, Ed25519ph) and check
the (key, hash) pair against the admission policy, as Rekor's algorithm registry does.
"""

from __future__ import annotations

import re
from typing import Any

from tlog.codec import b64decode, b64encode
from tlog.entries.algorithm import ALGORITHMS, HASH_SIZE, Algorithm, algorithm_for
from tlog.entries.canonical import canonical_json
from tlog.entries.entry import Entry
from tlog.entries.fields import (
    b64,
    b64_lenient,
    child,
    lower_hex,
    member,
    member_obj,
    member_str,
    proto_message,
)
from tlog.entries.pkix import PkixKey, key_from_cert, key_from_pem, key_from_spki
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, TlogError, UnsupportedEntryError, VerificationError

KIND = "hashedrekord"
V2_WRAPPER = "hashedRekordRequestV002"

#: ``PublicKeyDetails`` enum numbers (protobuf-specs ``sigstore_common.proto``): protojson
#: accepts an enum as its name or its number, and always writes the name.
_KEY_DETAILS_NUMBERS = {
    5: "PKIX_ECDSA_P256_SHA_256",
    7: "PKIX_ED25519",
    8: "PKIX_ED25519_PH",
    9: "PKIX_RSA_PKCS1V15_2048_SHA256",
    10: "PKIX_RSA_PKCS1V15_3072_SHA256",
    11: "PKIX_RSA_PKCS1V15_4096_SHA256",
    12: "PKIX_ECDSA_P384_SHA_384",
    13: "PKIX_ECDSA_P521_SHA_512",
    16: "PKIX_RSA_PSS_2048_SHA256",
    17: "PKIX_RSA_PSS_3072_SHA256",
    18: "PKIX_RSA_PSS_4096_SHA256",
    19: "PKIX_ECDSA_P384_SHA_256",
    20: "PKIX_ECDSA_P521_SHA_256",
}
_HASH_ALGORITHM_NUMBERS = {1: "SHA2_256", 2: "SHA2_384", 3: "SHA2_512"}

# protojson field names: the JSON (lowerCamelCase) name and the proto name are both
# accepted on input; a field given twice, or an unknown field, is an error.
_REQUEST_FIELDS = {"digest": "digest", "signature": "signature"}
_ENTRY_FIELDS = {"data": "data", "signature": "signature"}
_HASH_OUTPUT_FIELDS = {"algorithm": "algorithm", "digest": "digest"}
_SIGNATURE_FIELDS = {"content": "content", "verifier": "verifier"}
_VERIFIER_FIELDS = {
    "publicKey": "public_key",
    "x509Certificate": "x509_certificate",
    "keyDetails": "key_details",
}
_RAW_BYTES_FIELDS = {"rawBytes": "raw_bytes"}


def _required(message: dict[str, Any], name: str, path: str) -> Any:
    if name not in message:
        raise MalformedError(f"{child(path, name)}: missing")
    return message[name]


def _enum(value: Any, path: str, numbers: dict[int, str]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in numbers:
            raise UnsupportedEntryError(f"{path}: enum value {value} is not supported")
        return numbers[value]
    if not isinstance(value, str) or not value:
        raise MalformedError(f"{path}: expected an enum name")
    return value


def parse_verifier(
    value: Any, vpath: str, policy: AdmissionPolicy, *, prehashed: bool = True
) -> tuple[dict[str, Any], PkixKey, Algorithm]:
    """Parse a Rekor v2 ``Verifier`` message: its canonical JSON, key and algorithm.

    ``prehashed``: the signature is over a digest (hashedrekord), so a pure Ed25519
    ``keyDetails`` is refused; DSSE signs the message itself and takes either.
    """
    ver = proto_message(value, vpath, _VERIFIER_FIELDS)
    has_key, has_cert = "publicKey" in ver, "x509Certificate" in ver
    if has_key == has_cert:
        raise MalformedError(f"{vpath}: needs exactly one of publicKey and x509Certificate")
    holder = "publicKey" if has_key else "x509Certificate"
    hpath = child(vpath, holder)
    raw_path = child(hpath, "rawBytes")
    raw = b64_lenient(
        _required(proto_message(ver[holder], hpath, _RAW_BYTES_FIELDS), "rawBytes", hpath), raw_path
    )
    key = key_from_spki(raw, raw_path) if has_key else key_from_cert(raw, raw_path)

    kd_path = child(vpath, "keyDetails")
    details = _enum(_required(ver, "keyDetails", vpath), kd_path, _KEY_DETAILS_NUMBERS)
    alg = ALGORITHMS.get(details)
    if alg is None:
        raise UnsupportedEntryError(f"{kd_path}: {details!r} is not a supported signing algorithm")
    if alg.shape != key.shape:
        raise MalformedError(f"{kd_path}: {details} does not match the {key.shape} key")
    if alg.hash is None and prehashed:
        raise UnsupportedEntryError(
            f"{kd_path}: {details} signs the message itself; hashedrekord needs a "
            "prehashed algorithm (for Ed25519 keys, PKIX_ED25519_PH)"
        )
    policy.require(alg, kd_path)
    policy.check_trust(key, hpath)
    return {holder: {"rawBytes": b64encode(raw)}, "keyDetails": details}, key, alg


def _signature_v002(
    value: Any, path: str, policy: AdmissionPolicy
) -> tuple[dict[str, Any], bytes, PkixKey, Algorithm]:
    """Parse a ``Signature`` message: its canonical JSON, content, key and algorithm."""
    sig = proto_message(value, path, _SIGNATURE_FIELDS)
    content = b64_lenient(_required(sig, "content", path), child(path, "content"))
    vpath = child(path, "verifier")
    verifier, key, alg = parse_verifier(_required(sig, "verifier", path), vpath, policy)
    return {"content": b64encode(content), "verifier": verifier}, content, key, alg


def _entry_v002(
    digest: bytes,
    digest_path: str,
    signature: Any,
    sig_path: str,
    policy: AdmissionPolicy,
    stated_hash: tuple[str, str] | None = None,
) -> Entry:
    """The canonical 0.0.2 entry; ``stated_hash`` is (enum name, path) of a given
    ``data.algorithm``, which must be the hash of the signing algorithm."""
    canonical_sig, content, key, alg = _signature_v002(signature, sig_path, policy)
    assert alg.hash is not None
    if stated_hash is not None and stated_hash[0] != alg.proto_hash:
        raise MalformedError(
            f"{stated_hash[1]}: {stated_hash[0]!r} does not match {alg.name}, which signs "
            f"{alg.proto_hash} digests"
        )
    size = HASH_SIZE[alg.hash]
    if len(digest) != size:
        raise MalformedError(
            f"{digest_path}: {len(digest)} bytes, but {alg.name} signs "
            f"{size}-byte {alg.proto_hash} digests"
        )
    if not key.verify(alg, content, digest, prehashed=True):
        raise VerificationError(
            f"{child(sig_path, 'content')}: signature does not verify with the given public key"
        )
    return Entry(KIND, "0.0.2", _canonical_v002(alg.proto_hash, b64encode(digest), canonical_sig))


#: The RFC 8785 form of a 0.0.2 body whose signature has a ``publicKey``: every value
#: is base64 or an enum name (ASCII, nothing to escape) and the members are in JCS order.
_V002_KEY = (
    '{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":'
    '{"algorithm":"%s","digest":"%s"},"signature":{"content":"%s","verifier":'
    '{"keyDetails":"%s","publicKey":{"rawBytes":"%s"}}}}}}'
)


def _canonical_v002(hash_name: str, digest: str, signature: dict[str, Any]) -> bytes:
    """``canonical_json`` of the 0.0.2 body, filled into :data:`_V002_KEY` for the
    common case (the hot path of a big batch: the same bytes, tests/entries)."""
    verifier = signature["verifier"]
    if "publicKey" in verifier:
        raw = verifier["publicKey"]["rawBytes"]
        args = (hash_name, digest, signature["content"], verifier["keyDetails"], raw)
        return (_V002_KEY % args).encode("ascii")
    body = {
        "apiVersion": "0.0.2",
        "kind": KIND,
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": hash_name, "digest": digest},
                "signature": signature,
            }
        },
    }
    return canonical_json(body)


def _from_request(request: Any, path: str, policy: AdmissionPolicy) -> Entry:
    req = proto_message(request, path, _REQUEST_FIELDS)
    digest_path = child(path, "digest")
    digest = b64_lenient(_required(req, "digest", path), digest_path)
    return _entry_v002(
        digest, digest_path, _required(req, "signature", path), child(path, "signature"), policy
    )


def _from_log_entry(entry: Any, path: str, policy: AdmissionPolicy) -> Entry:
    """Re-admit a stored ``HashedRekordLogEntryV002`` (e.g. one copied from Rekor v2)."""
    ent = proto_message(entry, path, _ENTRY_FIELDS)
    dpath = child(path, "data")
    data = proto_message(_required(ent, "data", path), dpath, _HASH_OUTPUT_FIELDS)
    digest_path = child(dpath, "digest")
    digest = b64_lenient(_required(data, "digest", dpath), digest_path)
    algo_path = child(dpath, "algorithm")
    stated = _enum(_required(data, "algorithm", dpath), algo_path, _HASH_ALGORITHM_NUMBERS)
    return _entry_v002(
        digest,
        digest_path,
        _required(ent, "signature", path),
        child(path, "signature"),
        policy,
        (stated, algo_path),
    )


def admit_v2_request(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v2 ``{"hashedRekordRequestV002": ...}`` request."""
    request = doc[V2_WRAPPER]
    return _common_request(request, policy) or _from_request(request, V2_WRAPPER, policy)


def _common_request(request: Any, policy: AdmissionPolicy) -> Entry | None:
    """The entry of a request of the common shape — a bare public key, every field
    under its JSON name, every bytes field canonical base64 — or None: then
    :func:`_from_request` decides, and gives any refusal its message.

    The hot path of a big batch. It only ever accepts what :func:`_from_request` does,
    with the same bytes (tests/entries/test_common_request.py): each member is exactly
    one the general reader takes (:func:`~tlog.entries.fields.proto_message`), canonical
    base64 is what ``b64_lenient`` reads first and re-encodes to itself (so the input
    texts are the canonical body's), and the key, algorithm, policy, digest size and
    signature checks are the general path's own.
    """
    try:
        sig, ver, holder = _common_parts(request)
    except LookupError:
        return None
    return _common_entry(
        request["digest"], sig["content"], ver["keyDetails"], holder["rawBytes"], policy
    )


#: A request of the common shape as protojson writes it (proto field order, JSON names,
#: any JSON whitespace between tokens): digest, content, rawBytes and keyDetails. The
#: three bytes values are taken up to the next quote (a scan in C, a third faster than
#: a character class) and only used once they decode as canonical base64 (no quote, no
#: escape, nothing but the alphabet): what it matches then parses to exactly these
#: members (nothing in them is escaped), else the general path decides.
_WS = rb"[ \t\n\r]*"
_REQUEST_TEXT = (
    rb'~\{~"hashedRekordRequestV002"~:~\{~"digest"~:~"([^"]*)"~,~"signature"~:~'
    rb'\{~"content"~:~"([^"]*)"~,~"verifier"~:~\{~"publicKey"~:~\{~"rawBytes"~:~'
    rb'"([^"]*)"~\}~,~"keyDetails"~:~"([A-Z0-9_]+)"~\}~\}~\}~\}~'
)
_REQUEST_BYTES = re.compile(_REQUEST_TEXT.replace(b"~", _WS))
#: The same without whitespace (tried first: a third of the match's cost is looking
#: for whitespace between the tokens of a compact document).
_REQUEST_COMPACT = re.compile(_REQUEST_TEXT.replace(b"~", b""))


def admit_request_bytes(data: bytes, policy: AdmissionPolicy) -> Entry | None:
    """:func:`admit_v2_request` of the document ``data`` if it is a request of the
    common shape written as protojson writes it (:data:`_REQUEST_BYTES`), without
    parsing it as JSON; None for any other document, or any refusal (then the general
    path decides and words it)."""
    m = _REQUEST_COMPACT.fullmatch(data) or _REQUEST_BYTES.fullmatch(data)
    if m is None:
        return None
    # latin-1: any bytes decode (anything but base64 is then refused by _canonical_b64);
    # each spelled out (a generator costs as much as the four decodes)
    digest, content, raw, details = m.groups()
    return _common_entry(
        digest.decode("latin-1"),
        content.decode("latin-1"),
        details.decode("latin-1"),
        raw.decode("latin-1"),
        policy,
    )


def _common_entry(
    digest_b64: Any, content_b64: Any, details: Any, raw_b64: Any, policy: AdmissionPolicy
) -> Entry | None:
    """The entry of a request of the common shape with these members, or None."""
    try:
        digest, content = _canonical_b64(digest_b64), _canonical_b64(content_b64)
        raw = _canonical_b64(raw_b64)
        alg = ALGORITHMS.get(details) if type(details) is str else None
        if alg is None or alg.hash is None:
            return None
        key = key_from_spki(raw, "rawBytes")
        if alg.shape != key.shape or len(digest) != HASH_SIZE[alg.hash]:
            return None
        policy.require(alg, "keyDetails")
        policy.check_trust(key, "publicKey")
    except (TlogError, LookupError):
        return None
    if not key.verify(alg, content, digest, prehashed=True):
        return None
    args = (alg.proto_hash, digest_b64, content_b64, details, raw_b64)
    return Entry(KIND, "0.0.2", (_V002_KEY % args).encode("ascii"), (alg.hash, digest, raw))


def _common_parts(request: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The signature, verifier and public key members of a request of the common
    shape (exactly these members, by their JSON names); LookupError otherwise."""
    sig = _exactly(request, _REQUEST)["signature"]
    ver = _exactly(sig, _SIGNATURE)["verifier"]
    holder = _exactly(ver, _BARE_KEY)["publicKey"]
    return sig, ver, _exactly(holder, _RAW)


_REQUEST, _SIGNATURE, _BARE_KEY, _RAW = (
    frozenset(names)
    for names in (
        ("digest", "signature"),
        ("content", "verifier"),
        ("keyDetails", "publicKey"),
        ("rawBytes",),
    )
)


def _exactly(message: Any, names: frozenset[str]) -> dict[str, Any]:
    """``message``, a JSON object whose members are exactly ``names`` (LookupError)."""
    if type(message) is not dict or message.keys() != names:
        raise LookupError
    return message


def _canonical_b64(text: Any) -> bytes:
    """The non-empty bytes ``text`` is the canonical base64 of (LookupError if not)."""
    if type(text) is not str or not text or len(text) % 4:
        raise LookupError
    return b64decode(text, "value")


def admit_v002(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize ``{"kind": "hashedrekord", "apiVersion": "0.0.2", "spec": ...}``.

    ``spec`` is either ``{"hashedRekordV002": <log entry>}`` (a Rekor v2 canonical body's
    spec) or ``{"hashedRekordRequestV002": <request>}``.
    """
    spec = member_obj(doc, "spec", "")
    if set(spec) == {"hashedRekordV002"}:
        return _from_log_entry(spec["hashedRekordV002"], "spec.hashedRekordV002", policy)
    if set(spec) == {V2_WRAPPER}:
        return _from_request(spec[V2_WRAPPER], f"spec.{V2_WRAPPER}", policy)
    raise MalformedError("spec: needs exactly one of hashedRekordV002 and hashedRekordRequestV002")


def admit_v001(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v1 hashedrekord 0.0.1 proposed entry."""
    spec = member_obj(doc, "spec", "")
    sig = member_obj(spec, "signature", "spec")
    content = b64(member(sig, "content", "spec.signature"), "spec.signature.content")
    pk = member_obj(sig, "publicKey", "spec.signature")
    key_path = "spec.signature.publicKey.content"
    key = key_from_pem(b64(member(pk, "content", "spec.signature.publicKey"), key_path), key_path)
    hsh = member_obj(member_obj(spec, "data", "spec"), "hash", "spec.data")
    algo_path = "spec.data.hash.algorithm"
    hash_name = member_str(hsh, "algorithm", "spec.data.hash")
    if hash_name not in HASH_SIZE:
        raise MalformedError(f"{algo_path}: {hash_name!r} is not one of sha256, sha384, sha512")
    value_path = "spec.data.hash.value"
    value = member_str(hsh, "value", "spec.data.hash")
    digest = lower_hex(value, value_path, HASH_SIZE[hash_name])

    alg = algorithm_for(key.shape, hash_name)
    if alg is None:
        raise UnsupportedEntryError(
            f"{algo_path}: {key.shape} keys cannot sign {hash_name} digests here"
        )
    policy.require(alg, algo_path)
    policy.check_trust(key, key_path)
    if not key.verify(alg, content, digest, prehashed=True):
        raise VerificationError(
            "spec.signature.content: signature does not verify with the given public key"
        )
    body = {
        "apiVersion": "0.0.1",
        "kind": KIND,
        "spec": {
            "data": {"hash": {"algorithm": hash_name, "value": value}},
            "signature": {
                "content": b64encode(content),
                "publicKey": {"content": b64encode(key.pem())},
            },
        },
    }
    return Entry(KIND, "0.0.1", canonical_json(body))
