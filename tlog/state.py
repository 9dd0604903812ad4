"""What a reader remembers about each log: the last checkpoint it verified.

docs/design.md "Read side": every newer checkpoint must be proven consistent with the one
remembered, so a log cannot show this reader a rolled-back or forked tree without being
caught. One file per log *and key*: two logs may share an origin (a test log and the
real one, a log re-created with a new key), and each has its own history. The file is
``<root>/<log_dirname(origin)>/<key>/checkpoint``, ``<key>`` naming the log keys it
was verified with (:func:`key_dirname`), and holds the signed note as fetched;
``root`` is ``$XDG_STATE_HOME/tlog`` (default ``~/.local/state/tlog``) unless
``--state-dir`` says otherwise. Writes are atomic (:func:`tlog.xdg.atomic_write`) and
serialised between processes with ``flock``; the remembered size never decreases, and
:meth:`CheckpointState.accept` re-checks under that lock, so two readers racing with
two forks cannot both be believed.

:func:`advance` is the decision itself and does no IO: RFC 9162 §2.1.4.2 consistency
between the remembered and the new checkpoint, with the proof supplied by the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tlog import layout, merkle
from tlog.checkpoint import SignedCheckpoint, evidence, open_checkpoint
from tlog.errors import ConfigError, InconsistencyError, TlogError, VerificationError
from tlog.note import CosignatureVerifier, Verifier
from tlog.xdg import atomic_write, log_dirname, user_dir

# ``evidence`` moved to tlog.checkpoint (it is pure); importable from here until every
# caller imports it from there.
__all__ = ["CheckpointState", "advance", "default_state_dir", "evidence", "key_dirname"]

#: Given (size1, size2), the consistency proof between them in the new tree.
ConsistencyProver = Callable[[int, int], list[bytes]]


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/tlog``, else ``~/.local/state/tlog`` (XDG Base Directory spec)."""
    return user_dir("state")


def key_dirname(verifiers: Sequence[Verifier]) -> str:
    """The folder name of the state kept for these log keys (timestamp keys aside):
    ``key-`` and 16 hex digits of SHA-256 over their sorted vkeys.
    """
    vkeys = sorted(v.vkey() for v in verifiers if not isinstance(v, CosignatureVerifier))
    return "key-" + hashlib.sha256("\n".join(vkeys).encode()).hexdigest()[:16]


def advance(old: SignedCheckpoint | None, new: SignedCheckpoint, prove: ConsistencyProver) -> None:
    """Accept ``new`` after ``old`` only if the tree it commits to extends old's.

    InconsistencyError (with :func:`evidence`) on a rollback (smaller size), a fork
    (same size, other root) or a consistency proof that does not verify.
    """
    if old is None or old.checkpoint.size == 0:
        return
    a, b = old.checkpoint, new.checkpoint
    if a.origin != b.origin:
        raise ConfigError(f"remembered checkpoint is for {a.origin!r}, not {b.origin!r}")
    if b.size < a.size:
        raise InconsistencyError(
            f"log {b.origin} rolled back: checkpoint of size {b.size} after verified size {a.size}",
            evidence=evidence(old, new),
        )
    if b.size == a.size:
        if b.root != a.root:
            raise InconsistencyError(
                f"log {b.origin} forked: two roots for size {a.size} "
                f"({a.root.hex()[:16]}…, {b.root.hex()[:16]}…)",
                evidence=evidence(old, new, []),
            )
        return
    # Failing to *obtain* the proof (a bad tile) is not evidence of a fork: let it out.
    proof = prove(a.size, b.size)
    try:
        merkle.verify_consistency(a.size, b.size, a.root, b.root, proof)
    except VerificationError as exc:
        raise InconsistencyError(
            f"log {b.origin} forked: size {b.size} is not consistent with verified "
            f"size {a.size} ({exc})",
            evidence=evidence(old, new, proof),
        ) from exc


