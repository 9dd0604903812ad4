"""Freezing a log: its last checkpoint becomes final and no sequencer appends again.

The protocol (docs/design.md "Freezing a log"), with the lock's compare-and-swap as the
only coordination, as in the write protocol:

1. Publish any batch already committed (the sequencer's recovery).
2. Write the intent, :data:`tlog.frozen.FREEZING`. A sequencer checks for it (and for the
   marker) *after* reading the lock in its load step, so one that misses it read the
   lock before the intent existed: at most one such batch can still commit.
3. Re-sign the lock's checkpoint (same size and root, a new timestamp) and swap it into
   the lock. Winning the swap means no sequencer holding an older lock version can
   commit; losing means a batch slipped in: publish it and go back to 3.
4. Publish that final checkpoint, then create the immutable marker
   :data:`tlog.frozen.FROZEN` naming it. Readers (``loginfo``) verify the marker.

Every step is idempotent: a freeze that stops half-way is finished by running it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tlog import layout
from tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from tlog.errors import ConflictError, LogFrozenError, NotFoundError
from tlog.frozen import FREEZING, FROZEN, Frozen, open_frozen
from tlog.keys import LogKeys
from tlog.note import sign
from tlog.storage import Store

MAX_ATTEMPTS = 20

#: What a writer is told when the log is frozen (rekor-tiles' words for its 405).
FROZEN_MESSAGE = "This log has been frozen, please switch to the latest log."


def _exists(store: Store, key: str) -> bool:
    try:
        store.read(key, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        return False
    return True


def refuse_if_frozen(store: Store) -> None:
    """LogFrozenError if the log is frozen or being frozen (called by the sequencer's
    load step after it has read the lock)."""
    if _exists(store, FREEZING) or _exists(store, FROZEN):
        raise LogFrozenError(FROZEN_MESSAGE)


def frozen_marker(store: Store, keys: LogKeys) -> Frozen | None:
    """The log's verified frozen marker, or None if it is not (yet) frozen."""
    try:
        data = store.read(FROZEN, layout.MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        return None
    return open_frozen(data, keys.verifiers(), keys.origin)


def freeze(
    store: Store,
    keys: LogKeys,
    recover: Callable[[], object],
    clock: Callable[[], float] = time.time,
) -> tuple[SignedCheckpoint, bool]:
    """Freeze the log; returns its final checkpoint and whether it was frozen already.

    ``recover`` publishes a committed batch (:meth:`tlog.sequencer.Sequencer.recover`).
    """
    verifiers = keys.verifiers()
    marker = frozen_marker(store, keys)
    if marker is not None:
        public = store.read(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
        return open_checkpoint(public, verifiers, keys.origin), True
    recover()
    store.write(FREEZING, b"freezing: no new batches (tlog freeze)\n")
    for _ in range(MAX_ATTEMPTS):
        recover()
        note, version = store.read_versioned(layout.LOCK, layout.MAX_CHECKPOINT_SIZE)
        lock = open_checkpoint(note, verifiers, keys.origin)
        prev = lock.timestamp or 0
        cp = lock.checkpoint
        final = sign(
            Checkpoint(cp.origin, cp.size, cp.root).format(),
            keys.signers(_fixed(max(int(clock()), prev))),
        ).format()
        try:
            store.swap(layout.LOCK, final, version)
        except ConflictError:
            continue
        signed = open_checkpoint(final, verifiers, keys.origin)
        _publish(store, final)
        store.create(FROZEN, Frozen.of(signed).sign(keys.signers(lambda: 0)))
        return signed, False
    raise ConflictError("could not freeze the log: its lock kept changing")


def _fixed(when: int) -> Callable[[], int]:
    return lambda: when


def _publish(store: Store, final: bytes) -> None:
    """Make ``final`` the public checkpoint (same size as the one there, or newer)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            _, version = store.read_versioned(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            version = None
        try:
            store.swap(layout.CHECKPOINT, final, version)
            return
        except ConflictError:
            continue
    raise ConflictError("could not publish the final checkpoint: it kept changing")
