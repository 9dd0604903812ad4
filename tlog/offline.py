"""Offline proofs: an entry's proof checked against the log's vkeys, with no network.

A proof file is either c2sp.org/tlog-proof@v1 text (:mod:`tlog.proof`) or a Sigstore
``TransparencyLogEntry`` (:mod:`tlog.sigstore`, which converts itself to a tlog-proof
and is checked by the same verifier). :func:`verify_proof` tells them apart, verifies
the proof and, given the artifact, that the entry is about it
(:func:`tlog.proof.check_artifact`).

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tlog.checkpoint import log_origin
from tlog.errors import MalformedError
from tlog.note import Verifier
from tlog.policy import Policy
from tlog.proof import HEADER, TlogProof, VerifiedEntry, check_artifact
from tlog.sigstore import TransparencyLogEntry


@dataclass(frozen=True)
class OfflineVerification:
    """What a verified proof file establishes."""

    #: ``tlog-proof`` or ``sigstore``.
    format: str
    entry: VerifiedEntry
    #: How the entry matched the artifact (:func:`check_artifact`); None without one.
    artifact: str | None = None


def verify_proof(
    data: bytes,
    verifiers: Sequence[Verifier],
    artifact: bytes | None = None,
    *,
    origin: str | None = None,
    policy: Policy | None = None,
    now: int | None = None,
) -> OfflineVerification:
    """Verify a proof in either format against ``verifiers`` (the log's vkeys, whose
    origin is ``origin`` by default) and, given ``artifact``, that the entry is about it.

    With ``policy``, the proof's checkpoint must carry its quorum of witness
    cosignatures (:meth:`tlog.policy.Policy.check`; ``now`` bounds their timestamps).
    A tlog-proof without extra data proves ``artifact`` itself is the entry. Raises
    MalformedError for a file in neither format, VerificationError for one that fails.
    """
    origin = log_origin(verifiers) if origin is None else origin
    if data.lstrip().startswith(b"{"):
        fmt = "sigstore"
        verified = TransparencyLogEntry.parse(data).verify(verifiers, origin)
    elif data.startswith(HEADER.encode()):
        fmt = "tlog-proof"
        proof = TlogProof.parse(data)
        entry = artifact if proof.extra is None else None
        verified = proof.verify(verifiers, origin, entry=entry)
    else:
        raise MalformedError("proof is neither c2sp.org/tlog-proof@v1 text nor Sigstore JSON")
    if policy is not None:
        policy.check(verified.checkpoint.note, now)
    how = None
    if artifact is not None:
        assert verified.entry is not None
        how = check_artifact(verified.entry, artifact)
    return OfflineVerification(fmt, verified, how)
