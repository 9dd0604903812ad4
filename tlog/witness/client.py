"""The sequencer's side of C2SP tlog-witness: get a new checkpoint cosigned.

:meth:`Witnessing.cosign` submits the committed checkpoint to every witness of the
policy that has a URL, all in parallel, each request bounded by ``timeout`` and the
whole round by it too (a slow or dead witness costs one timeout, never more). Each
request carries the consistency proof from the size that witness last cosigned, which
the log remembers in ``private/witnesses`` (a hint: a wrong one costs one more round
trip). Statuses (tlog-witness "add-checkpoint"): 200, keep the cosignature lines by
that witness's key that verify (others are ignored); 409 with ``text/x.tlog.size``,
resend once from the size the witness gives (a witness restarted on older state, or
a first contact); anything else, or a witness ahead of the log, is reported. So a run
with known sizes costs one round trip per batch; the 409 resend is the only other.

The returned note is the log's note with the cosignatures gathered appended.
Fail-closed (the default for a policy with a quorum): VerificationError unless they
satisfy the quorum, and the caller publishes nothing. Fail-open: the note is returned
whatever was gathered, and :attr:`Witnessing.shortfall` says what is missing.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlog import layout, merkle
from tlog.checkpoint import Checkpoint
from tlog.errors import MalformedError, NotFoundError, TlogError, VerificationError
from tlog.fetch.store import StoreFetcher
from tlog.fetch.tiles import TileReader
from tlog.note import Note, Signature
from tlog.policy import Policy, Witness
from tlog.storage import Store
from tlog.witness.protocol import (
    ADD_CHECKPOINT,
    MAX_RESPONSE_SIZE,
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    add_signatures,
    parse_cosignatures,
    parse_size,
)

if TYPE_CHECKING:
    import requests

#: Where the log remembers each witness's last size: JSON {witness vkey: size}.
SIZES_KEY = "private/witnesses"
DEFAULT_TIMEOUT = 10.0

#: ``post(url, body, timeout)`` → (status, content type, body): one HTTP POST.
Post = Callable[[str, bytes, float], tuple[int, str, bytes]]


@dataclass(frozen=True)
class Attempt:
    """What one witness did with the checkpoint."""

    witness: str
    #: ``cosigned``, ``refused`` (an HTTP status), ``invalid`` (a bad answer) or
    #: ``unreachable`` (network error or timeout).
    outcome: str
    detail: str = ""
    #: The witness's size after this attempt, when known.
    size: int | None = None
    signature: Signature | None = None


def http_post(session: requests.Session) -> Post:
    """A :data:`Post` over a requests session (keep-alive), the answer read bounded."""

    def post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        headers = {"content-type": "text/plain; charset=utf-8"}
        with session.post(url, data=body, timeout=timeout, headers=headers, stream=True) as r:
            data = r.raw.read(MAX_RESPONSE_SIZE + 1, decode_content=True)
            return r.status_code, r.headers.get("content-type", ""), data

    return post


class Witnessing:
    """Gets checkpoints cosigned by a policy's witnesses (module docstring)."""

    def __init__(
        self,
        policy: Policy,
        *,
        fail_closed: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        post: Post | None = None,
    ) -> None:
        self.policy = policy
        self.fail_closed = policy.quorum is not None if fail_closed is None else fail_closed
        self.timeout = timeout
        self.witnesses = [w for w in policy.witnesses if w.url]
        if post is None:
            import requests  # only a run that asks witnesses loads it (start-up time)

            post = http_post(requests.Session())
        self._post = post
        #: The attempts of the last :meth:`cosign`, one per witness, in policy order.
        self.attempts: list[Attempt] = []
        #: Why the last :meth:`cosign` fell short of the quorum (fail-open), else None.
        self.shortfall: str | None = None

    def cosign(self, store: Store, note: bytes, size: int) -> bytes:
        """``note`` (committed at ``size`` to the log in ``store``) with the cosignatures
        of the witnesses that gave one (module docstring); if ``checkpoints/<size>``
        already holds it with cosignatures (a run that stopped while publishing), that.
        """
        try:
            done = store.read(layout.history_key(size), layout.MAX_CHECKPOINT_SIZE)
            if done.startswith(note):
                return done
        except NotFoundError:
            pass
        parsed = Note.parse(note)
        cp = Checkpoint.parse(parsed.text)
        sizes = _load_sizes(store)
        proofs = _Proofs(store, cp)
        pool = ThreadPoolExecutor(max(1, len(self.witnesses)), "witness")
        futures = {
            w: pool.submit(self._one, w, note, parsed, cp, sizes.get(w.verifier.vkey(), 0), proofs)
            for w in self.witnesses
        }
        wait(futures.values(), timeout=self.timeout)
        pool.shutdown(wait=False, cancel_futures=True)
        self.attempts = []
        for w, f in futures.items():
            if not f.done():
                self.attempts.append(Attempt(w.name, "unreachable", "timed out"))
            elif (exc := f.exception()) is not None:
                self.attempts.append(Attempt(w.name, "unreachable", str(exc)[:200]))
            else:
                self.attempts.append(f.result())
        for w, a in zip(futures, self.attempts, strict=True):
            if a.size is not None:
                sizes[w.verifier.vkey()] = a.size
        _save_sizes(store, sizes)
        out = add_signatures(note, tuple(a.signature for a in self.attempts if a.signature))
        self._require_quorum(Note.parse(out))
        return out

    def _require_quorum(self, note: Note) -> None:
        cosigned = self.policy.cosigners(note)
        self.shortfall = None
        if self.policy.satisfied(cosigned):
            return
        failed = "; ".join(f"{a.witness}: {a.outcome} {a.detail}".strip() for a in self.attempts)
        self.shortfall = (
            f"{len(cosigned)} cosignatures do not make the quorum {self.policy.quorum} "
            f"({failed or 'no witness has a URL'})"
        )
        if self.fail_closed:
            raise VerificationError(
                f"checkpoint committed but not published: {self.shortfall}; "
                "the next run retries witnessing"
            )

    def _one(
        self, w: Witness, note: bytes, parsed: Note, cp: Checkpoint, old: int, proofs: _Proofs
    ) -> Attempt:
        """One witness: a request, and one resend after a 409 naming another size."""
        url = f"{(w.url or '').rstrip('/')}/{ADD_CHECKPOINT}"
        for _ in range(2):
            if old > cp.size:
                return Attempt(w.name, "refused", f"witness is at size {old}, ahead of us", old)
            body = AddCheckpoint(old, proofs.get(old), note).format()
            try:
                status, ctype, data = self._post(url, body, self.timeout)
            except OSError as exc:  # requests.RequestException is an OSError
                return Attempt(w.name, "unreachable", str(exc)[:200])
            if status == 409 and ctype.split(";")[0].strip() == SIZE_CONTENT_TYPE:
                try:
                    size = parse_size(data)
                except MalformedError as exc:
                    return Attempt(w.name, "invalid", f"409: {exc}")
                if size == old:  # same size, another root: a fork
                    return Attempt(w.name, "refused", f"409 at size {size}: fork?", size)
                old = size
                continue
            if status != 200:
                reason = data[:200].decode("utf-8", "replace").strip()
                return Attempt(w.name, "refused", f"HTTP {status} {reason}".strip())
            return _cosigned(w, parsed, data, cp.size)
        return Attempt(w.name, "refused", f"409 twice (last size {old})", old)


