"""The index head: a signed note naming a checkpoint and the live segments indexing it.

docs/index.md "Segments and the head". Text (C2SP signed-note body)::

    tlog-index/v1
    <origin>
    <size>
    <root, base64>
    <rows> <segment root, base64> <error bound> [<knots>]    one line per live segment

Written once per checkpoint, immutable, as ``index/heads/<size>`` (there is no mutable
copy: a reader takes the size from the verified checkpoint). Signed with the log's own
keys (never the cosignature key: a head dates nothing); its first line cannot start a
checkpoint (whose second line is a decimal) nor a cosignature message, so one key serves
both without ambiguity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tlog.checkpoint import Checkpoint
from tlog.codec import b64decode, b64encode
from tlog.errors import MalformedError, VerificationError
from tlog.index.segment import SegmentInfo
from tlog.note import CosignatureVerifier, Signer, Verifier, open_note, sign

__all__ = ["FORMAT", "IndexHead", "open_head"]

FORMAT = "tlog-index/v1"
MAX_HEAD_SIZE = 1 << 20


@dataclass(frozen=True)
class IndexHead:
    """The index of the checkpoint (origin, size, root), as its live segments."""

    origin: str
    size: int
    root: bytes
    segments: tuple[SegmentInfo, ...] = ()

    def indexes(self, cp: Checkpoint) -> bool:
        """Whether this head is the index of exactly ``cp``."""
        return (self.origin, self.size, self.root) == (cp.origin, cp.size, cp.root)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.segments)

    def format(self) -> str:
        lines = [FORMAT, self.origin, str(self.size), b64encode(self.root)]
        lines.extend(s.format() for s in self.segments)
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> IndexHead:
        lines = text.split("\n")
        if len(lines) < 5 or lines[-1] != "" or lines[0] != FORMAT:
            raise MalformedError(f"not a {FORMAT} index head")
        origin, size, root = lines[1], lines[2], lines[3]
        if not size.isdigit() or len(size) > 19 or (size != "0" and size[0] == "0"):
            raise MalformedError(f"index head: bad size {size[:30]!r}")
        raw = b64decode(root, "index head root")
        if len(raw) != 32:
            raise MalformedError("index head: root is not 32 bytes")
        segments = tuple(SegmentInfo.parse(line) for line in lines[4:-1])
        return cls(origin, int(size), raw, segments)

    def sign(self, signers: Sequence[Signer]) -> bytes:
        """The signed note of this head, by the log signers (cosignature signers skipped)."""
        log_signers = [s for s in signers if not isinstance(s.verifier(), CosignatureVerifier)]
        return sign(self.format(), log_signers).format()


def open_head(
    data: bytes, verifiers: Sequence[Verifier], cp: Checkpoint | None = None
) -> IndexHead:
    """Verify a signed head with the log's vkeys and parse it.

    At least one log key named by the head's origin must have signed it; with ``cp``,
    the head must index exactly that checkpoint (a stale head, or a head for another
    checkpoint, is a VerificationError that says which).
    """
    verified = open_note(data, verifiers)
    head = IndexHead.parse(verified.note.text)
    if not any(
        not isinstance(v, CosignatureVerifier) and v.name == head.origin
        for v, _ in verified.signed_by
    ):
        raise VerificationError("index head is not signed by a log key of its origin")
    if cp is not None and not head.indexes(cp):
        raise VerificationError(
            f"index head is for size {head.size} root {head.root.hex()[:16]}…, but the "
            f"checkpoint is size {cp.size} root {cp.root.hex()[:16]}…: stale or foreign head"
        )
    return head
