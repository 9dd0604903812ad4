"""C2SP tlog-witness v1 wire formats: the add-checkpoint request, its responses.

Request body (tlog-witness "add-checkpoint")::

    old <size>\\n
    <base64 consistency proof hash>\\n      (0 to 63 lines; none when old is 0)
    \\n
    <signed checkpoint note>

Responses: 200 with one or more cosignature lines (``— <name> <base64>\\n``); 409 with
``<size>\\n`` as ``text/x.tlog.size`` when the old size is not the witness's; 400, 403,
404, 422 otherwise (the status alone says why; tlog sends a one-line reason as text).

Pure: no IO.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tlog import merkle
from tlog.codec import b64decode, b64encode, decimal
from tlog.errors import MalformedError, OversizeError
from tlog.note import MAX_NOTE_SIZE, Note, Signature

#: The add-checkpoint path under a witness's submission prefix.
ADD_CHECKPOINT = "add-checkpoint"
#: The content type of a 409's body (tlog-witness "add-checkpoint").
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: At most 63 proof lines (tlog-witness); bodies are bounded by the note's bound.
MAX_PROOF_LINES = 63
MAX_REQUEST_SIZE = 64 * 1024
MAX_RESPONSE_SIZE = 64 * 1024


def origin_path(origin: str) -> str:
    """``<hex SHA-256(origin)>``: where a witness serves its latest cosigned checkpoint of
    ``origin`` (``GET <monitoring prefix>/<hex>/checkpoint``)."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AddCheckpoint:
    """One add-checkpoint request: the size the client thinks the witness has, the
    consistency proof from it, and the signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.old_size < 1 << 63:
            raise MalformedError(f"old size {self.old_size} out of range")
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedError(f"{len(self.proof)} proof lines, over {MAX_PROOF_LINES}")
        if self.old_size == 0 and self.proof:
            raise MalformedError("a proof from old size 0 must be empty")
        for i, h in enumerate(self.proof):
            if len(h) != merkle.HASH_SIZE:
                raise MalformedError(f"proof line {i} is {len(h)} bytes, want 32")

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body strictly; MalformedError (a 400) when it is not one."""
        if len(body) > MAX_REQUEST_SIZE:
            raise OversizeError(f"request is {len(body)} bytes, over {MAX_REQUEST_SIZE}")
        head, sep, note = body.partition(b"\n\n")
        if not sep:
            raise MalformedError("request has no empty line before the checkpoint")
        lines = head.split(b"\n")
        if not lines[0].startswith(b"old "):
            raise MalformedError("request does not start with an 'old <size>' line")
        old = decimal(lines[0][4:], "old size", max_digits=19)
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise MalformedError(f"{len(lines) - 1} proof lines, over {MAX_PROOF_LINES}")
        proof = tuple(
            b64decode(line.decode("ascii", "replace"), f"proof line {i}")
            for i, line in enumerate(lines[1:])
        )
        if len(note) > MAX_NOTE_SIZE:
            raise OversizeError("checkpoint is too large")
        return cls(old, proof, note)

    def format(self) -> bytes:
        lines = [f"old {self.old_size}", *(b64encode(h) for h in self.proof)]
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint

    def __bytes__(self) -> bytes:
        return self.format()


def format_size(size: int) -> bytes:
    """The body of a 409: the witness's latest cosigned size, then a newline."""
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    """The size in a 409's ``text/x.tlog.size`` body."""
    if not body.endswith(b"\n"):
        raise MalformedError("409 size body does not end with a newline")
    return decimal(body[:-1], "witness size", max_digits=19)


def parse_cosignatures(checkpoint: Note, body: bytes) -> tuple[Signature, ...]:
    """The signature lines of a 200 response, parsed as lines appended to the note
    (tlog-witness: the client MAY concatenate them to the checkpoint). Verifying them
    is the policy's business (:meth:`tlog.policy.Policy.cosigners`).
    """
    if len(body) > MAX_RESPONSE_SIZE:
        raise OversizeError(f"witness response is {len(body)} bytes, over {MAX_RESPONSE_SIZE}")
    if not body or not body.endswith(b"\n"):
        raise MalformedError("witness response holds no newline-terminated signature lines")
    bare = Note(checkpoint.text).format()
    return Note.parse(bare + body).signatures


def add_signatures(note: bytes, signatures: tuple[Signature, ...]) -> bytes:
    """``note`` with ``signatures`` appended after its own lines (its bytes unchanged up
    to there), skipping any (name, key ID) it already carries."""
    parsed = Note.parse(note)
    have = {(s.name, s.key_id) for s in parsed.signatures}
    new = [s for s in signatures if (s.name, s.key_id) not in have]
    return note + "".join(s.line() for s in new).encode("utf-8")
