"""DSSE envelopes (secure-systems-lab/dsse, "envelope.md" and "protocol.md").

An envelope is ``{"payloadType", "payload": base64, "signatures": [{"keyid", "sig":
base64}]}``; each signature is over the pre-authentication encoding
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` with lengths in
ASCII decimal. Rekor's dsse and intoto types verify envelopes with this and store hashes
of the payload and envelope instead of the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlog.codec import load_json
from tlog.entries.fields import array, b64_lenient, child, obj, string
from tlog.errors import MalformedError

#: At most this many signatures are accepted on one envelope.
MAX_SIGNATURES = 16


@dataclass(frozen=True)
class EnvelopeSignature:
    """One envelope signature: its key id (maybe empty), text as given, and bytes."""

    keyid: str
    sig_text: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope with its payload decoded."""

    payload_type: str
    payload_text: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def pae(self) -> bytes:
        """The bytes every signature of this envelope signs."""
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of (type, body).

    ``payload_type`` comes from parsed JSON (:func:`tlog.codec.load_json` refuses lone
    surrogates), so it always encodes as UTF-8.
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def parse_signatures(value: Any, path: str) -> list[dict[str, Any]]:
    """The envelope's ``signatures`` array, as objects."""
    items = array(value, path, min_items=1, max_items=MAX_SIGNATURES)
    return [obj(item, child(path, i)) for i, item in enumerate(items)]


def parse_envelope(text: bytes, path: str) -> Envelope:
    """Parse an envelope given as JSON text (Rekor dsse ``proposedContent.envelope``, or
    an envelope file); every way it can be unreadable is one MalformedError."""
    try:
        doc = load_json(text, "the DSSE envelope")
    except MalformedError as exc:
        raise MalformedError(f"{path}: not a JSON DSSE envelope ({exc})") from None
    return envelope_from(obj(doc, path), path)


def envelope_from(env: dict[str, Any], path: str) -> Envelope:
    """Build an :class:`Envelope` from its parsed JSON object."""
    payload_type = string(env.get("payloadType"), child(path, "payloadType"))
    payload_text = string(env.get("payload"), child(path, "payload"))
    payload = b64_lenient(payload_text, child(path, "payload"))
    sigs_path = child(path, "signatures")
    sigs = []
    for i, item in enumerate(parse_signatures(env.get("signatures"), sigs_path)):
        spath = child(sigs_path, i)
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise MalformedError(f"{child(spath, 'keyid')}: expected a string")
        sig_text = string(item.get("sig"), child(spath, "sig"))
        sigs.append(EnvelopeSignature(keyid, sig_text, b64_lenient(sig_text, child(spath, "sig"))))
    return Envelope(payload_type, payload_text, payload, tuple(sigs))
