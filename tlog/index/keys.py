"""What an entry is indexed by: (kind, value) pairs taken from its canonical body.

docs/index.md "Keys". Pure: the sequencer, the reader (to re-check hits) and the auditor
(to rebuild the index) run this same function, so it must be deterministic and never
raise on a body the log holds: a part it cannot read yields no key, never an error.

Kinds: ``uuid`` (hex leaf hash), ``sha256``/``sha384``/``sha512`` (hex artifact
digests), ``key`` (public-key fingerprints as rekor-monitor defines them), ``email``,
``uri``, ``dns`` (certificate SANs, PGP user-ID emails) and ``email+issuer`` /
``uri+issuer`` (a SAN with the Fulcio OIDC issuer, joined by a newline).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tlog.codec import load_json
from tlog.errors import MalformedError, TlogError

if TYPE_CHECKING:  # imported where keys and certificates are read: a raw batch never
    # loads them (nor does the sequencer, which gets key hashes from admission)
    from cryptography import x509

__all__ = [
    "BODY_V2",
    "KEY_HASH_SIZE",
    "KINDS",
    "certificate_keys",
    "index_keys",
    "joined_key_hashes",
    "key_hash",
    "key_hashes",
    "normalize",
]

#: Bytes of SHA-256("kind:value") kept in a row (docs/index.md "Keys").
KEY_HASH_SIZE = 16
KINDS = ("uuid", "sha256", "sha384", "sha512", "key", "email", "uri", "dns")
#: The Fulcio OIDC issuer extensions (dotted OIDs).
ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_HEX = re.compile(r"[0-9a-f]+")
_EMAIL = re.compile(rb"<([^<>\s]+@[^<>\s]+)>")
_B64 = rb"([A-Za-z0-9+/]+={0,2})"
#: The canonical body of a hashedrekord 0.0.2 entry (Rekor v2's, RFC 8785): hash
#: algorithm, digest, signature, keyDetails, the verifier's holder and its DER, in base64.
#: Matched byte for byte, it parses to exactly these fields (nothing in them is escaped).
BODY_V2 = re.compile(
    rb'\{"apiVersion":"0\.0\.2","kind":"hashedrekord","spec":\{"hashedRekordV002":\{'
    rb'"data":\{"algorithm":"(SHA2_256|SHA2_384|SHA2_512)","digest":"' + _B64 + rb'"\},'
    rb'"signature":\{"content":"' + _B64 + rb'","verifier":\{"keyDetails":"([A-Z0-9_]+)",'
    rb'"(publicKey|x509Certificate)":\{"rawBytes":"' + _B64 + rb'"\}\}\}\}\}\}'
)
_HASH_NAMES = {b"SHA2_256": "sha256", b"SHA2_384": "sha384", b"SHA2_512": "sha512"}


def normalize(kind: str, value: str) -> str:
    """The canonical text of a key value: hex lowercased, emails and DNS names
    lowercased (the issuer part of a pair is kept as it is)."""
    if kind in ("uuid", "sha256", "sha384", "sha512", "email", "dns"):
        return value.lower()
    if kind == "email+issuer":
        email, _, issuer = value.partition("\n")
        return email.lower() + "\n" + issuer
    if kind == "key" and not value.startswith("SHA256:"):
        return value.lower()
    return value


def key_hash(kind: str, value: str) -> bytes:
    """The 16-byte key hash of a (kind, value) pair, value normalized: the first 16
    bytes of SHA-256(``kind:value``), except for a UUID, whose key hash is its own first
    16 bytes (a leaf hash is SHA-256(0x00 ‖ entry): already uniform, and no
    ``kind:value`` text starts with a zero byte, so the kinds stay apart).
    MalformedError for a UUID that is not 64 hex digits."""
    norm = normalize(kind, value)
    if kind == "uuid":
        if len(norm) != 64 or _HEX.fullmatch(norm) is None:
            raise MalformedError(f"a UUID is 64 hex digits, not {value[:80]!r}")
        return bytes.fromhex(norm)[:KEY_HASH_SIZE]
    return hashlib.sha256(f"{kind}:{norm}".encode()).digest()[:KEY_HASH_SIZE]


def index_keys(entry: bytes, uuid: str | None = None) -> list[tuple[str, str]]:
    """The distinct (kind, value) keys of one entry (normalized, sorted).

    A body that is not a Rekor entry is a raw entry: its UUID and SHA-256.
    """
    if uuid is None:
        uuid = hashlib.sha256(b"\x00" + entry).hexdigest()
    fast = _bare_key_v002(entry)
    if fast is not None:
        name, digest, der = fast
        found = [(name, digest.hex()), ("key", hashlib.sha256(der).hexdigest())]
        return sorted([*found, ("uuid", uuid.lower())])
    return _parsed_keys(entry, uuid)


def key_hashes(entry: bytes, leaf_hash: bytes) -> list[bytes]:
    """The key hash of each of ``index_keys(entry, leaf_hash.hex())`` (an entry's index
    rows but their index: what the sequencer indexes a batch by), in no set order."""
    fast = _bare_key_v002(entry)
    if fast is None:
        return [key_hash(kind, value) for kind, value in index_keys(entry, leaf_hash.hex())]
    joined = _bare_key_hashes(leaf_hash, *fast)
    return [joined[i : i + KEY_HASH_SIZE] for i in range(0, len(joined), KEY_HASH_SIZE)]


def joined_key_hashes(
    entry: bytes, leaf_hash: bytes, bare_key: tuple[str, bytes, bytes] | None = None
) -> bytes:
    """:func:`key_hashes`, joined in that order (admission computes them with the body).

    ``bare_key``: the hash name, digest and key DER of a hashedrekord 0.0.2 body with a
    bare public key (:attr:`tlog.entries.Entry.bare_key`), given by whoever made the
    body from them: the same key hashes, without reading the body back
    (tests/index/test_rows.py compares the two over every entry type)."""
    if bare_key is None:
        bare_key = _bare_key_v002(entry)
        if bare_key is None:
            return b"".join(key_hashes(entry, leaf_hash))
    return _bare_key_hashes(leaf_hash, *bare_key)


def _bare_key_hashes(leaf_hash: bytes, name: str, digest: bytes, der: bytes) -> bytes:
    """The key hashes of a bare-key 0.0.2 body, joined: its UUID, digest and key."""
    digest_row = hashlib.sha256(_DIGEST_PREFIX[name] + binascii.hexlify(digest)).digest()
    key_row = _spki_key_hash(der) if len(der) <= 1024 else _spki_key_hash.__wrapped__(der)
    return leaf_hash[:KEY_HASH_SIZE] + digest_row[:KEY_HASH_SIZE] + key_row


#: ``kind:`` of each digest kind (the start of its key hash's text).
_DIGEST_PREFIX = {name: f"{name}:".encode() for name in ("sha256", "sha384", "sha512")}


@functools.lru_cache(maxsize=1024)
def _spki_key_hash(der: bytes) -> bytes:
    """The key hash of the ``key`` of a DER SubjectPublicKeyInfo (remembered: a batch
    signed by one key computes it once)."""
    fingerprint = binascii.hexlify(hashlib.sha256(der).digest())
    return hashlib.sha256(b"key:" + fingerprint).digest()[:KEY_HASH_SIZE]


def _parsed_keys(entry: bytes, uuid: str) -> list[tuple[str, str]]:
    """:func:`index_keys` of any entry, from its parse."""
    out = {("uuid", uuid)}
    doc: Any = None
    if entry[:1] == b"{":
        try:
            doc = load_json(entry, "entry body")
        except TlogError:
            doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        out.add(("sha256", hashlib.sha256(entry).hexdigest()))
    else:
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError, TlogError):
            out.update(_rekor_keys(doc))
    return sorted((k, normalize(k, v)) for k, v in out)


def _bare_key_v002(entry: bytes) -> tuple[str, bytes, bytes] | None:
    """The hash name, digest and key DER of a canonical 0.0.2 body whose verifier is a
    bare public key (:data:`BODY_V2`), decoded as :func:`_rekor_keys` decodes them from
    its parse (the hot path of a big batch, tests/index/test_keys.py); None for any
    other body, or if a value does not decode (the general path then decides)."""
    m = BODY_V2.fullmatch(entry) if entry[:1] == b"{" else None
    if m is None or m[5] != b"publicKey":
        return None
    try:
        digest, der = binascii.a2b_base64(m[2]), binascii.a2b_base64(m[6])
    except binascii.Error:
        return None
    return _HASH_NAMES[m[1]], digest, der


def _rekor_keys(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    kind, spec = doc.get("kind"), doc["spec"]
    if kind == "hashedrekord" and "hashedRekordV002" in spec:
        inner = spec["hashedRekordV002"]
        data = inner.get("data", {})
        alg = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}.get(
            data.get("algorithm", "")
        )
        if alg and isinstance(data.get("digest"), str):
            yield alg, base64.b64decode(data["digest"]).hex()
        verifier = inner.get("signature", {}).get("verifier", {})
        if "x509Certificate" in verifier:
            yield from _x509_der(base64.b64decode(verifier["x509Certificate"]["rawBytes"]))
        elif "publicKey" in verifier:
            der = base64.b64decode(verifier["publicKey"]["rawBytes"])
            yield "key", hashlib.sha256(der).hexdigest()
        return
    if kind in ("hashedrekord", "rekord"):
        yield from _digest(spec.get("data", {}).get("hash"))
        sig = spec.get("signature", {})
        content = base64.b64decode(sig.get("publicKey", {}).get("content", ""))
        yield from _public_key(sig.get("format", "x509"), content)
    elif kind == "dsse":
        yield from _digest(spec.get("envelopeHash"))
        yield from _digest(spec.get("payloadHash"))
        for s in spec.get("signatures", []):
            yield from _public_key("x509", base64.b64decode(s.get("verifier", "")))
    elif kind == "intoto":
        content = spec.get("content", {})
        yield from _digest(content.get("hash"))
        yield from _digest(content.get("payloadHash"))
        for s in content.get("envelope", {}).get("signatures", []):
            yield from _public_key("x509", base64.b64decode(s.get("publicKey", "")))


def _digest(item: Any) -> Iterator[tuple[str, str]]:
    if isinstance(item, dict):
        alg, value = item.get("algorithm"), item.get("value")
        good = isinstance(value, str) and _HEX.fullmatch(value.lower()) is not None
        if isinstance(alg, str) and alg in ("sha256", "sha384", "sha512") and good:
            yield alg, str(value).lower()


def _public_key(fmt: str, content: bytes) -> Iterator[tuple[str, str]]:
    """Fingerprints (and identities) of a Rekor v1 public key of format ``fmt``."""
    try:
        if fmt == "x509":
            yield from _x509_pem(content)
        elif fmt == "ssh":
            from tlog.entries.ssh import parse_key as ssh_key

            blob = ssh_key(content, "key").blob
            fp = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            yield "key", f"SHA256:{fp}"
        elif fmt == "minisign":
            from tlog.entries.minisign import parse_key as minisign_key

            yield "key", minisign_key(content, "key").key_id[::-1].hex()
        elif fmt == "pgp":
            from tlog.entries.pgp import parse_keyring

            for k in parse_keyring(content, "key").signers:
                yield "key", k.fingerprint.hex()
            yield from _pgp_emails(content)
    except (TlogError, ValueError, TypeError):
        return


def _pgp_emails(content: bytes) -> Iterator[tuple[str, str]]:
    """Emails of the keyring's user-ID packets (tag 13)."""
    from tlog.entries.pgp import parse_keyring

    for packet in parse_keyring(content, "key").packets:
        if packet.tag == 13:
            for email in _EMAIL.findall(packet.body):
                yield "email", email.decode("utf-8", "replace")


