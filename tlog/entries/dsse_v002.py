"""dsse 0.0.2 entries (Rekor v2 ``DSSERequestV002``, as rekor-tiles admitted it).

Input: ``{"dsseRequestV002": {"envelope": {"payload", "payloadType", "signatures":
[{"sig", "keyid"}]}, "verifiers": [Verifier, ...]}}`` in protobuf JSON (``envelope`` is
``io.intoto.Envelope``: payload and signatures as base64 bytes; ``Verifier`` as in
hashedrekord 0.0.2). rekor-tiles checks 1 to 10 verifiers (no two with the same key or
certificate bytes) and 1 to 10 non-empty signatures, checks every verifier's algorithm
against its registry, and requires each signature to verify over the DSSE PAE with one
of the verifiers. It logs::

    Entry{kind: "dsse", api_version: "0.0.2",
          spec: Spec{dsse_v002: DSSELogEntryV002{
              payload_hash: HashOutput{algorithm: SHA2_256, digest: SHA-256(payload)},
              signatures: [Signature{content: <sig>, verifier: <the verifier that
                           verified it>}, ... sorted by the signature bytes]}}}

canonicalized as for hashedrekord 0.0.2 (protojson, then RFC 8785). The payload itself
is not logged. (rekor-tiles has since dropped DSSE requests: clients log an envelope as a
hashedrekord of its PAE. This type keeps logs that took them readable and admissible.)
"""

from __future__ import annotations

import hashlib
from typing import Any

from tlog.codec import b64encode
from tlog.entries.algorithm import Algorithm
from tlog.entries.canonical import canonical_json
from tlog.entries.entry import Entry
from tlog.entries.envelope import pae
from tlog.entries.fields import array, b64_lenient, child, proto_message, string
from tlog.entries.hashedrekord import parse_verifier
from tlog.entries.pkix import PkixKey
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, VerificationError

KIND = "dsse"
VERSION = "0.0.2"
V2_WRAPPER = "dsseRequestV002"
MAX_VERIFIERS = 10
MAX_SIGNATURES = 10

_REQUEST = {"envelope": "envelope", "verifiers": "verifiers"}
_ENVELOPE = {"payload": "payload", "payloadType": "payload_type", "signatures": "signatures"}
_SIGNATURE = {"sig": "sig", "keyid": "keyid"}


def _signatures(env: dict[str, Any], path: str) -> list[bytes]:
    spath = child(path, "signatures")
    items = array(env.get("signatures"), spath, min_items=1, max_items=MAX_SIGNATURES)
    sigs: list[bytes] = []
    for i, item in enumerate(items):
        ipath = child(spath, i)
        sig = proto_message(item, ipath, _SIGNATURE)
        if "keyid" in sig:
            string(sig["keyid"], child(ipath, "keyid"), allow_empty=True)
        raw = b64_lenient(sig.get("sig", ""), child(ipath, "sig")) if sig.get("sig") else b""
        if not raw:
            raise MalformedError(f"{ipath}: envelope signature empty")
        sigs.append(raw)
    return sigs


def _verifiers(
    value: Any, path: str, policy: AdmissionPolicy
) -> list[tuple[dict[str, Any], PkixKey, Algorithm]]:
    items = array(value, path, min_items=1, max_items=MAX_VERIFIERS)
    out = [parse_verifier(v, child(path, i), policy, prehashed=False) for i, v in enumerate(items)]
    seen: set[str] = set()
    for i, (canonical, _, _) in enumerate(out):
        raw = next(iter(canonical.values()))["rawBytes"]
        if raw in seen:
            raise MalformedError(f"{child(path, i)}: duplicate verifier")
        seen.add(raw)
    return out


def _from_request(request: Any, path: str, policy: AdmissionPolicy) -> Entry:
    req = proto_message(request, path, _REQUEST)
    epath = child(path, "envelope")
    if "envelope" not in req:
        raise MalformedError(f"{epath}: missing")
    if "verifiers" not in req:
        raise MalformedError(f"{child(path, 'verifiers')}: missing")
    verifiers = _verifiers(req["verifiers"], child(path, "verifiers"), policy)
    env = proto_message(req["envelope"], epath, _ENVELOPE)
    payload_type = string(env.get("payloadType", ""), child(epath, "payloadType"), allow_empty=True)
    payload = b64_lenient(env["payload"], child(epath, "payload")) if env.get("payload") else b""
    message = pae(payload_type, payload)
    signed: dict[bytes, dict[str, Any]] = {}
    for sig in _signatures(env, epath):
        by = next((c for c, k, a in verifiers if k.verify(a, sig, message, prehashed=False)), None)
        if by is None:
            raise VerificationError(f"{epath}: all signatures must have a key that verifies it")
        signed.setdefault(sig, by)
    body = {
        "apiVersion": VERSION,
        "kind": KIND,
        "spec": {
            "dsseV002": {
                "payloadHash": {
                    "algorithm": "SHA2_256",
                    "digest": b64encode(hashlib.sha256(payload).digest()),
                },
                "signatures": [
                    {"content": b64encode(sig), "verifier": signed[sig]} for sig in sorted(signed)
                ],
            }
        },
    }
    return Entry(KIND, VERSION, canonical_json(body))


def admit_v2_request(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v2 ``{"dsseRequestV002": ...}`` request."""
    return _from_request(doc[V2_WRAPPER], V2_WRAPPER, policy)
