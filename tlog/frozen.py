"""The frozen-log marker: a signed statement that a log's final checkpoint is final.

A frozen log (docs/design.md "Freezing a log") publishes, once and immutably, the object
:data:`FROZEN` (``checkpoints/frozen``: public, under the history prefix, so a CDN serves
it with the immutable headers). It is a C2SP signed note by the log's keys whose text is::

    tlog-frozen/v1
    <origin>
    <size>
    <base64 root hash>
    <base64 SHA-256 of the final checkpoint note>

Its second line is not a decimal, so no checkpoint verifier can take it for a checkpoint
(tlog-checkpoint: origin, size, root), and it is not a cosignature message. A reader that
finds it checks its signature with the log keys and that the log's latest checkpoint has
that size and root: then the log is frozen at that checkpoint and nothing more will be
appended. A marker of another size or root than the latest checkpoint is an
inconsistency (the log grew after it said it would not).

Pure: no IO.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tlog.checkpoint import SignedCheckpoint
from tlog.codec import b64decode, b64encode, decimal
from tlog.errors import InconsistencyError, MalformedError, VerificationError
from tlog.note import CosignatureVerifier, Signer, Verifier, open_note, sign

#: The public marker object of a frozen log.
FROZEN = "checkpoints/frozen"
#: The private intent object: once it exists, no sequencer starts a new batch.
FREEZING = "private/freezing"
HEADER = "tlog-frozen/v1"


@dataclass(frozen=True)
class Frozen:
    """A frozen log's final state: origin, size, root and the hash of its final note."""

    origin: str
    size: int
    root: bytes
    note_hash: bytes

    def __post_init__(self) -> None:
        if len(self.root) != 32 or len(self.note_hash) != 32:
            raise MalformedError("frozen marker: root and note hash must be 32 bytes")
        if not 0 <= self.size < 1 << 63:
            raise MalformedError(f"frozen marker: size {self.size} out of range")

    @classmethod
    def of(cls, final: SignedCheckpoint) -> Frozen:
        """The marker naming ``final`` as the log's last checkpoint."""
        cp = final.checkpoint
        return cls(cp.origin, cp.size, cp.root, hashlib.sha256(final.format()).digest())

    def format(self) -> str:
        return (
            f"{HEADER}\n{self.origin}\n{self.size}\n"
            f"{b64encode(self.root)}\n{b64encode(self.note_hash)}\n"
        )

    @classmethod
    def parse(cls, text: str) -> Frozen:
        lines = text.split("\n")
        if len(lines) != 6 or lines[0] != HEADER or lines[5] != "":
            raise MalformedError(f"not a {HEADER} marker")
        return cls(
            origin=lines[1],
            size=decimal(lines[2], "frozen marker size"),
            root=b64decode(lines[3], "frozen marker root"),
            note_hash=b64decode(lines[4], "frozen marker note hash"),
        )

    def sign(self, signers: Sequence[Signer]) -> bytes:
        """The marker as a note signed by the log keys among ``signers`` (the timestamp
        key does not sign it: a cosignature dates checkpoints only)."""
        keys = [s for s in signers if not isinstance(s.verifier(), CosignatureVerifier)]
        return sign(self.format(), keys).format()

    def matches(self, latest: SignedCheckpoint) -> bool:
        """Whether ``latest`` is the checkpoint this marker names as final."""
        cp = latest.checkpoint
        return (cp.origin, cp.size, cp.root) == (self.origin, self.size, self.root)


def open_frozen(data: bytes, verifiers: Sequence[Verifier], origin: str) -> Frozen:
    """Verify a marker with the log's keys (a *log* key of ``origin`` must sign it)."""
    verified = open_note(data, verifiers)
    if not any(
        not isinstance(v, CosignatureVerifier) and v.name == origin for v, _ in verified.signed_by
    ):
        raise VerificationError("frozen marker is not signed by a log key of this log")
    marker = Frozen.parse(verified.note.text)
    if marker.origin != origin:
        raise VerificationError(f"frozen marker is for {marker.origin!r}, want {origin!r}")
    return marker


def check_final(marker: Frozen, latest: SignedCheckpoint) -> None:
    """InconsistencyError unless ``latest`` is the final checkpoint ``marker`` names."""
    if not marker.matches(latest):
        cp = latest.checkpoint
        raise InconsistencyError(
            f"the log says it was frozen at size {marker.size}, but its checkpoint has "
            f"size {cp.size} root {cp.root.hex()[:16]}…",
            evidence={"frozen": marker.format(), "checkpoint": latest.format().decode()},
        )
