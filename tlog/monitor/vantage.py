"""Split views: the log's checkpoint as other vantage points see it (docs/monitor.md).

A log that shows one tree to this monitor and another to someone else is caught by
comparing checkpoints: ``--also`` names another way to reach the same log (a mirror, a
CDN edge: a folder or URL, read with the same keys and no state) or a saved signed
checkpoint (a witness's, a colleague's). Two verified checkpoints of one log must be
consistent: equal roots at equal sizes, and the smaller one's root provable from the
larger one's tiles (RFC 9162 §2.1.4.2). The proof is computed from the tiles of the
larger tree's source; a saved checkpoint larger than what the log serves is only noted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tlog import layout, merkle
from tlog.checkpoint import SignedCheckpoint, evidence
from tlog.client import Client
from tlog.errors import ConfigError, TlogError, VerificationError
from tlog.merkle import NodeReader
from tlog.monitor.finding import Finding

__all__ = ["Vantage", "compare", "open_vantage"]

#: A vantage point's verified checkpoint and, when it serves tiles, their reader.
Vantage = tuple[SignedCheckpoint, NodeReader | None]


def open_vantage(source: str, client: Client, open_other: Callable[[str], Client]) -> Vantage:
    """The checkpoint ``source`` shows: a file holding a signed checkpoint, else a log
    location opened with ``open_other`` (the same keys, no state)."""
    path = Path(source)
    if "://" not in source and path.is_file():
        try:
            with path.open("rb") as f:
                data = f.read(layout.MAX_CHECKPOINT_SIZE + 1)
        except OSError as exc:
            raise ConfigError(f"--also {source}: {exc.strerror}") from exc
        return client.verify_checkpoint(data, source), None
    other = open_other(source)
    return other.latest(), other.reader.read


def compare(
    ours: SignedCheckpoint, read: NodeReader, theirs: Vantage, source: str
) -> Finding | None:
    """A split-view Finding if ``theirs`` contradicts ``ours`` (read: our tiles)."""
    other, other_read = theirs
    a, b = ours.checkpoint, other.checkpoint
    proof: list[bytes] = []
    try:
        if a.size == b.size:
            if a.root != b.root:
                raise VerificationError(f"two roots for size {a.size}")
            return None
        if b.size < a.size:
            proof = merkle.consistency_proof(b.size, a.size, read)
            if b.size > 0:
                merkle.verify_consistency(b.size, a.size, b.root, a.root, proof)
            return None
        if other_read is None:
            return None  # a saved checkpoint ahead of the log: nothing to prove it with
        proof = merkle.consistency_proof(a.size, b.size, other_read)
        if a.size > 0:
            merkle.verify_consistency(a.size, b.size, a.root, b.root, proof)
        return None
    except VerificationError as exc:
        return Finding(
            "split-view",
            f"{source} shows size {b.size}, not consistent with the verified size {a.size} ({exc})",
            evidence={"source": source, **evidence(ours, other, proof)},
        )
    except TlogError as exc:
        return Finding("error", f"--also {source}: {exc}", evidence={"source": source})
