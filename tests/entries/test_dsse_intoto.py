"""dsse 0.0.1 and intoto 0.0.2 admission (DSSE envelopes verified, hashes stored)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tlog.entries.envelope import pae
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import (
    MalformedError,
    OversizeError,
    UnsupportedEntryError,
    VerificationError,
)

from .helpers import admit, b64, body, data, edit, flip, refuse

ENVELOPE = data("dsse/envelope.json")  # signed by x509/p256 (keyid "p256-key") and x509/ed25519
ENV = json.loads(ENVELOPE)
P256, ED25519 = data("x509/p256.pub.pem"), data("x509/ed25519.pub.pem")
PAYLOAD = base64.b64decode(ENV["payload"])
SIGS = [s["sig"] for s in ENV["signatures"]]


def dsse(envelope: bytes = ENVELOPE, verifiers: list[bytes] | None = None) -> dict[str, Any]:
    keys = [P256, ED25519] if verifiers is None else verifiers
    return {
        "kind": "dsse",
        "apiVersion": "0.0.1",
        "spec": {
            "proposedContent": {
                "envelope": envelope.decode(),
                "verifiers": [b64(k) for k in keys],
            }
        },
    }


def test_pae() -> None:
    """DSSE v1 protocol: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    assert pae("t", b"body") == b"DSSEv1 1 t 4 body"
    assert pae("application/vnd.in-toto+json", b"") == b"DSSEv1 28 application/vnd.in-toto+json 0 "


def test_dsse_known_answer() -> None:
    """Rekor v1 pkg/types/dsse/v0.0.1: envelopeHash = SHA-256 of the envelope text,
    payloadHash = SHA-256 of the decoded payload, one {signature, verifier} per signature
    sorted by the signature text, the verifier being base64 of the key's PEM."""
    pairs = sorted(zip(SIGS, (P256, ED25519), strict=True))
    signatures = ",".join(f'{{"signature":"{s}","verifier":"{b64(k)}"}}' for s, k in pairs)
    expected = (
        '{"apiVersion":"0.0.1","kind":"dsse","spec":{'
        f'"envelopeHash":{{"algorithm":"sha256","value":"{hashlib.sha256(ENVELOPE).hexdigest()}"}},'
        f'"payloadHash":{{"algorithm":"sha256","value":"{hashlib.sha256(PAYLOAD).hexdigest()}"}},'
        f'"signatures":[{signatures}]}}}}'
    ).encode()
    entry = admit(dsse())
    assert (entry.kind, entry.api_version) == ("dsse", "0.0.1")
    assert entry.body == expected
    assert admit(dsse()).body == expected
    assert admit(dsse(verifiers=[ED25519, P256])).body == expected


def test_dsse_verifiers_once_all_signatures_are_verified_are_not_read() -> None:
    """As Rekor: once every signature is verified, later verifiers are ignored."""
    one = ENVELOPE.replace(b"\n", b"")
    env = json.loads(one)
    env["signatures"] = env["signatures"][:1]
    single = json.dumps(env).encode()
    stored = body(admit(dsse(single, [P256, b"garbage"])))
    assert len(stored["spec"]["signatures"]) == 1


def test_dsse_refusals() -> None:
    vpath = "spec.proposedContent.verifiers"
    refuse(
        dsse(verifiers=[P256]),
        VerificationError,
        "spec.proposedContent.envelope",
        "signatures[1] does not verify with any of the given verifiers",
    )
    refuse(
        dsse(verifiers=[data("x509/p384.pub.pem"), P256, ED25519]),
        VerificationError,
        f"{vpath}[0]",
        "verifies none of the envelope's signatures",
    )
    refuse(dsse(verifiers=[]), MalformedError, vpath, "at least 1")
    refuse(dsse(verifiers=[b"not a key"]), MalformedError, f"{vpath}[0]", "not a PEM")
    env = dict(
        ENV, signatures=[dict(ENV["signatures"][0], sig=b64(flip(base64.b64decode(SIGS[0]), 8)))]
    )
    refuse(dsse(json.dumps(env).encode(), [P256]), VerificationError, f"{vpath}[0]")
    env = dict(ENV, payload=b64(PAYLOAD + b" "))
    refuse(dsse(json.dumps(env).encode()), VerificationError, f"{vpath}[0]")
    refuse(
        dsse(b"{not json"),
        MalformedError,
        "spec.proposedContent.envelope",
        "not a JSON DSSE envelope",
    )
    env = dict(ENV, signatures=[])
    refuse(
        dsse(json.dumps(env).encode()), MalformedError, "spec.proposedContent.envelope.signatures"
    )
    env = dict(ENV, payload="%%%")
    refuse(dsse(json.dumps(env).encode()), MalformedError, "spec.proposedContent.envelope.payload")


def test_dsse_stored_form_is_refused() -> None:
    stored = body(admit(dsse()))
    refuse(stored, MalformedError, "spec.proposedContent", "cannot be verified again")
    both = edit(dsse(), "spec.payloadHash", stored["spec"]["payloadHash"])
    refuse(both, MalformedError, "spec.payloadHash", "computed by the log")


