"""dsse 0.0.2: Rekor v2 ``dsseRequestV002`` requests, built with sigstore-python's models,
admitted to the log entry rekor-tiles made of them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sigstore_models.rekor.v2.entry import CreateEntryRequest, Entry

from tlog.entries import admit_json
from tlog.entries.envelope import pae
from tlog.errors import MalformedError, TlogError, VerificationError

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
EC = ec.generate_private_key(ec.SECP256R1())
ED = ed25519.Ed25519PrivateKey.generate()
PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1"}'
TYPE = "application/vnd.in-toto+json"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def ec_sig() -> bytes:
    return EC.sign(pae(TYPE, PAYLOAD), ec.ECDSA(hashes.SHA256()))


def verifier(key: Any, details: str) -> dict[str, Any]:
    return {"publicKey": {"rawBytes": b64(key.public_key().public_bytes(*SPKI))},
            "keyDetails": details}  # fmt: skip


def request(sigs: list[bytes], verifiers: list[dict[str, Any]]) -> bytes:
    doc = {
        "dsseRequestV002": {
            "envelope": {
                "payload": b64(PAYLOAD),
                "payloadType": TYPE,
                "signatures": [{"sig": b64(s), "keyid": ""} for s in sigs],
            },
            "verifiers": verifiers,
        }
    }
    CreateEntryRequest.from_json(json.dumps(doc))  # sigstore-python's model takes it
    return json.dumps(doc).encode()


def test_a_request_becomes_rekor_tiles_log_entry() -> None:
    ed_sig = ED.sign(pae(TYPE, PAYLOAD))
    sigs = [ec_sig(), ed_sig]
    vers = [verifier(EC, "PKIX_ECDSA_P256_SHA_256"), verifier(ED, "PKIX_ED25519")]
    entry = admit_json(request(sigs, vers))
    assert (entry.kind, entry.api_version) == ("dsse", "0.0.2")
    body = json.loads(entry.body)
    assert entry.body == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    spec = body["spec"]["dsseV002"]
    assert spec["payloadHash"] == {
        "algorithm": "SHA2_256",
        "digest": b64(hashlib.sha256(PAYLOAD).digest()),
    }
    assert [s["content"] for s in spec["signatures"]] == [b64(s) for s in sorted(sigs)]
    by_sig = {s["content"]: s["verifier"] for s in spec["signatures"]}
    assert by_sig[b64(ed_sig)] == vers[1] and by_sig[b64(sigs[0])] == vers[0]
    parsed = Entry.from_json(entry.body)  # sigstore-python reads it as a Rekor v2 entry
    assert parsed.spec.dsse_v002 is not None and parsed.api_version == "0.0.2"


def test_the_same_envelope_gives_the_same_entry_in_any_order() -> None:
    a, b = ec_sig(), ec_sig()  # ECDSA: two valid signatures by one key
    one = verifier(EC, "PKIX_ECDSA_P256_SHA_256")
    assert admit_json(request([a, b], [one])).body == admit_json(request([b, a], [one])).body


@pytest.mark.parametrize(
    ("sigs", "vers", "error", "says"),
    [
        ([b"\x30\x00"], "ec", VerificationError, "must have a key that verifies"),
        ([], "ec", MalformedError, "signatures"),
        ([b""], "ec", MalformedError, "empty"),
        (["ok"], "none", MalformedError, "verifiers"),
        (["ok"], "twice", MalformedError, "duplicate verifier"),
        (["ok"] * 11, "ec", MalformedError, "signatures"),
    ],
)
def test_bad_requests_are_refused(sigs: list[Any], vers: str, error: type, says: str) -> None:
    one = verifier(EC, "PKIX_ECDSA_P256_SHA_256")
    verifiers = {"ec": [one], "none": [], "twice": [one, one]}[vers]
    raw = [ec_sig() if s == "ok" else s for s in sigs]
    doc = {"dsseRequestV002": {"envelope": {"payload": b64(PAYLOAD), "payloadType": TYPE,
           "signatures": [{"sig": b64(s)} for s in raw]}, "verifiers": verifiers}}  # fmt: skip
    with pytest.raises(error, match=says):
        admit_json(json.dumps(doc).encode())


def test_a_signature_over_another_payload_type_is_refused() -> None:
    sig = EC.sign(pae("text/plain", PAYLOAD), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(TlogError, match="verifies"):
        admit_json(request([sig], [verifier(EC, "PKIX_ECDSA_P256_SHA_256")]))
