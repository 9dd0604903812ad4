"""dsse 0.0.1 entries (Rekor v1 ``pkg/types/dsse``): a DSSE envelope and its verifiers.

The proposed entry is ``spec.proposedContent{envelope: <envelope JSON text>, verifiers:
[base64 PEM key or certificate, ...]}``. Rekor checks that every envelope signature is
verified by some verifier (and that each verifier it tries verifies at least one), then
stores not the envelope but::

    spec: {envelopeHash: {algorithm: sha256, value: hex SHA-256 of the envelope text},
           payloadHash:  {algorithm: sha256, value: hex SHA-256 of the decoded payload},
           signatures:   [{signature: <sig text as in the envelope>,
                           verifier: <base64 of the verifier's canonical PEM>}, ...]}

with one item per distinct signature, sorted by the signature text. A stored entry
(the ``signatures``/``envelopeHash``/``payloadHash`` form) cannot be admitted again: it no
longer carries what its signatures sign.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tlog.codec import b64encode
from tlog.entries.canonical import canonical_json
from tlog.entries.entry import Entry
from tlog.entries.envelope import Envelope, parse_envelope
from tlog.entries.fields import array, b64, child, member, member_obj, member_str
from tlog.entries.pkix import PkixKey, key_from_pem
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, VerificationError

KIND = "dsse"
VERSION = "0.0.1"
#: At most this many verifiers are read from one proposed entry.
MAX_VERIFIERS = 16
_COMPUTED = ("signatures", "envelopeHash", "payloadHash")


def _proposed_content(doc: dict[str, Any]) -> dict[str, Any]:
    """``spec.proposedContent``, refusing the computed fields of a stored entry."""
    spec = member_obj(doc, "spec", "")
    computed = [k for k in _COMPUTED if spec.get(k) is not None]
    if spec.get("proposedContent") is None:
        if computed:
            raise MalformedError(
                "spec.proposedContent: missing; a stored dsse entry (signatures, envelopeHash, "
                "payloadHash) cannot be verified again without its envelope"
            )
        raise MalformedError("spec.proposedContent: missing")
    if computed:
        raise MalformedError(f"spec.{computed[0]}: computed by the log; give only proposedContent")
    return member_obj(spec, "proposedContent", "spec")


def _signers(
    env: Envelope, verifiers: list[Any], ver_path: str, env_path: str, policy: AdmissionPolicy
) -> dict[str, PkixKey]:
    """Each signature's text → the verifier that verifies it (every one must be verified)."""
    message = env.pae()
    remaining = {s.sig_text for s in env.signatures}
    by_sig: dict[str, PkixKey] = {}
    for i, item in enumerate(verifiers):
        if not remaining:
            break  # as Rekor: verifiers left once every signature is verified are not read
        vpath = child(ver_path, i)
        key = key_from_pem(b64(item, vpath), vpath)
        policy.require_shape(key.shape, vpath)
        policy.check_trust(key, vpath)
        hits = [
            s.sig_text
            for s in env.signatures
            if policy.verifying_algorithm(key, s.sig, message, vpath) is not None
        ]
        if not hits:
            raise VerificationError(f"{vpath}: verifies none of the envelope's signatures")
        for sig_text in hits:
            remaining.discard(sig_text)
            by_sig[sig_text] = key
    if remaining:
        first = next(i for i, s in enumerate(env.signatures) if s.sig_text in remaining)
        raise VerificationError(
            f"{env_path}: signatures[{first}] does not verify with any of the given verifiers"
        )
    return by_sig


def admit_v001(doc: dict[str, Any], policy: AdmissionPolicy) -> Entry:
    """Canonicalize a Rekor v1 dsse 0.0.1 proposed entry."""
    pc_path = "spec.proposedContent"
    pc = _proposed_content(doc)
    env_path = child(pc_path, "envelope")
    env_text = member_str(pc, "envelope", pc_path)
    try:
        env_bytes = env_text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedError(f"{env_path}: not valid Unicode text") from None
    env = parse_envelope(env_bytes, env_path)
    ver_path = child(pc_path, "verifiers")
    verifiers = array(
        member(pc, "verifiers", pc_path), ver_path, min_items=1, max_items=MAX_VERIFIERS
    )
    by_sig = _signers(env, verifiers, ver_path, env_path, policy)
    body = {
        "apiVersion": VERSION,
        "kind": KIND,
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(env_bytes).hexdigest()},
            "payloadHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(env.payload).hexdigest(),
            },
            "signatures": [
                {"signature": sig_text, "verifier": b64encode(by_sig[sig_text].pem())}
                for sig_text in sorted(by_sig)
            ],
        },
    }
    return Entry(KIND, VERSION, canonical_json(body))
