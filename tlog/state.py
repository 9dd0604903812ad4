"""What a reader remembers about each log: the last checkpoint it verified.

DESIGN.md "Read side": every newer checkpoint must be proven consistent with the one
remembered, so a log cannot show this reader a rolled-back or forked tree without being
caught. One file per log, ``<root>/<log_dirname(origin)>/checkpoint``, holding the signed
note as fetched; ``root`` is ``$XDG_STATE_HOME/tlog`` (default ``~/.local/state/tlog``)
unless ``--state-dir`` says otherwise. Writes are atomic (temp file, fsync, rename,
directory fsync) and serialised between processes with ``flock``; the remembered size
never decreases, and :meth:`CheckpointState.accept` re-checks under that lock, so two
readers racing with two forks cannot both be believed.

:func:`advance` is the decision itself and does no IO: RFC 9162 §2.1.4.2 consistency
between the remembered and the new checkpoint, with the proof supplied by the caller.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tlog import layout, merkle
from tlog.checkpoint import SignedCheckpoint, open_checkpoint
from tlog.errors import ConfigError, InconsistencyError, TlogError, VerificationError
from tlog.fetch.cache import log_dirname
from tlog.note import Verifier

#: Given (size1, size2), the consistency proof between them in the new tree.
ConsistencyProver = Callable[[int, int], list[bytes]]


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/tlog``, else ``~/.local/state/tlog`` (XDG Base Directory spec)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "tlog"


def evidence(
    first: SignedCheckpoint, second: SignedCheckpoint, proof: Sequence[bytes] | None = None
) -> dict[str, object]:
    """What shows two checkpoints contradict each other: both signed notes (the one
    trusted first, then the other) and, if there is one, the consistency proof from the
    smaller to the larger that fails to verify.
    """
    out: dict[str, object] = {
        "origin": second.checkpoint.origin,
        "checkpoints": [first.format().decode("utf-8"), second.format().decode("utf-8")],
    }
    if proof is not None:
        out["consistency_proof"] = [base64.b64encode(h).decode("ascii") for h in proof]
    return out


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
    """The remembered checkpoint of each log under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"CheckpointState({str(self.root)!r})"

    def path(self, origin: str) -> Path:
        return self.root / log_dirname(origin) / "checkpoint"

    def load(self, origin: str, verifiers: Sequence[Verifier]) -> SignedCheckpoint | None:
        """The remembered checkpoint, verified again with ``verifiers``; None if none."""
        path = self.path(origin)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read state file {path}: {exc.strerror}") from exc
        try:
            return open_checkpoint(data, verifiers, origin)
        except TlogError as exc:
            raise ConfigError(
                f"state file {path} does not verify with the given keys ({exc}); "
                "remove it only if the log's keys really changed"
            ) from exc

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
        path = self.path(origin)
        with self._locked(path):
            current = self.load(origin, verifiers)
            if _tree(current) != _tree(seen):
                advance(current, signed, prove)
            if current is not None and current.format() == signed.format():
                return
            _atomic_write(path, signed.format())

    def save_evidence(self, origin: str, report: dict[str, object], name: str) -> Path:
        """Write ``report`` (JSON-able) next to the log's state; returns its path."""
        path = self.root / log_dirname(origin) / name
        _atomic_write(path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
        return path

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


def _atomic_write(path: Path, data: bytes) -> None:
    if len(data) > layout.MAX_CHECKPOINT_SIZE * 4:
        raise ConfigError(f"refusing to write {len(data)} bytes of state to {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise ConfigError(f"cannot write state file {path}: {exc.strerror}") from exc