def test_dsse_policy() -> None:
    policy = AdmissionPolicy.from_options(["PKIX_ECDSA_P256_SHA_256"])
    refuse(
        dsse(),
        UnsupportedEntryError,
        "spec.proposedContent.verifiers[1]",
        "Ed25519 keys",
        policy=policy,
    )
    policy = AdmissionPolicy(ca_bundle=data("x509/ca.pem"))
    refuse(
        dsse(), VerificationError, "spec.proposedContent.verifiers[0]", "bare keys", policy=policy
    )


# --- intoto 0.0.2 ----------------------------------------------------------------------------


def intoto(envelope: bytes = ENVELOPE, keys: tuple[bytes, ...] = (P256, ED25519)) -> dict[str, Any]:
    """As rekor-cli builds it: payload and sig are base64 of the envelope's base64 text."""
    env = json.loads(envelope)
    sigs = []
    for sig, key in zip(env["signatures"], keys, strict=True):
        item = {"sig": b64(sig["sig"].encode()), "publicKey": b64(key)}
        if sig.get("keyid"):
            item["keyid"] = sig["keyid"]
        sigs.append(item)
    return {
        "kind": "intoto",
        "apiVersion": "0.0.2",
        "spec": {
            "content": {
                "envelope": {
                    "payload": b64(env["payload"].encode()),
                    "payloadType": env["payloadType"],
                    "signatures": sigs,
                },
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope).hexdigest()},
            }
        },
    }


def test_intoto_known_answer() -> None:
    """Rekor v1 pkg/types/intoto/v0.0.2: the envelope without its payload, with each
    signature's keyid (if any), publicKey and sig as proposed, the client's envelope hash
    and the payload's SHA-256. Members sorted by RFC 8785: content; envelope < hash <
    payloadHash; payloadType < signatures; keyid < publicKey < sig."""
    s0, s1 = ENV["signatures"]
    expected = (
        '{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{'
        f'"payloadType":"{ENV["payloadType"]}","signatures":['
        f'{{"keyid":"p256-key","publicKey":"{b64(P256)}","sig":"{b64(s0["sig"].encode())}"}},'
        f'{{"publicKey":"{b64(ED25519)}","sig":"{b64(s1["sig"].encode())}"}}]}},'
        f'"hash":{{"algorithm":"sha256","value":"{hashlib.sha256(ENVELOPE).hexdigest()}"}},'
        f'"payloadHash":{{"algorithm":"sha256","value":"{hashlib.sha256(PAYLOAD).hexdigest()}"}}}}}}}}'
    ).encode()
    assert s0["keyid"] == "p256-key" and "keyid" not in s1
    entry = admit(intoto())
    assert (entry.kind, entry.api_version) == ("intoto", "0.0.2")
    assert entry.body == expected
    assert admit(intoto()).body == expected


SIG0 = "spec.content.envelope.signatures[0]"


def test_intoto_refusals() -> None:
    refuse(intoto(keys=(ED25519, P256)), VerificationError, f"{SIG0}.sig", "does not verify")
    doc = edit(
        intoto(),
        "spec.content.envelope.signatures.0.sig",
        b64(b64(flip(base64.b64decode(SIGS[0]), 9)).encode()),
    )
    refuse(doc, VerificationError, f"{SIG0}.sig")
    refuse(
        edit(intoto(), "spec.content.envelope.payload", None),
        MalformedError,
        "spec.content.envelope.payload",
        "missing",
    )
    refuse(
        edit(intoto(), "spec.content.envelope.payload", b64(b"%%%")),
        MalformedError,
        "spec.content.envelope.payload (decoded)",
    )
    refuse(
        edit(intoto(), "spec.content.envelope.payloadType", "text/plain"),
        VerificationError,
        f"{SIG0}.sig",
    )
    refuse(
        edit(intoto(), "spec.content.hash", None), MalformedError, "spec.content.hash", "missing"
    )
    refuse(
        edit(intoto(), "spec.content.hash.value", "00"), MalformedError, "spec.content.hash.value"
    )
    refuse(
        edit(intoto(), "spec.content.hash.algorithm", "sha512"),
        MalformedError,
        "spec.content.hash.algorithm",
        "must be sha256",
    )
    refuse(
        edit(intoto(), "spec.content.envelope.signatures.0.publicKey", b64(b"junk")),
        MalformedError,
        f"{SIG0}.publicKey",
    )
    wrong = {"algorithm": "sha256", "value": "00" * 32}
    refuse(
        edit(intoto(), "spec.content.payloadHash", wrong),
        VerificationError,
        "spec.content.payloadHash.value",
    )
    refuse(
        edit(intoto(), "spec.content.envelope.signatures", []),
        MalformedError,
        "spec.content.envelope.signatures",
        "at least 1",
    )


def test_intoto_given_payload_hash_must_match() -> None:
    good = {"algorithm": "sha256", "value": hashlib.sha256(PAYLOAD).hexdigest()}
    assert admit(edit(intoto(), "spec.content.payloadHash", good)).body == admit(intoto()).body


def test_oversize_canonical_entry() -> None:
    """A huge payloadType is stored; past 65,535 bytes the entry cannot be a leaf."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload_type = "x" * 70000
    sig = key.sign(pae(payload_type, b"{}"), ec.ECDSA(hashes.SHA256()))
    env = {"payloadType": payload_type, "payload": b64(b"{}"), "signatures": [{"sig": b64(sig)}]}
    with pytest.raises(OversizeError, match=r"canonical entry is 7[0-9]{4} bytes, over 65535"):
        admit(intoto(json.dumps(env).encode(), (pem,)))
