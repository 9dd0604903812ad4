"""The submission queue: documents waiting for the operator's next ``sequence --pending``.

Object layout (docs/design.md "Object layout"; :mod:`tlog.layout`)::

    private/pending/<time>-<uuid>   a queued document
    private/refused/<time>-<uuid>   why a queued document was refused (JSON {"reason"})
    private/rejected/<time>-<uuid>  the refused document itself (operator only)

``<time>`` is the submission time in nanoseconds (20 digits), so listing order is
submission order and the queue drains fairly: a run takes the oldest items first, and
an earlier submission is never logged after a later one (clocks of different submitting
hosts permitting). ``<uuid>`` is the entry's UUID — the RFC 6962 leaf hash of its
canonical body, as :func:`submit` admits every document before queueing it — so
submitting the same entry again while it waits queues nothing new.

A submitter needs write access to ``private/pending/`` and read access to
``private/pending/``, ``private/refused/`` and the public log: with those alone,
:func:`status` says whether an item is queued, logged (index and UUID) or refused (and
why). The operator's ``private/rejected/`` stays unreadable to submitters.
"""

from __future__ import annotations

import collections
import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from tlog import layout, merkle
from tlog.admission import Admit, Candidate, Outcome, Refused, admit_rekor
from tlog.checkpoint import Checkpoint
from tlog.codec import load_json
from tlog.errors import ConfigError, MalformedError, NotFoundError, OversizeError
from tlog.index.head import MAX_HEAD_SIZE, IndexHead
from tlog.index.writer import known
from tlog.note import Note
from tlog.storage import Store
from tlog.tile import ENTRIES, MAX_BUNDLE_SIZE, TILE_WIDTH, TileId, parse_bundle

#: Largest document ``submit`` queues (the entry admission bound).
MAX_SUBMISSION = 1 << 20
#: Largest refusal record read back.
MAX_REFUSAL = 1 << 16
#: Queue items read at once by :func:`pending_candidates`.
READERS = 16


