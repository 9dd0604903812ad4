"""Sigstore ``TransparencyLogEntry`` JSON (protobuf-specs ``dev.sigstore.rekor.v1``).

The message Sigstore bundles carry in ``verificationMaterial.tlogEntries``, in
protobuf's canonical JSON mapping: 64-bit integers as decimal strings, bytes as
standard base64, camelCase field names::

    {"logIndex": "7",
     "logId": {"keyId": "<base64, 32 bytes>"},
     "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
     "integratedTime": "1767225600",
     "inclusionProof": {"logIndex": "7", "rootHash": "<base64>", "treeSize": "8",
                        "hashes": ["<base64>", ...],
                        "checkpoint": {"envelope": "<signed checkpoint note>"}},
     "canonicalizedBody": "<base64 entry bytes>"}

``logId.keyId`` is the log key's full 32-byte ID, whose first 4 bytes are the note key
hint (docs/design.md "Read side"): SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key) for Ed25519,
SHA-256(SPKI DER) for ECDSA, as Rekor v2 does. ``integratedTime`` is the cosignature/v1
time of the checkpoint in the proof (the first to cover the entry), so a verifier
holding the log's timestamp key can check it; there is no inclusion promise (SET).
``kindVersion`` is the body's ``kind``/``apiVersion`` for Rekor bodies and
:data:`RAW_KIND` for generic (``--raw``) entries.

Pure: no IO.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlog import merkle
from tlog.checkpoint import SignedCheckpoint
from tlog.codec import b64decode, b64encode, decimal, load_json
from tlog.errors import MalformedError, VerificationError
from tlog.note import CosignatureVerifier, ECDSAVerifier, Ed25519Verifier, Verifier
from tlog.proof import MAX_PROOF_HASHES, MAX_PROOF_SIZE, TlogProof, VerifiedEntry

#: kindVersion of entries that are not Rekor bodies (generic tlog-tiles use).
RAW_KIND = ("raw", "0.0.1")


def log_id(verifier: Verifier) -> bytes:
    """The full 32-byte key ID of a log key (its first 4 bytes are the note key hint)."""
    if isinstance(verifier, Ed25519Verifier):
        return hashlib.sha256(verifier.name.encode() + b"\n\x01" + verifier.public).digest()
    if isinstance(verifier, ECDSAVerifier):
        return hashlib.sha256(verifier.spki).digest()
    raise MalformedError(f"key {verifier.name} is not a log key (Ed25519 or ECDSA)")


def kind_version(body: bytes) -> tuple[str, str]:
    """(kind, version) of an entry: from a Rekor body, else :data:`RAW_KIND`."""
    try:
        doc = load_json(body, "entry")
    except MalformedError:
        return RAW_KIND
    if isinstance(doc, dict):
        kind, version = doc.get("kind"), doc.get("apiVersion")
        if isinstance(kind, str) and isinstance(version, str):
            return kind, version
    return RAW_KIND


@dataclass(frozen=True)
class TransparencyLogEntry:
    """One entry with its inclusion proof and checkpoint, as Sigstore carries it."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    body: bytes

    def __post_init__(self) -> None:
        if len(self.log_id) != 32:
            raise MalformedError(f"logId.keyId is {len(self.log_id)} bytes, want 32")
        if len(self.root_hash) != merkle.HASH_SIZE:
            raise MalformedError(f"inclusionProof.rootHash is {len(self.root_hash)} bytes")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise MalformedError(f"inclusionProof has {len(self.hashes)} hashes")
        for i, h in enumerate(self.hashes):
            if len(h) != merkle.HASH_SIZE:
                raise MalformedError(f"inclusionProof.hashes[{i}] is {len(h)} bytes, want 32")

    @classmethod
    def from_verified(
        cls, proof: TlogProof, verified: VerifiedEntry, verifiers: Sequence[Verifier]
    ) -> TransparencyLogEntry:
        """The Sigstore form of a tlog-proof that :meth:`TlogProof.verify` accepted with
        ``verifiers``; ``logId`` is the first of them that signed the checkpoint.
        """
        if verified.entry is None:
            raise MalformedError("a TransparencyLogEntry needs the entry's bytes")
        log_keys = log_signers(verified.checkpoint, verifiers)
        if not log_keys:
            raise VerificationError("checkpoint has no verified log key signature")
        kind, version = kind_version(verified.entry)
        cp = verified.checkpoint.checkpoint
        return cls(
            log_index=proof.index,
            log_id=log_id(log_keys[0]),
            kind=kind,
            version=version,
            integrated_time=verified.integrated_time or 0,
            root_hash=cp.root,
            tree_size=cp.size,
            hashes=proof.hashes,
            checkpoint=proof.checkpoint.decode("utf-8"),
            body=verified.entry,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "logIndex": str(self.log_index),
            "logId": {"keyId": b64encode(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "integratedTime": str(self.integrated_time),
            "inclusionProof": {
                "logIndex": str(self.log_index),
                "rootHash": b64encode(self.root_hash),
                "treeSize": str(self.tree_size),
                "hashes": [b64encode(h) for h in self.hashes],
                "checkpoint": {"envelope": self.checkpoint},
            },
            "canonicalizedBody": b64encode(self.body),
        }

    def format(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> TransparencyLogEntry:
        """Parse strictly: known fields only, every one this module writes required but
        those protobuf's JSON mapping omits when they hold their default (zero, empty):
        ``logIndex`` and ``inclusionProof.logIndex`` (0), ``inclusionProof.hashes`` ([],
        a tree of one leaf) and ``integratedTime`` (0). :meth:`to_dict` writes them all.
        """
        if len(data) > MAX_PROOF_SIZE * 2:
            raise MalformedError(f"TransparencyLogEntry is {len(data)} bytes, too large")
        doc = load_json(data, "TransparencyLogEntry")
        top = _fields(
            doc,
            "",
            {
                "logIndex",
                "logId",
                "kindVersion",
                "integratedTime",
                "inclusionProof",
                "canonicalizedBody",
            },
            {"logIndex", "integratedTime"},
        )
        lid = _fields(top["logId"], "logId", {"keyId"})
        kv = _fields(top["kindVersion"], "kindVersion", {"kind", "version"})
        ip = _fields(
            top["inclusionProof"],
            "inclusionProof",
            {"logIndex", "rootHash", "treeSize", "hashes", "checkpoint"},
            {"logIndex", "hashes"},
        )
        env = _fields(ip["checkpoint"], "inclusionProof.checkpoint", {"envelope"})
        index = _int64(top.get("logIndex", "0"), "logIndex")
        if _int64(ip.get("logIndex", "0"), "inclusionProof.logIndex") != index:
            raise MalformedError("inclusionProof.logIndex differs from logIndex")
        hashes = ip.get("hashes", [])
        if not isinstance(hashes, list):
            raise MalformedError("inclusionProof.hashes must be a list")
        return cls(
            log_index=index,
            log_id=_bytes(lid["keyId"], "logId.keyId"),
            kind=_str(kv["kind"], "kindVersion.kind"),
            version=_str(kv["version"], "kindVersion.version"),
            integrated_time=_int64(top.get("integratedTime", "0"), "integratedTime"),
            root_hash=_bytes(ip["rootHash"], "inclusionProof.rootHash"),
            tree_size=_int64(ip["treeSize"], "inclusionProof.treeSize"),
            hashes=tuple(_bytes(h, f"inclusionProof.hashes[{i}]") for i, h in enumerate(hashes)),
            checkpoint=_str(env["envelope"], "inclusionProof.checkpoint.envelope"),
            body=_bytes(top["canonicalizedBody"], "canonicalizedBody"),
        )

    def to_proof(self) -> TlogProof:
        """The same proof as c2sp.org/tlog-proof@v1, the body as its extra data."""
        return TlogProof(
            self.log_index, self.hashes, self.checkpoint.encode("utf-8"), extra=self.body
        )

    def verify(self, verifiers: Sequence[Verifier], origin: str | None = None) -> VerifiedEntry:
        """Verify offline against the log's vkeys.

        The proof itself (checkpoint signatures, the inclusion of ``canonicalizedBody``
        at ``logIndex``: RFC 9162 §2.1.3.2) is checked by :meth:`TlogProof.verify` on
        :meth:`to_proof`; then the fields Sigstore adds: ``logId.keyId`` is the full ID
        of a log key that signed the checkpoint, ``rootHash``/``treeSize`` are the
        checkpoint's, ``kindVersion`` is the body's, and ``integratedTime`` is the
        checkpoint's verified cosignature time (0 when the checkpoint has none).
        """
        verified = self.to_proof().verify(verifiers, origin)
        signed = verified.checkpoint
        ids = [log_id(v) for v in log_signers(signed, verifiers)]
        if self.log_id not in ids:
            raise VerificationError(
                f"logId.keyId {self.log_id.hex()[:16]}… is not a key that signed the checkpoint"
            )
        cp = signed.checkpoint
        if (self.tree_size, self.root_hash) != (cp.size, cp.root):
            raise VerificationError(
                f"inclusionProof claims size {self.tree_size} root {self.root_hash.hex()[:16]}…, "
                f"checkpoint has size {cp.size} root {cp.root.hex()[:16]}…"
            )
        if (self.kind, self.version) != kind_version(self.body):
            raise VerificationError(
                f"kindVersion {self.kind} {self.version} is not the body's "
                f"({' '.join(kind_version(self.body))})"
            )
        if self.integrated_time != (signed.timestamp or 0):
            raise VerificationError(
                f"integratedTime {self.integrated_time} is not vouched for by the checkpoint "
                f"(verified cosignature time: {signed.timestamp})"
            )
        return verified


def log_signers(signed: SignedCheckpoint, verifiers: Sequence[Verifier]) -> list[Verifier]:
    """The log keys (not timestamp keys) among ``verifiers`` whose signature lines the
    (already verified) checkpoint carries, in ``verifiers`` order.
    """
    lines = {(s.name, s.key_id) for s in signed.note.signatures}
    return [
        v
        for v in verifiers
        if not isinstance(v, CosignatureVerifier) and (v.name, v.key_id) in lines
    ]


def _fields(
    value: Any, path: str, allowed: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    where = path or "TransparencyLogEntry"
    if not isinstance(value, dict):
        raise MalformedError(f"{where} must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise MalformedError(f"{where} has unknown field {unknown[0]!r}")
    missing = sorted(allowed - set(optional) - set(value))
    if missing:
        raise MalformedError(f"{where} lacks field {missing[0]!r}")
    return value


def _int64(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedError(f"{path} must be an int64 (decimal string)")
    n = decimal(str(value), path)
    if n >= 1 << 63:
        raise MalformedError(f"{path} {n} is not an int64")
    return n


def _bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedError(f"{path} must be a base64 string")
    return b64decode(value, path)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):  # lone surrogates never get here: load_json refuses them
        raise MalformedError(f"{path} must be a string")
    return value
