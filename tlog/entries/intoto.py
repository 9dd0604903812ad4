"""intoto 0.0.2 entries (Rekor v1 ``pkg/types/intoto/v0.0.2``): a DSSE envelope whose
signatures each carry their key.

The proposed entry, as ``rekor-cli upload --type intoto:0.0.2`` builds it from an
envelope file, is::

    spec.content: {envelope: {payload: base64(<the envelope's base64 payload text>),
                              payloadType,
                              signatures: [{keyid?, sig: base64(<the envelope's sig text>),
                                            publicKey: base64(<PEM key or certificate>)}]},
                   hash: {algorithm: sha256, value: hex SHA-256 of the envelope file}}

(``payload`` and ``sig`` are base64 of what already is base64 text: Rekor's schema types
them as bytes and the client puts the envelope's strings there.) Rekor verifies the
envelope, then stores the same object without ``payload`` and with ``payloadHash`` (the
SHA-256 of the decoded payload) added; ``hash`` is the client's, which the log cannot
recompute since it never sees the envelope file.

Here each signature must verify with its own ``publicKey``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tlog.codec import b64encode
from tlog.entries.canonical import canonical_json
from tlog.entries.entry import Entry
from tlog.entries.envelope import pae, parse_signatures
from tlog.entries.fields import (
    b64,
    b64_lenient,
    child,
    lower_hex,
    member,
    member_obj,
    member_str,
)
from tlog.entries.pkix import key_from_pem
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, VerificationError

KIND = "intoto"
VERSION = "0.0.2"


def _ascii(data: bytes, path: str) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError(f"{path}: must hold base64 text") from None


def _sha256_field(parent: dict[str, Any], key: str, path: str) -> dict[str, str]:
    item = member_obj(parent, key, path)
    ipath = child(path, key)
    algorithm = member_str(item, "algorithm", ipath)
    if algorithm != "sha256":
        raise MalformedError(f"{child(ipath, 'algorithm')}: must be sha256, not {algorithm!r}")
    value = member_str(item, "value", ipath)
    lower_hex(value, child(ipath, "value"), 32)
    return {"algorithm": "sha256", "value": value}


def _signature(
    item: dict[str, Any], spath: str, message: bytes, policy: AdmissionPolicy
) -> dict[str, str]:
    """Verify one envelope signature with its own key; its canonical stored form."""
    keyid = item.get("keyid", "")
    if not isinstance(keyid, str):
        raise MalformedError(f"{child(spath, 'keyid')}: expected a string")
    sig_path = child(spath, "sig")
    sig_text = _ascii(b64(member(item, "sig", spath), sig_path), sig_path)
    sig = b64_lenient(sig_text, f"{sig_path} (decoded)")
    key_path = child(spath, "publicKey")
    key_pem = b64(member(item, "publicKey", spath), key_path)
    key = key_from_pem(key_pem, key_path)
    policy.require_shape(key.shape, key_path)
    policy.check_trust(key, key_path)
    policy.verify_message(key, sig, message, sig_path)
    canonical = {"publicKey": b64encode(key_pem), "sig": b64encode(sig_text.encode())}
    if keyid:
        canonical["keyid"] = keyid
    return canonical


def admit_v002(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v1 intoto 0.0.2 proposed entry."""
    spec = member_obj(doc, "spec", "")
    content = member_obj(spec, "content", "spec")
    env_path = "spec.content.envelope"
    env = member_obj(content, "envelope", "spec.content")
    payload_path = child(env_path, "payload")
    if env.get("payload") in (None, ""):
        raise MalformedError(f"{payload_path}: missing; the log verifies the envelope first")
    payload_text = _ascii(b64(env["payload"], payload_path), payload_path)
    # Rekor hashes the payload decoded as standard base64.
    payload = b64(payload_text, f"{payload_path} (decoded)")
    payload_type = member_str(env, "payloadType", env_path)
    message = pae(payload_type, payload)
    sigs_path = child(env_path, "signatures")
    signatures = [
        _signature(item, child(sigs_path, i), message, policy)
        for i, item in enumerate(parse_signatures(env.get("signatures"), sigs_path))
    ]
    payload_hash = {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}
    if content.get("payloadHash") is not None:
        given = _sha256_field(content, "payloadHash", "spec.content")
        if given != payload_hash:
            raise VerificationError(
                "spec.content.payloadHash.value: does not match the SHA-256 "
                "of the envelope's payload"
            )
    body = {
        "apiVersion": VERSION,
        "kind": KIND,
        "spec": {
            "content": {
                "envelope": {"payloadType": payload_type, "signatures": signatures},
                "hash": _sha256_field(content, "hash", "spec.content"),
                "payloadHash": payload_hash,
            }
        },
    }
    return Entry(KIND, VERSION, canonical_json(body))
