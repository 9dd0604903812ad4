"""Sigstore trust configuration for a log: its TrustedRoot and SigningConfig entries.

Sigstore clients find a Rekor v2 log through two documents (protobuf-specs
``dev.sigstore.trustroot.v1``), both in protobuf JSON:

* a ``TransparencyLogInstance`` in the TrustedRoot's ``tlogs``: ``baseUrl``,
  ``hashAlgorithm``, ``publicKey`` (``rawBytes``: the SubjectPublicKeyInfo DER,
  ``keyDetails``, ``validFor``), ``logId`` and ``checkpointKeyId`` (both the full
  32-byte C2SP signed-note key ID of the log key, as Rekor v2 sets them: the first 4
  bytes are the key hint on checkpoint signature lines);
* a ``Service`` in the SigningConfig's ``rekorTlogUrls``: ``url``, ``majorApiVersion``
  2, ``validFor``, ``operator``.

The log key is the principal one (docs/design.md "Keys and checkpoints"): ECDSA P-256
when the log has one, else Ed25519. Rotating to a new shard is publishing a second
instance and service with the new key and URL, and closing the old ones' ``validFor``
(docs/server.md "Shard rotation").

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.codec import b64encode
from tlog.errors import ConfigError
from tlog.note import CosignatureVerifier, ECDSAVerifier, Ed25519Verifier, Verifier
from tlog.sigstore import log_id


def principal(verifiers: Sequence[Verifier]) -> Verifier:
    """The log's principal key among ``verifiers``: ECDSA if there is one, else Ed25519."""
    keys = [v for v in verifiers if not isinstance(v, CosignatureVerifier)]
    for kind in (ECDSAVerifier, Ed25519Verifier):
        found = [v for v in keys if isinstance(v, kind)]
        if found:
            return found[0]
    raise ConfigError("no log key among the vkeys (only timestamp keys)")


def _public_key(v: Verifier) -> tuple[bytes, str]:
    """(SubjectPublicKeyInfo DER, protobuf-specs PublicKeyDetails) of a log key."""
    if isinstance(v, Ed25519Verifier):
        key = ed25519.Ed25519PublicKey.from_public_bytes(v.public)
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return der, "PKIX_ED25519"
    if isinstance(v, ECDSAVerifier):
        loaded = serialization.load_der_public_key(v.spki)
        if getattr(loaded, "curve", None) is None or loaded.curve.name != "secp256r1":  # type: ignore[union-attr]
            raise ConfigError("Sigstore clients check checkpoints of ECDSA P-256 logs only")
        return v.spki, "PKIX_ECDSA_P256_SHA_256"
    raise ConfigError(f"key {v.name} is not a log key")


def timestamp(when: datetime) -> str:
    """protobuf JSON Timestamp (RFC 3339, UTC, ``Z``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _valid_for(start: datetime, end: datetime | None) -> dict[str, str]:
    if end is not None and end <= start:
        raise ConfigError("--valid-to must be after --valid-from")
    out = {"start": timestamp(start)}
    if end is not None:
        out["end"] = timestamp(end)
    return out


def tlog_instance(
    url: str,
    verifiers: Sequence[Verifier],
    start: datetime,
    end: datetime | None = None,
    operator: str | None = None,
) -> dict[str, Any]:
    """The TrustedRoot ``tlogs`` entry of the log at ``url`` with these keys."""
    key = principal(verifiers)
    der, details = _public_key(key)
    key_id = {"keyId": b64encode(log_id(key))}
    out: dict[str, Any] = {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": b64encode(der),
            "keyDetails": details,
            "validFor": _valid_for(start, end),
        },
        "logId": key_id,
        "checkpointKeyId": dict(key_id),
    }
    if operator:
        out["operator"] = operator
    return out


def rekor_service(
    url: str, start: datetime, end: datetime | None = None, operator: str = ""
) -> dict[str, Any]:
    """The SigningConfig ``rekorTlogUrls`` entry of the Rekor v2 API at ``url``."""
    return {
        "url": url,
        "majorApiVersion": 2,
        "validFor": _valid_for(start, end),
        "operator": operator,
    }
