"""C2SP tlog-proof v1: an offline-verifiable proof that an entry is in a log.

Format (c2sp.org/tlog-proof, "Format")::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>          (optional)
    index <decimal, no leading zeros>
    <base64 hash>                       (zero or more: RFC 6962 §2.1.1 audit path,
    ...                                  leaf's sibling first)
                                        (an empty line)
    <the signed checkpoint, verbatim>

tlog puts the entry's bytes in ``extra``: they are exactly the data needed to
reconstruct the record (leaf) hash, which the spec names as a use of the extra data.
The extra data is not trusted on its own: the leaf hash computed from it must verify
against the checkpoint's root through the inclusion proof. The checkpoint tlog puts in
a proof is the first one that covers the entry, so its cosignature/v1 timestamp is the
entry's integrated time.

:func:`check_artifact` decides whether a verified entry is *about* an artifact.

Pure: no IO; parsing is strict, so any edit to a proof either fails to parse or fails
to verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tlog import merkle
from tlog.checkpoint import SignedCheckpoint, open_checkpoint
from tlog.codec import b64decode, b64encode, decimal, load_json, utf8_text
from tlog.entries.describe import artifact_digests
from tlog.errors import MalformedError, TlogError, VerificationError
from tlog.note import CosignatureVerifier, Verifier

HEADER = "c2sp.org/tlog-proof@v1"
#: Proofs are small: a checkpoint (≤ 1 MiB as a note), 63 hashes and one entry.
MAX_PROOF_SIZE = 2 << 20
#: Audit paths are at most 63 hashes for trees of < 2**63 leaves.
MAX_PROOF_HASHES = 63


@dataclass(frozen=True)
class VerifiedEntry:
    """An entry proven to be in a log: what a verified proof establishes."""

    index: int
    entry: bytes | None
    leaf_hash: bytes
    checkpoint: SignedCheckpoint

    @property
    def integrated_time(self) -> int | None:
        """The checkpoint's verified cosignature time: the entry was logged no later."""
        return self.checkpoint.timestamp

    @property
    def uuid(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class TlogProof:
    """A parsed tlog-proof: index, audit path, checkpoint note and optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < 1 << 63:
            raise MalformedError(f"proof index {self.index} out of range")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise MalformedError(f"proof has {len(self.hashes)} hashes, over {MAX_PROOF_HASHES}")
        for i, h in enumerate(self.hashes):
            if len(h) != merkle.HASH_SIZE:
                raise MalformedError(f"proof hash {i} is {len(h)} bytes, want 32")
        if not self.checkpoint.endswith(b"\n"):
            raise MalformedError("proof checkpoint must end with a newline")

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse a proof strictly (c2sp.org/tlog-proof "Format")."""
        text = utf8_text(data, "proof", MAX_PROOF_SIZE)
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise MalformedError("proof has no empty line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise MalformedError(f"proof does not start with {HEADER!r}: {lines[0][:60]!r}")
        pos = 1
        extra: bytes | None = None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = b64decode(lines[pos][6:], "proof extra data")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise MalformedError("proof has no 'index' line")
        idx = decimal(lines[pos][6:], "proof index")
        pos += 1
        hashes = []
        for i, line in enumerate(lines[pos:]):
            h = b64decode(line, f"proof hash {i}")
            if len(h) != merkle.HASH_SIZE:
                raise MalformedError(f"proof hash {i} is {len(h)} bytes, want 32")
            hashes.append(h)
        return cls(idx, tuple(hashes), note.encode("utf-8"), extra)

    def format(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64encode(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64encode(h) for h in self.hashes]
        return ("\n".join(lines) + "\n\n").encode("utf-8") + self.checkpoint

    def __bytes__(self) -> bytes:
        return self.format()

    def verify(
        self,
        verifiers: Sequence[Verifier],
        origin: str | None = None,
        *,
        entry: bytes | None = None,
    ) -> VerifiedEntry:
        """Verify offline: checkpoint signatures, then the inclusion of the entry.

        The entry is ``extra`` (tlog's proofs) or, for proofs without extra data, the
        ``entry`` given. Raises VerificationError naming what failed.
        """
        signed = open_checkpoint(self.checkpoint, verifiers, origin)
        require_timestamp(signed, verifiers)
        data = self.extra if self.extra is not None else entry
        if data is None:
            raise VerificationError("proof carries no entry (no extra line) and none was given")
        leaf = merkle.leaf_hash(data)
        cp = signed.checkpoint
        try:
            merkle.verify_inclusion(self.index, cp.size, leaf, self.hashes, cp.root)
        except VerificationError as exc:
            raise VerificationError(
                f"entry {leaf.hex()[:16]}… is not at index {self.index} of "
                f"{cp.origin} size {cp.size}: {exc}"
            ) from exc
        return VerifiedEntry(self.index, data, leaf, signed)


def require_timestamp(signed: SignedCheckpoint, verifiers: Sequence[Verifier]) -> None:
    """Checks on a proof's checkpoint beyond signed-note's: with a timestamp key among
    ``verifiers`` its verified cosignature is present (a timestamp line edited into an
    unknown signature, which signed-note verification ignores, must not pass as an
    undated proof). A repeated signature line never gets here: :meth:`tlog.note.Note.parse`
    refuses it for every reader.
    """
    if signed.timestamp is None and any(isinstance(v, CosignatureVerifier) for v in verifiers):
        raise VerificationError(
            "checkpoint carries no verified timestamp by the given timestamp key"
        )


# -- what an entry is about ------------------------------------------------------------


def check_artifact(entry: bytes, artifact: bytes) -> str:
    """Check that a (verified) entry is about ``artifact``; returns how it matched.

    A raw entry matches if it is the artifact itself or its SHA-256 digest (raw bytes or
    lowercase hex, optionally newline-terminated); a Rekor body if a digest it records
    (:func:`tlog.entries.describe.artifact_digests`: the signed file of hashedrekord and
    rekord, the envelope or payload of dsse and intoto) is the artifact's.
    VerificationError otherwise.
    """
    if entry == artifact:
        return "entry is the artifact"
    sha = hashlib.sha256(artifact).digest()
    if entry in (sha, sha.hex().encode(), sha.hex().encode() + b"\n"):
        return "entry is the artifact's SHA-256 digest"
    try:
        load_json(entry, "entry")  # bounded first: hostile JSON is just not a Rekor body
        digests = artifact_digests(entry)
    except TlogError:
        digests = ()
    for d in digests:
        if d.matches(artifact):
            return f"entry records the {d.subject}'s {d.algorithm} digest"
    recorded = ", ".join(f"{d.subject} {d.algorithm}:{d.digest.hex()[:16]}…" for d in digests)
    raise VerificationError(
        f"entry is not about this artifact (sha256 {sha.hex()[:16]}…; "
        f"entry records {recorded or 'no digest tlog knows how to read'})"
    )
