"""rekord 0.0.1 entries (Rekor v1 ``pkg/types/rekord``): a detached signature over an
artifact, in one of four PKI formats (x509, ssh, minisign, pgp).

The proposed entry carries ``spec.signature{format, content: base64 signature,
publicKey{content: base64 key}}`` and ``spec.data`` with the artifact as ``content``
(base64) and/or its ``hash{algorithm: sha256, value: hex}``. Rekor verifies the signature
over the content and stores::

    spec: {data: {hash: {algorithm: sha256, value: <hex SHA-256 of the content>}},
           signature: {format, content: base64(<canonical signature>),
                       publicKey: {content: base64(<canonical key>)}}}

never the content. Canonical signature and key per format: x509 – the raw signature and
the key's PEM (:mod:`tlog.entries.pkix`); ssh, minisign, pgp – see those modules.

Rekor needs the content to verify. This log also admits an entry with only
``data.hash`` when the signature can be checked against a SHA-256 digest alone: x509
RSA/ECDSA signatures with SHA-256, and SSHSIG signatures made with ``sha256``. Others
(Ed25519, minisign, pgp, SHA-384/512 signatures) need ``data.content``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import tlog.entries.minisign as minisign
import tlog.entries.pgp as pgp
import tlog.entries.ssh as ssh
from tlog.codec import b64encode
from tlog.entries.algorithm import PKI_FORMATS
from tlog.entries.canonical import canonical_json
from tlog.entries.entry import Entry
from tlog.entries.fields import b64, lower_hex, member, member_obj, member_str, string
from tlog.entries.pkix import key_from_pem
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, UnsupportedEntryError, VerificationError

KIND = "rekord"
VERSION = "0.0.1"

SIG_PATH = "spec.signature.content"
KEY_PATH = "spec.signature.publicKey.content"
CONTENT_PATH = "spec.data.content"


def _need_content(content: bytes | None, why: str) -> bytes:
    if content is None:
        raise MalformedError(f"{CONTENT_PATH}: missing; needed to verify {why}")
    return content


def _x509(
    sig: bytes, key_bytes: bytes, content: bytes | None, digest: bytes, policy: AdmissionPolicy
) -> tuple[bytes, bytes]:
    key = key_from_pem(key_bytes, KEY_PATH)
    policy.require_shape(key.shape, KEY_PATH)
    policy.check_trust(key, KEY_PATH)
    if content is not None:
        if policy.verifying_algorithm(key, sig, content, SIG_PATH) is None:
            raise VerificationError(
                f"{SIG_PATH}: signature does not verify with the given public key"
            )
    else:
        algs = [
            a for a in policy.allowed_for(key.shape) if a.hash == "sha256" and not a.prehash_ed25519
        ]
        if not algs:
            _need_content(
                None, f"a signature by an {key.shape} key (it is not over a SHA-256 digest)"
            )
        if not any(key.verify(a, sig, digest, prehashed=True) for a in algs):
            raise VerificationError(
                f"{SIG_PATH}: signature does not verify with the given public key"
            )
    return sig, key.pem()


def _ssh(
    sig: bytes, key_bytes: bytes, content: bytes | None, digest: bytes, policy: AdmissionPolicy
) -> tuple[bytes, bytes]:
    key = ssh.parse_key(key_bytes, KEY_PATH)
    policy.require_shape(key.shape, KEY_PATH)
    parsed = ssh.parse_signature(sig, SIG_PATH)
    if content is not None:
        message_digest = ssh.message_digest(parsed, content)
    elif parsed.hash_algorithm == b"sha256":
        message_digest = digest
    else:
        message_digest = _need_content(None, "an SSHSIG signature over a sha512 digest")
    ssh.verify(parsed, key, message_digest, SIG_PATH)
    return parsed.armored(), key.authorized_key()


def _minisign(
    sig: bytes, key_bytes: bytes, content: bytes | None, digest: bytes, policy: AdmissionPolicy
) -> tuple[bytes, bytes]:
    key = minisign.parse_key(key_bytes, KEY_PATH)
    policy.require_shape(minisign.SHAPE, KEY_PATH)
    parsed = minisign.parse_signature(sig, SIG_PATH)
    minisign.verify(parsed, key, _need_content(content, "a minisign signature"), SIG_PATH)
    return parsed.canonical(), key.canonical()


def _pgp(
    sig: bytes, key_bytes: bytes, content: bytes | None, digest: bytes, policy: AdmissionPolicy
) -> tuple[bytes, bytes]:
    keyring = pgp.parse_keyring(key_bytes, KEY_PATH)
    detached = pgp.parse_detached(sig, SIG_PATH)
    for key in keyring.signers:  # before verifying: no work for keys the log refuses
        if detached.signature.issued_by(key):
            policy.require_shape(key.shape, KEY_PATH)
    pgp.verify(detached, keyring, _need_content(content, "a pgp signature"), SIG_PATH)
    return detached.canonical, keyring.armored()


_FORMATS = {"x509": _x509, "ssh": _ssh, "minisign": _minisign, "pgp": _pgp}
assert set(_FORMATS) == set(PKI_FORMATS)


def _data(spec: dict[str, Any]) -> tuple[bytes | None, str]:
    """``spec.data``: the content (if given) and the hex SHA-256 it must have."""
    data = member_obj(spec, "data", "spec")
    content = None
    if data.get("content") not in (None, ""):
        content = b64(data["content"], CONTENT_PATH)
    hash_value = None
    if data.get("hash") is not None:
        hsh = member_obj(data, "hash", "spec.data")
        algorithm = member_str(hsh, "algorithm", "spec.data.hash")
        if algorithm != "sha256":
            raise MalformedError(f"spec.data.hash.algorithm: must be sha256, not {algorithm!r}")
        hash_value = string(member(hsh, "value", "spec.data.hash"), "spec.data.hash.value")
        lower_hex(hash_value, "spec.data.hash.value", 32)
    if content is None:
        if hash_value is None:
            raise MalformedError("spec.data: needs content or hash")
        return None, hash_value
    computed = hashlib.sha256(content).hexdigest()
    if hash_value is not None and hash_value != computed:
        raise VerificationError(
            f"spec.data.hash.value: {hash_value} is not the SHA-256 "
            f"of spec.data.content ({computed})"
        )
    return content, computed


def admit_v001(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v1 rekord 0.0.1 proposed entry."""
    spec = member_obj(doc, "spec", "")
    sig_obj = member_obj(spec, "signature", "spec")
    fmt = member_str(sig_obj, "format", "spec.signature")
    handler = _FORMATS.get(fmt)
    if handler is None:
        raise UnsupportedEntryError(
            f"spec.signature.format: {fmt!r} is not one of {', '.join(sorted(_FORMATS))}"
        )
    policy.require_format(fmt, "spec.signature.format")
    sig = b64(member(sig_obj, "content", "spec.signature"), SIG_PATH)
    key_obj = member_obj(sig_obj, "publicKey", "spec.signature")
    key_bytes = b64(member(key_obj, "content", "spec.signature.publicKey"), KEY_PATH)
    content, hash_value = _data(spec)
    canon_sig, canon_key = handler(sig, key_bytes, content, bytes.fromhex(hash_value), policy)
    body = {
        "apiVersion": VERSION,
        "kind": KIND,
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hash_value}},
            "signature": {
                "content": b64encode(canon_sig),
                "format": fmt,
                "publicKey": {"content": b64encode(canon_key)},
            },
        },
    }
    return Entry(KIND, VERSION, canonical_json(body))
