"""C2SP tlog-checkpoint v1.0.0: the checkpoint body, and signed checkpoints.

Body: the origin line, the tree size in decimal, the root hash in base64, then optional
extension lines, each ending in a newline. tlog writes no extension lines (monitors and
witnesses cannot audit them) but parses and preserves them for other logs.

tlog's checkpoints carry a cosignature/v1 line from the log's timestamp key (see
:mod:`tlog.note`): its timestamp, covered by a signature, is the *integrated time* of
every entry the checkpoint is the first to cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tlog import merkle
from tlog.codec import b64decode, b64encode, decimal
from tlog.errors import ConfigError, MalformedError, VerificationError
from tlog.note import CosignatureVerifier, Note, Verified, Verifier, open_note

MAX_TREE_SIZE = (1 << 63) - 1


@dataclass(frozen=True)
class Checkpoint:
    """The (origin, size, root) a log commits to, plus any extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedError(f"checkpoint origin {self.origin!r} must be one non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedError(f"checkpoint size {self.size} out of range")
        if len(self.root) != merkle.HASH_SIZE:
            raise MalformedError(f"checkpoint root is {len(self.root)} bytes, want 32")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise MalformedError(f"checkpoint extension line {ext!r} must be non-empty")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (tlog-checkpoint "Note text")."""
        if not text.endswith("\n"):
            raise MalformedError("checkpoint body does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError(f"checkpoint body has {len(lines)} lines, want at least 3")
        origin, size_s, root_s, *ext = lines
        size = decimal(size_s, "checkpoint size", max_digits=20)
        root = b64decode(root_s, "checkpoint root hash")
        return cls(origin, size, root, tuple(ext))

    def format(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint opened against known keys: body, note and (if any) its time."""

    checkpoint: Checkpoint
    note: Note
    #: POSIX time from a verified cosignature/v1 line by a known timestamp key, else None.
    timestamp: int | None

    def format(self) -> bytes:
        return self.note.format()


def log_origin(verifiers: Sequence[Verifier]) -> str:
    """The origin the log keys among ``verifiers`` sign for (their common name);
    ConfigError when there is none or several (timestamp keys are not log keys).
    """
    names = {v.name for v in verifiers if not isinstance(v, CosignatureVerifier)}
    if not names:
        raise ConfigError("no log vkey given (only timestamp keys)")
    if len(names) > 1:
        raise ConfigError(f"vkeys are for several logs ({', '.join(sorted(names))}): pick one")
    return names.pop()


def open_checkpoint(
    data: bytes, verifiers: Sequence[Verifier], origin: str | None = None
) -> SignedCheckpoint:
    """Verify a signed checkpoint and parse its body.

    A signature by a timestamp (cosignature/v1) key alone does not make a checkpoint
    valid: at least one known *log* key must have signed it. ``origin``, when given,
    must match the checkpoint's (a log key signs only its own origin).
    """
    log_verifiers = [v for v in verifiers if not isinstance(v, CosignatureVerifier)]
    if not log_verifiers:
        raise VerificationError("no log key to verify the checkpoint with (only timestamp keys)")
    verified: Verified = open_note(data, verifiers)
    if not any(not isinstance(v, CosignatureVerifier) for v, _ in verified.signed_by):
        raise VerificationError("checkpoint is not signed by any known log key")
    cp = Checkpoint.parse(verified.note.text)
    if origin is not None and cp.origin != origin:
        raise VerificationError(f"checkpoint origin is {cp.origin!r}, want {origin!r}")
    for v, _ in verified.signed_by:
        if v.name != cp.origin and not isinstance(v, CosignatureVerifier):
            raise VerificationError(
                f"checkpoint for origin {cp.origin!r} signed by log key {v.name!r}"
            )
    ts: int | None = None
    for v, sig in verified.signed_by:
        # Only the log's own timestamp key (named after the origin) dates its entries;
        # a witness's cosignature says when *it* saw the checkpoint, not the log.
        if isinstance(v, CosignatureVerifier) and v.name == cp.origin:
            ts = v.timestamp(sig.signature)
    return SignedCheckpoint(cp, verified.note, ts)


def evidence(
    first: SignedCheckpoint, second: SignedCheckpoint, proof: Sequence[bytes] | None = None
) -> dict[str, object]:
    """What shows two checkpoints contradict each other: both signed notes (the one
    trusted first, then the other) and, if there is one, the consistency proof from the
    smaller to the larger that fails to verify (RFC 9162 §2.1.4), hashes in base64.
    """
    out: dict[str, object] = {
        "origin": second.checkpoint.origin,
        "checkpoints": [first.format().decode("utf-8"), second.format().decode("utf-8")],
    }
    if proof is not None:
        out["consistency_proof"] = [b64encode(h) for h in proof]
    return out