def _cosigned(w: Witness, note: Note, data: bytes, size: int) -> Attempt:
    """The verified cosignature of ``w`` in a 200 answer's lines, if any."""
    try:
        sigs = parse_cosignatures(note, data)
    except MalformedError as exc:
        return Attempt(w.name, "invalid", f"200 with a bad body: {exc}")
    v = w.verifier
    text = note.text.encode("utf-8")
    for sig in sigs:
        if (sig.name, sig.key_id) == (v.name, v.key_id) and v.verify(text, sig.signature):
            return Attempt(w.name, "cosigned", "", size, sig)
    return Attempt(w.name, "invalid", "200 without a valid cosignature by its key", size)


class _Proofs:
    """Consistency proofs to the new checkpoint, from the log's own tiles, once per
    old size (requests run in threads: one lock)."""

    def __init__(self, store: Store, cp: Checkpoint) -> None:
        self._reader = TileReader(cp, StoreFetcher(store))
        self._size = cp.size
        self._done: dict[int, tuple[bytes, ...]] = {}
        self._lock = threading.Lock()

    def get(self, old: int) -> tuple[bytes, ...]:
        if old in (0, self._size):
            return ()
        with self._lock:
            if old not in self._done:
                hashes = merkle.consistency_proof(old, self._size, self._reader.read)
                self._done[old] = tuple(hashes)
            return self._done[old]


def _load_sizes(store: Store) -> dict[str, int]:
    try:
        doc = json.loads(store.read(SIZES_KEY, 1 << 20))
    except (NotFoundError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, int) and v >= 0}


def _save_sizes(store: Store, sizes: dict[str, int]) -> None:
    """Best effort: the sizes are hints (a wrong one costs a 409 and a resend)."""
    with contextlib.suppress(TlogError):
        store.write(SIZES_KEY, (json.dumps(sizes, sort_keys=True) + "\n").encode())