def _x509_pem(content: bytes) -> Iterator[tuple[str, str]]:
    from cryptography.hazmat.primitives import serialization

    if b"-----BEGIN PUBLIC KEY-----" in content:
        key = serialization.load_pem_public_key(content)
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        yield "key", hashlib.sha256(der).hexdigest()
    elif b"-----BEGIN CERTIFICATE-----" in content:
        from cryptography import x509

        cert = x509.load_pem_x509_certificates(content)[0]
        yield from _x509_der(cert.public_bytes(serialization.Encoding.DER))


def _x509_der(der: bytes) -> Iterator[tuple[str, str]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    yield from certificate_keys(cert, der, spki)


def certificate_keys(cert: x509.Certificate, der: bytes, spki: bytes) -> Iterator[tuple[str, str]]:
    """A certificate's fingerprints and identities (rekor-monitor's choices), from the
    certificate parsed from ``der`` and its public key's DER SubjectPublicKeyInfo."""
    from cryptography import x509

    yield "key", hashlib.sha256(spki).hexdigest()
    yield "key", hashlib.sha256(der).hexdigest()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    issuer = _issuer(cert)
    for email in san.get_values_for_type(x509.RFC822Name):
        yield "email", email
        if issuer:
            yield "email+issuer", f"{email}\n{issuer}"
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        yield "uri", uri
        if issuer:
            yield "uri+issuer", f"{uri}\n{issuer}"
    for dns in san.get_values_for_type(x509.DNSName):
        yield "dns", dns


def _issuer(cert: x509.Certificate) -> str | None:
    """The Fulcio OIDC issuer: the DER UTF8String of .1.8, else the raw bytes of .1.1."""
    from cryptography import x509

    for oid, der_string in ((ISSUER_V2, True), (ISSUER_V1, False)):
        try:
            ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
        if der_string and len(raw) >= 2 and raw[0] == 0x0C:
            raw = raw[2:] if raw[1] < 0x80 else raw[2 + (raw[1] & 0x7F) :]
        return raw.decode("utf-8", "replace")
    return None


def public_key_fingerprint(fmt: str, content: bytes) -> str:
    """The ``key`` value a search for a public-key file looks up (for x509, the SPKI
    fingerprint: it matches entries holding that key bare or in any certificate).
    MalformedError if ``content`` is not a key of format ``fmt``."""
    found = [v for k, v in _public_key(fmt, content) if k == "key"]
    if not found:
        raise MalformedError(f"not a readable {fmt} public key")
    return normalize("key", found[0])
