"""Build proposed entries from files, as ``rekor-cli upload`` does.

:func:`build_proposal` turns (type, PKI format, artifact or digest, signature, keys) into
the JSON document :func:`tlog.entries.admit_json` takes. It only assembles and encodes;
admission then validates and verifies it. Documents per type:

* ``hashedrekord`` (0.0.1): ``spec.data.hash{algorithm, value: hex}``,
  ``spec.signature{content, publicKey{content: PEM}}``.
* ``hashedrekord:0.0.2``: a Rekor v2 request ``{"hashedRekordRequestV002": {digest,
  signature{content, verifier{publicKey{rawBytes: DER}} | {x509Certificate{rawBytes}},
  keyDetails}}}}``.
* ``rekord``: ``spec.data{content, hash}``, ``spec.signature{format, content,
  publicKey{content}}`` (key and signature files as given).
* ``dsse``: ``spec.proposedContent{envelope: <file text>, verifiers: [PEM, ...]}`` with the
  keys that verify some signature of the envelope, as rekor-cli keeps them.
* ``intoto`` (0.0.2): the envelope's payload, type and signatures, each signature with the
  key that verifies it, and ``hash`` = SHA-256 of the envelope file.

Where the digest's hash is not given, it is the one the key's default Sigstore algorithm
uses (SHA-384 for P-384, SHA-512 for P-521 and Ed25519, else SHA-256); rekor-cli always
uses SHA-256 for hashedrekord 0.0.1, which verifies only for RSA and P-256 keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tlog.codec import b64encode
from tlog.entries.algorithm import HASH_SIZE, PKI_FORMATS, KeyShape
from tlog.entries.envelope import Envelope, parse_envelope
from tlog.entries.pkix import PkixKey, key_from_cert, key_from_pem, key_from_spki
from tlog.entries.policy import DEFAULT_POLICY
from tlog.errors import ConfigError, TlogError

__all__ = ["PKI_FORMATS", "TYPES", "build_proposal", "default_hash", "parse_digest"]

TYPES = ("hashedrekord", "rekord", "dsse", "intoto")
_DEFAULT_HASH = {"P-384": "sha384", "P-521": "sha512"}
_SIZE_TO_HASH = {size: name for name, size in HASH_SIZE.items()}
_KEY_DETAILS_ECDSA = {
    ("P-256", "sha256"): "PKIX_ECDSA_P256_SHA_256",
    ("P-384", "sha384"): "PKIX_ECDSA_P384_SHA_384",
    ("P-521", "sha512"): "PKIX_ECDSA_P521_SHA_512",
    ("P-384", "sha256"): "PKIX_ECDSA_P384_SHA_256",
    ("P-521", "sha256"): "PKIX_ECDSA_P521_SHA_256",
}


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def default_hash(shape: KeyShape) -> str:
    """The digest hash of the key's default Sigstore signing algorithm."""
    if shape.key_type == "ed25519":
        return "sha512"
    return _DEFAULT_HASH.get(str(shape.param), "sha256")


def parse_digest(value: bytes | str) -> tuple[str, bytes]:
    """A digest given as raw bytes, hex, or ``sha256:<hex>`` (the algorithm by prefix or size)."""
    if isinstance(value, bytes):
        raw, name = value, None
    else:
        name, sep, hexpart = value.partition(":")
        if not sep:
            name, hexpart = None, value
        try:
            raw = bytes.fromhex(hexpart)
        except ValueError as exc:
            raise ConfigError(f"digest {value!r} is not hexadecimal") from exc
    by_size = _SIZE_TO_HASH.get(len(raw))
    if by_size is None or (name is not None and name != by_size):
        raise ConfigError(f"digest of {len(raw)} bytes is not a {name or 'SHA-256/384/512'} digest")
    return by_size, raw


