"""Reading stored entries back: rekor-cli style views and the artifact digests they name.

:func:`describe` gives what ``rekor-cli get`` prints as ``Body:`` — the entry type's Go
struct marshalled to JSON, i.e. ``{"<Type>Obj": <spec>}`` — and :func:`artifact_digests`
what an entry says about the artifact, for ``tlog verify --artifact``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tlog.codec import b64decode, load_json
from tlog.errors import MalformedError, UnsupportedEntryError

# (kind, apiVersion) -> the field name rekor-cli's entry struct gives the spec.
_OBJ_NAMES = {
    ("hashedrekord", "0.0.1"): "HashedRekordObj",
    ("hashedrekord", "0.0.2"): "HashedRekordObj",
    ("rekord", "0.0.1"): "RekordObj",
    ("dsse", "0.0.1"): "DSSEObj",
    ("intoto", "0.0.2"): "IntotoObj",
}
_PROTO_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


@dataclass(frozen=True)
class ArtifactDigest:
    """A digest an entry records: hash name (sha256/384/512), bytes, and of what.

    ``subject`` is ``artifact`` (the signed file of hashedrekord and rekord),
    ``envelope`` (the DSSE envelope file of dsse and intoto) or ``payload`` (the
    envelope's decoded payload).
    """

    algorithm: str
    digest: bytes
    subject: str

    def matches(self, data: bytes) -> bool:
        """True if ``data`` hashes to this digest."""
        return hashlib.new(self.algorithm, data).digest() == self.digest


def _parse(body: bytes) -> tuple[str, str, dict[str, Any]]:
    doc = load_json(body, "entry body")
    if not isinstance(doc, dict):
        raise MalformedError("entry body is not a JSON object")
    kind, version, spec = doc.get("kind"), doc.get("apiVersion"), doc.get("spec")
    if not isinstance(kind, str) or not isinstance(version, str) or not isinstance(spec, dict):
        raise MalformedError("entry body lacks kind, apiVersion or spec")
    return kind, version, spec


def describe(body: bytes) -> dict[str, Any]:
    """The rekor-cli ``Body`` object of a stored entry, e.g. ``{"RekordObj": {...}}``.

    For hashedrekord 0.0.2 (which rekor-cli does not know) the object is the
    ``hashedRekordV002`` log entry, under the same ``HashedRekordObj`` name.
    """
    kind, version, spec = _parse(body)
    name = _OBJ_NAMES.get((kind, version))
    if name is None:
        raise UnsupportedEntryError(f"entry kind {kind!r} version {version!r} is not known")
    if (kind, version) == ("hashedrekord", "0.0.2"):
        inner = spec.get("hashedRekordV002")
        if not isinstance(inner, dict):
            raise MalformedError("hashedrekord 0.0.2 entry lacks spec.hashedRekordV002")
        return {name: inner}
    return {name: spec}


def _hex_digest(item: Any, subject: str) -> ArtifactDigest:
    if not isinstance(item, dict):
        raise MalformedError(f"entry has no {subject} hash object")
    algorithm, value = item.get("algorithm"), item.get("value")
    if algorithm not in ("sha256", "sha384", "sha512") or not isinstance(value, str):
        raise MalformedError(f"entry's {subject} hash is not a sha256/384/512 hex value")
    try:
        return ArtifactDigest(algorithm, bytes.fromhex(value), subject)
    except ValueError as exc:
        raise MalformedError(f"entry's {subject} hash is not hexadecimal") from exc


def _proto_digest(data: Any) -> ArtifactDigest:
    """A protojson ``HashOutput`` (hashedrekord 0.0.2 ``data``) as an artifact digest."""
    algorithm, digest = data["algorithm"], data["digest"]
    if not isinstance(algorithm, str) or algorithm not in _PROTO_HASHES:
        raise MalformedError(f"unknown digest algorithm {algorithm!r}")
    if not isinstance(digest, str):
        raise MalformedError("hashedrekord 0.0.2 entry lacks its digest (not a string)")
    try:
        raw = b64decode(digest, "the digest")
    except MalformedError as exc:
        raise MalformedError(f"hashedrekord 0.0.2 entry lacks its digest ({exc})") from None
    return ArtifactDigest(_PROTO_HASHES[algorithm], raw, "artifact")


def artifact_digests(body: bytes) -> tuple[ArtifactDigest, ...]:
    """The digests a stored entry records about what was signed."""
    kind, version, spec = _parse(body)
    try:
        if (kind, version) in (("hashedrekord", "0.0.1"), ("rekord", "0.0.1")):
            return (_hex_digest(spec["data"]["hash"], "artifact"),)
        if (kind, version) == ("hashedrekord", "0.0.2"):
            return (_proto_digest(spec["hashedRekordV002"]["data"]),)
        if (kind, version) == ("dsse", "0.0.1"):
            return (
                _hex_digest(spec["envelopeHash"], "envelope"),
                _hex_digest(spec["payloadHash"], "payload"),
            )
        if (kind, version) == ("intoto", "0.0.2"):
            content = spec["content"]
            return (
                _hex_digest(content["hash"], "envelope"),
                _hex_digest(content["payloadHash"], "payload"),
            )
    except (KeyError, TypeError) as exc:
        raise MalformedError(f"{kind} {version} entry lacks its digest ({exc!r})") from None
    raise UnsupportedEntryError(f"entry kind {kind!r} version {version!r} is not known")