def public_size(store: Store) -> int:
    """The size of the log's public checkpoint, read as a submitter can (unverified).

    ConfigError if there is no log here.
    """
    try:
        note = store.read(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        raise ConfigError("no log here: run 'tlog init' first") from None
    return Checkpoint.parse(Note.parse(note).text).size


def uuid_of(name: str) -> str:
    """The UUID part of a queue name (``<time>-<uuid>``)."""
    return name.rsplit("-", 1)[-1]


def queued_uuids(store: Store) -> dict[str, str]:
    """UUID → queue name of every waiting item (one listing; pass it to :func:`submit`)."""
    names = (k[len(layout.PENDING_PREFIX) :] for k in store.list(layout.PENDING_PREFIX))
    return {uuid_of(name): name for name in names}


def submit(
    store: Store,
    data: bytes,
    admit: Admit | None = admit_rekor,
    *,
    leaf: bytes | None = None,
    clock: Callable[[], int] = time.time_ns,
    queued: dict[str, str] | None = None,
) -> str:
    """Admit one document and queue it for the next ``sequence --pending``; its key.

    Refused documents raise the TlogError that says why, and nothing is queued
    (``admit=None``: raw entries, queued as they are; ``leaf``: the document was
    admitted already, to these leaf bytes). An entry already waiting in the
    queue is not queued twice: its existing key is returned. ``queued`` is
    :func:`queued_uuids`, for callers submitting many documents (listed once).
    """
    if len(data) > MAX_SUBMISSION:
        raise OversizeError(f"submission is {len(data)} bytes, over {MAX_SUBMISSION}")
    if leaf is None:
        leaf = data if admit is None else admit(data)
    uuid = merkle.leaf_hash(leaf).hex()
    if queued is None:
        queued = queued_uuids(store)
    if uuid in queued:
        return layout.pending_key(queued[uuid])
    name = f"{clock():020d}-{uuid}"
    store.create(layout.pending_key(name), data)
    queued[uuid] = name
    return layout.pending_key(name)


def pending_candidates(
    store: Store, limit: int, *, threads: int = READERS
) -> Iterator[Candidate | Outcome]:
    """Up to ``limit`` queued submissions from ``private/pending/``, oldest first.

    Streamed: the queue is listed once, and items are read ``threads`` at a time, only
    as far ahead of the consumer as that. An item over the submission bound (not
    written by ``submit``) is removed from the queue and reported, so it cannot block
    the queue.
    """
    keys = store.list(layout.PENDING_PREFIX)[:limit]
    with ThreadPoolExecutor(threads, thread_name_prefix="tlog-queue") as pool:
        flight: collections.deque[tuple[str, Future[bytes | None]]] = collections.deque()
        it = iter(keys)
        while True:
            for key in itertools.islice(it, 2 * threads - len(flight)):
                flight.append((key, pool.submit(_queued, store, key)))
            if not flight:
                return
            key, future = flight.popleft()
            source = f"pending:{key[len(layout.PENDING_PREFIX) :]}"
            data = future.result()
            if data is None:
                continue  # taken by a concurrent run
            if len(data) > MAX_SUBMISSION:
                store.delete(key)
                yield Outcome(source, error=f"queue item over {MAX_SUBMISSION} bytes: removed")
                continue
            yield Candidate(source, data, key)


def _queued(store: Store, key: str) -> bytes | None:
    """A queue item's bytes (one byte past the bound if over it); None if it is gone."""
    try:
        return store.read(key, MAX_SUBMISSION)
    except NotFoundError:
        return None
    except OversizeError:
        return b"\0" * (MAX_SUBMISSION + 1)


def taken(store: Store, candidates: Sequence[Candidate]) -> set[str]:
    """Queue items of this batch that are gone from the queue: sequenced by another run.

    Sound because every load finishes the clean-up of every committed batch (its
    queue items are deleted before anything else can commit on top of it), and a
    batch committed after our load makes our swap fail, so we look again.
    """
    mine = {c.pending for c in candidates if c.pending}
    if not mine:
        return set()
    return mine - set(store.list(layout.PENDING_PREFIX))


def reject(
    store: Store, candidates: Sequence[Candidate], leaves: Sequence[bytes | Refused]
) -> None:
    """Move refused queue items aside, so they neither block nor vanish.

    The reason goes where the submitter can read it (``private/refused/``), the
    document where only the operator can (``private/rejected/``).
    """
    for cand, leaf in zip(candidates, leaves, strict=True):
        if cand.pending and isinstance(leaf, Refused):
            name = cand.pending[len(layout.PENDING_PREFIX) :]
            store.write(layout.refused_key(name), json.dumps({"reason": leaf.reason}).encode())
            store.write(layout.REJECTED_PREFIX + name, cand.data)
            store.delete(cand.pending)


# -- status, with a submitter's permissions ---------------------------------------


class Status(NamedTuple):
    """What became of one submission: ``state`` is queued, logged, refused or unknown."""

    state: str
    name: str | None = None
    uuid: str | None = None
    log_index: int | None = None
    reason: str | None = None


def status(store: Store, ref: str) -> Status:
    """The status of a queue item, named by its queue key or by the entry's UUID.

    Queued while in ``private/pending/``; refused when ``private/refused/`` says why;
    otherwise logged if the public log holds the UUID — found through the log's index
    (docs/index.md), or by scanning its bundles from the newest if it has none. The
    public checkpoint and index are read but not verified: ``tlog prove`` verifies.
    """
    ref = ref.removeprefix(layout.PENDING_PREFIX).removeprefix("pending:")
    if not layout.is_key(layout.pending_key(ref)):
        raise MalformedError(f"{ref[:100]!r} is neither a queue key nor a UUID")
    uuid = uuid_of(ref).lower()
    name = ref if "-" in ref else _find_name(store, uuid)
    if name is not None:
        try:
            store.read(layout.pending_key(name), MAX_SUBMISSION)
            return Status("queued", name, uuid)
        except (NotFoundError, OversizeError):
            pass
        reason = _refusal(store, name)
        if reason is not None:
            return Status("refused", name, uuid, reason=reason)
    index = find_leaf(store, uuid)
    if index is not None:
        return Status("logged", name, uuid, index)
    return Status("unknown", name, uuid)


def _find_name(store: Store, uuid: str) -> str | None:
    for prefix in (layout.PENDING_PREFIX, layout.REFUSED_PREFIX):
        for key in store.list(prefix):
            if uuid_of(key) == uuid:
                return key[len(prefix) :]
    return None


def _refusal(store: Store, name: str) -> str | None:
    try:
        data = store.read(layout.refused_key(name), MAX_REFUSAL)
    except NotFoundError:
        return None
    doc = load_json(data, "refusal record")
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return reason if isinstance(reason, str) else "refused (no reason recorded)"


def find_leaf(store: Store, uuid: str) -> int | None:
    """Index of the entry whose leaf hash is ``uuid`` in the published log, or None."""
    try:
        want = bytes.fromhex(uuid)
    except ValueError:
        return None
    size = public_size(store)
    try:
        note = store.read(layout.index_history_key(size), MAX_HEAD_SIZE)
    except NotFoundError:
        return _scan(store, want)
    head = IndexHead.parse(Note.parse(note).text)
    return known(store, head, [want]).get(want)


def _scan(store: Store, want: bytes) -> int | None:
    for first, entries in _bundles_newest_first(store):
        for i, entry in enumerate(entries):
            if merkle.leaf_hash(entry) == want:
                return first + i
    return None


def _bundles_newest_first(store: Store) -> Iterator[tuple[int, list[bytes]]]:
    size = public_size(store)
    for n in range((size - 1) // TILE_WIDTH, -1, -1):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        tid = TileId(ENTRIES, n, width)
        yield n * TILE_WIDTH, parse_bundle(store.read(tid.path(), MAX_BUNDLE_SIZE), width)