def _pkix_key(data: bytes) -> PkixKey:
    """A key from PEM, or from DER (SubjectPublicKeyInfo or certificate)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return key_from_pem(data, "public key")
    try:
        return key_from_spki(data, "public key")
    except TlogError:
        return key_from_cert(data, "public key")


def _digest_for(
    shape: KeyShape, artifact: bytes | None, digest: bytes | str | None
) -> tuple[str, bytes]:
    if digest is not None:
        return parse_digest(digest)
    if artifact is None:
        raise ConfigError("an artifact or its digest is needed")
    name = default_hash(shape)
    return name, hashlib.new(name, artifact).digest()


def _key_details(shape: KeyShape, hash_name: str) -> str:
    if shape.key_type == "rsa":
        if hash_name != "sha256":
            raise ConfigError(f"RSA signatures in hashedrekord are over SHA-256, not {hash_name}")
        return f"PKIX_RSA_PKCS1V15_{shape.param}_SHA256"
    if shape.key_type == "ed25519":
        if hash_name != "sha512":
            raise ConfigError("Ed25519ph signatures in hashedrekord are over SHA-512 digests")
        return "PKIX_ED25519_PH"
    details = _KEY_DETAILS_ECDSA.get((str(shape.param), hash_name))
    if details is None:
        raise ConfigError(f"no signing algorithm for {shape} keys with {hash_name}")
    return details


def _one(keys: Sequence[bytes]) -> bytes:
    if len(keys) != 1:
        raise ConfigError(f"exactly one public key is needed, got {len(keys)}")
    return keys[0]


def _need(value: bytes | None, what: str) -> bytes:
    if value is None:
        raise ConfigError(f"{what} is needed")
    return value


def _hashedrekord_v001(
    key_bytes: bytes, signature: bytes, artifact: bytes | None, digest: bytes | str | None
) -> bytes:
    key = _pkix_key(key_bytes)
    hash_name, raw = _digest_for(key.shape, artifact, digest)
    pem = key_bytes if key_bytes.lstrip().startswith(b"-----BEGIN") else key.pem()
    return _dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": hash_name, "value": raw.hex()}},
                "signature": {
                    "content": b64encode(signature),
                    "publicKey": {"content": b64encode(pem)},
                },
            },
        }
    )


def _hashedrekord_v002(
    key_bytes: bytes, signature: bytes, artifact: bytes | None, digest: bytes | str | None
) -> bytes:
    key = _pkix_key(key_bytes)
    hash_name, raw = _digest_for(key.shape, artifact, digest)
    if key.certs:
        verifier: dict[str, Any] = {"x509Certificate": {"rawBytes": b64encode(key.certs[0])}}
    else:
        verifier = {"publicKey": {"rawBytes": b64encode(key.spki)}}
    verifier["keyDetails"] = _key_details(key.shape, hash_name)
    request = {
        "digest": b64encode(raw),
        "signature": {"content": b64encode(signature), "verifier": verifier},
    }
    return _dumps({"hashedRekordRequestV002": request})


def _rekord(
    pki_format: str,
    key_bytes: bytes,
    signature: bytes,
    artifact: bytes | None,
    digest: bytes | str | None,
) -> bytes:
    data: dict[str, Any] = {}
    if artifact is not None:
        data["content"] = b64encode(artifact)
        data["hash"] = {"algorithm": "sha256", "value": hashlib.sha256(artifact).hexdigest()}
    elif digest is not None:
        name, raw = parse_digest(digest)
        if name != "sha256":
            raise ConfigError("rekord entries carry a SHA-256 digest")
        data["hash"] = {"algorithm": "sha256", "value": raw.hex()}
    else:
        raise ConfigError("an artifact or its digest is needed")
    return _dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "rekord",
            "spec": {
                "data": data,
                "signature": {
                    "format": pki_format,
                    "content": b64encode(signature),
                    "publicKey": {"content": b64encode(key_bytes)},
                },
            },
        }
    )


def _envelope_keys(
    envelope_file: bytes, keys: Sequence[bytes]
) -> tuple[Envelope, list[PkixKey | None]]:
    """The envelope and, per signature, the first given key that verifies it."""
    env = parse_envelope(envelope_file, "envelope")
    parsed = [_pkix_key(k) for k in keys]
    message = env.pae()
    signers: list[PkixKey | None] = []
    for i, sig in enumerate(env.signatures):
        signer = None
        for key in parsed:
            algs = [a for a in DEFAULT_POLICY.allowed_for(key.shape) if not a.prehash_ed25519]
            if any(key.verify(a, sig.sig, message, prehashed=False) for a in algs):
                signer = key
                break
        if signer is None:
            raise ConfigError(f"envelope signature {i} is not verified by any of the given keys")
        signers.append(signer)
    return env, signers


def _dsse(envelope_file: bytes, keys: Sequence[bytes]) -> bytes:
    _, signers = _envelope_keys(envelope_file, keys)
    verifiers: list[str] = []
    for key in signers:
        assert key is not None
        item = b64encode(key.pem())
        if item not in verifiers:
            verifiers.append(item)
    text = envelope_file.decode("utf-8")  # parse_envelope checked it is UTF-8
    return _dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {"envelope": text, "verifiers": verifiers}},
        }
    )


def _intoto(envelope_file: bytes, keys: Sequence[bytes]) -> bytes:
    env, signers = _envelope_keys(envelope_file, keys)
    signatures = []
    for sig, key in zip(env.signatures, signers, strict=True):
        assert key is not None
        item = {"sig": b64encode(sig.sig_text.encode()), "publicKey": b64encode(key.pem())}
        if sig.keyid:
            item["keyid"] = sig.keyid
        signatures.append(item)
    return _dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {
                "content": {
                    "envelope": {
                        "payload": b64encode(env.payload_text.encode()),
                        "payloadType": env.payload_type,
                        "signatures": signatures,
                    },
                    "hash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(envelope_file).hexdigest(),
                    },
                }
            },
        }
    )


def build_proposal(
    entry_type: str = "rekord",
    *,
    pki_format: str = "x509",
    artifact: bytes | None = None,
    digest: bytes | str | None = None,
    signature: bytes | None = None,
    public_keys: Sequence[bytes] = (),
) -> bytes:
    """The proposed-entry JSON for ``entry_type`` (``type`` or ``type:version``).

    ``artifact`` is the signed file (for dsse and intoto: the envelope file); ``digest``
    may replace it for hashedrekord and rekord (raw bytes, hex, or ``sha256:<hex>``).
    ``public_keys`` holds key or certificate files (PEM; DER is also accepted for x509);
    dsse and intoto take several. Raises ConfigError for a combination that cannot make
    an entry, MalformedError for unreadable files.
    """
    kind, _, version = entry_type.partition(":")
    if kind not in TYPES:
        raise ConfigError(f"entry type {kind!r} is not one of {', '.join(TYPES)}")
    if pki_format not in PKI_FORMATS:
        raise ConfigError(f"PKI format {pki_format!r} is not one of {', '.join(PKI_FORMATS)}")
    if kind == "hashedrekord":
        if pki_format != "x509":
            raise ConfigError("hashedrekord entries need x509 keys or certificates")
        key, sig = _one(public_keys), _need(signature, "a signature")
        if version in ("", "0.0.1"):
            return _hashedrekord_v001(key, sig, artifact, digest)
        if version == "0.0.2":
            return _hashedrekord_v002(key, sig, artifact, digest)
    elif kind == "rekord" and version in ("", "0.0.1"):
        return _rekord(
            pki_format, _one(public_keys), _need(signature, "a signature"), artifact, digest
        )
    elif kind in ("dsse", "intoto"):
        if pki_format != "x509":
            raise ConfigError(f"{kind} entries need x509 keys or certificates")
        envelope = _need(artifact, "the DSSE envelope file (as the artifact)")
        if not public_keys:
            raise ConfigError("at least one public key is needed")
        if kind == "dsse" and version in ("", "0.0.1"):
            return _dsse(envelope, public_keys)
        if kind == "intoto" and version in ("", "0.0.2"):
            return _intoto(envelope, public_keys)
    raise ConfigError(f"version {version!r} of {kind} is not supported")
