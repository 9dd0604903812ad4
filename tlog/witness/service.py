"""The witness itself: what it answers to an add-checkpoint request, and its state.

For every log its policy lists (by origin, with the log's keys), the witness keeps the
latest checkpoint it cosigned, as a signed note under ``<hex SHA-256(origin)>/checkpoint``
in a :class:`~tlog.storage.Store`: a folder (temp file, fsync, rename; ``flock`` for
the swap) or an S3 object (``If-Match``), so the witness process itself holds no state.

:meth:`Witness.add_checkpoint` follows C2SP tlog-witness "add-checkpoint", in order:
malformed body → 400 (oversize → 413); unknown origin → 404; no trusted log signature
verifies → 403; old size above the checkpoint's → 400; old size not the recorded one,
or the same size with another root → 409 with the recorded size as
``text/x.tlog.size``; a consistency proof that does not verify → 422; otherwise 200
with one cosignature line.

Never two checkpoints of one size: the check against the recorded state and the new
record are one compare-and-swap (a lost swap re-reads and re-checks), and the
cosignature is released only after the record holding it is durable. A crash at any
moment leaves either the old record (nothing was released) or the new one, so a fork
or a rollback is refused after any restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tlog import merkle
from tlog.checkpoint import Checkpoint
from tlog.errors import (
    ConflictError,
    MalformedError,
    NotFoundError,
    OversizeError,
    VerificationError,
)
from tlog.note import CosignatureSigner, Note, Signature, open_note
from tlog.policy import Policy
from tlog.storage import Store
from tlog.witness.protocol import (
    SIZE_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    AddCheckpoint,
    format_size,
    origin_path,
)

#: Lost compare-and-swaps (another process of the same witness) before giving up.
MAX_ATTEMPTS = 10
STATE_LIMIT = 1 << 20


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE


def _text(status: int, message: str) -> Reply:
    return Reply(status, (message + "\n").encode("utf-8"))


def _size(size: int) -> Reply:
    return Reply(409, format_size(size), SIZE_CONTENT_TYPE)


def state_key(origin: str) -> str:
    """The state object of ``origin``, named like its monitoring path."""
    return f"{origin_path(origin)}/checkpoint"


class Witness:
    """A C2SP tlog-witness over one cosigning key, a policy's logs and a state store.

    Safe to share between threads (one lock per origin) and between processes on one
    state (the compare-and-swap).
    """

    def __init__(self, signer: CosignatureSigner, policy: Policy, state: Store) -> None:
        if not policy.logs:
            raise MalformedError("the witness policy lists no log")
        self.signer = signer
        self.policy = policy
        self.state = state
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, origin: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(origin, threading.Lock())

    def checkpoint(self, origin_hex: str) -> bytes | None:
        """The latest cosigned checkpoint of the origin whose SHA-256 is ``origin_hex``."""
        if len(origin_hex) != 64 or any(c not in "0123456789abcdef" for c in origin_hex):
            return None
        try:
            return self.state.read(f"{origin_hex}/checkpoint", STATE_LIMIT)
        except NotFoundError:
            return None

    def add_checkpoint(self, body: bytes) -> Reply:
        """Answer one add-checkpoint request body (module docstring)."""
        try:
            req = AddCheckpoint.parse(body)
            note = Note.parse(req.checkpoint)
            cp = Checkpoint.parse(note.text)
        except OversizeError as exc:
            return _text(413, f"request too large: {exc}")
        except MalformedError as exc:
            return _text(400, f"malformed request: {exc}")
        keys = self.policy.log_verifiers(cp.origin)
        if not keys:
            return _text(404, f"unknown log {cp.origin!r}")
        try:
            verified = open_note(req.checkpoint, keys)
        except (VerificationError, MalformedError) as exc:
            return _text(403, f"checkpoint signature: {exc}")
        if req.old_size > cp.size:
            return _text(400, f"old size {req.old_size} is above the checkpoint's {cp.size}")
        log_sigs = tuple(sig for _, sig in verified.signed_by)
        with self._lock(cp.origin):
            for _ in range(MAX_ATTEMPTS):
                try:
                    return self._advance(req, note, cp, log_sigs)
                except ConflictError:
                    continue
        return _text(503, "the witness state kept changing: try again")

    def _recorded(self, origin: str) -> tuple[Checkpoint | None, str | None]:
        """The latest cosigned checkpoint of ``origin`` and its state version."""
        try:
            data, version = self.state.read_versioned(state_key(origin), STATE_LIMIT)
        except NotFoundError:
            return None, None
        return Checkpoint.parse(Note.parse(data).text), version

    def _advance(
        self, req: AddCheckpoint, note: Note, cp: Checkpoint, log_sigs: tuple[Signature, ...]
    ) -> Reply:
        """Check ``req`` against the record and swap in the new one (ConflictError when
        another writer swapped first: the caller re-reads)."""
        have, version = self._recorded(cp.origin)
        have_size = have.size if have is not None else 0
        if req.old_size != have_size:
            return _size(have_size)
        if have is not None and have.size == cp.size and have.root != cp.root:
            return _size(have_size)
        if req.old_size == cp.size and req.proof:
            return _text(422, "the consistency proof between equal sizes must be empty")
        if have is not None and 0 < have.size < cp.size:
            try:
                merkle.verify_consistency(have.size, cp.size, have.root, cp.root, req.proof)
            except (VerificationError, MalformedError) as exc:
                return _text(422, f"consistency proof from {have.size} does not verify: {exc}")
        text = note.text.encode("utf-8")
        cosig = Signature(self.signer.name, self.signer.key_id, self.signer.sign(text))
        record = Note(note.text, (*log_sigs, cosig)).format()
        self.state.swap(state_key(cp.origin), record, version)  # durable before release
        return Reply(200, cosig.line().encode("utf-8"))