class CheckpointState:
    """The remembered checkpoint of each log (origin and keys) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"CheckpointState({str(self.root)!r})"

    def path(self, origin: str, verifiers: Sequence[Verifier]) -> Path:
        """The state file of the log ``origin`` read with ``verifiers``."""
        return self.root / log_dirname(origin) / key_dirname(verifiers) / "checkpoint"

    def load(self, origin: str, verifiers: Sequence[Verifier]) -> SignedCheckpoint | None:
        """The remembered checkpoint, verified again with ``verifiers``; None if none.

        A state file of an earlier tlog (``<root>/<origin>/checkpoint``, kept by origin
        only) is used when it verifies with these keys, and ignored otherwise.
        """
        path = self.path(origin, verifiers)
        data = _read(path)
        if data is None:
            old = _read(self._unkeyed(origin))
            try:
                return None if old is None else open_checkpoint(old, verifiers, origin)
            except TlogError:
                return None  # another key's state, see others()
        try:
            return open_checkpoint(data, verifiers, origin)
        except TlogError as exc:
            raise ConfigError(
                f"state file {path} does not verify with the given keys ({exc}); "
                "it was written for these keys, so it was damaged or edited: "
                "remove it to trust the log's current checkpoint afresh"
            ) from exc

    def others(self, origin: str, verifiers: Sequence[Verifier]) -> list[Path]:
        """State files of ``origin`` kept for other keys than ``verifiers``: a log with
        this origin was read before with another key (a log re-created with a new key,
        or another log using the same origin).
        """
        own = self.path(origin, verifiers)
        base = self.root / log_dirname(origin)
        found = [p for p in sorted(base.glob("key-*/checkpoint")) if p != own]
        old = self._unkeyed(origin)
        data = _read(old)
        if data is not None:
            try:
                open_checkpoint(data, verifiers, origin)
            except TlogError:
                found.append(old)
        return found

    def accept(
        self, signed: SignedCheckpoint, verifiers: Sequence[Verifier], prove: ConsistencyProver
    ) -> None:
        """Prove ``signed`` consistent with the remembered checkpoint (:func:`advance`) and
        remember it, as one step for concurrent readers: the check is made again under
        the lock against whatever is remembered by then, so a reader that remembered a
        fork (or a larger size) meanwhile makes this raise instead of being overwritten.
        The first check runs unlocked, as it may fetch tiles; the locked one only when
        the state moved in between.
        """
        origin = signed.checkpoint.origin
        seen = self.load(origin, verifiers)
        advance(seen, signed, prove)
        path = self.path(origin, verifiers)
        with self._locked(path):
            current = self.load(origin, verifiers)
            if _tree(current) != _tree(seen):
                advance(current, signed, prove)
            if current is not None and current.format() == signed.format():
                return
            _write(path, signed.format(), "state file")

    def save_evidence(
        self, origin: str, verifiers: Sequence[Verifier], report: dict[str, object]
    ) -> Path:
        """Write ``report`` (JSON-able) next to the log's state; returns its path.

        The name is ``evidence-<UTC time>-<digest of the report>.json``: distinct
        evidence never shares a file, however many forks are seen in one second.
        """
        data = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"evidence-{stamp}-{hashlib.sha256(data).hexdigest()[:16]}.json"
        path = self.path(origin, verifiers).parent / name
        _write(path, data, "evidence file")
        return path

    def _unkeyed(self, origin: str) -> Path:
        return self.root / log_dirname(origin) / "checkpoint"

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path.parent / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot use state directory {path.parent}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _tree(signed: SignedCheckpoint | None) -> tuple[int, bytes] | None:
    return None if signed is None else (signed.checkpoint.size, signed.checkpoint.root)


def _read(path: Path) -> bytes | None:
    """A state file's bytes (bounded), or None if there is none."""
    try:
        with path.open("rb") as f:
            return f.read(layout.MAX_CHECKPOINT_SIZE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read state file {path}: {exc.strerror}") from exc


def _write(path: Path, data: bytes, what: str) -> None:
    if len(data) > layout.MAX_CHECKPOINT_SIZE * 4:
        raise ConfigError(f"refusing to write {len(data)} bytes of state to {path}")
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror}") from exc
