"""Steps 6–8 of the write protocol: apply a committed batch, publish it, clean up.

docs/design.md "The write protocol" and "Round trips". Each step is one round of
parallel requests:

6. **Apply.** Create every object of the staging bundle and ``checkpoints/<size>``
   (create-if-absent: a replay finds identical bytes). With witnesses the note is
   cosigned first, so ``checkpoints/<size>`` waits for the objects and the cosigning.
7. **Publish.** Compare-and-swap ``checkpoint`` unless it already shows this size or
   more (a run that stalled here never rolls it back), against the version read at load
   when it has it (:class:`Pointers`). The batch's index head ``index/heads/<size>``
   was created in step 6: a reader finds it from the checkpoint's size.
8. **Clean.** In the same round, once ``checkpoints/<size>`` holds the note: delete the
   staging bundle and the bundles that can never commit now (a later load that finds
   no bundle for the lock's batch then only publishes, :func:`tlog.staging.committed_bundle`);
   then the consumed queue items, after publishing (a submitter asking :func:`tlog.queue.status`
   finds its item queued or logged, never neither).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from tlog import layout
from tlog.checkpoint import Checkpoint
from tlog.errors import ConflictError, MalformedError, NotFoundError, TlogError
from tlog.note import Note
from tlog.prefetch import Prefetch
from tlog.staging import Staged
from tlog.storage import Store

if TYPE_CHECKING:
    from tlog.witness.client import Witnessing

MAX_ATTEMPTS = 20

#: An object's bytes and version as read (``None``: the object was absent).
Read = tuple[bytes, str | None]


@dataclass(frozen=True)
class Pointers:
    """``checkpoint`` as the load step read it, if it did."""

    checkpoint: Read | None = None


def publish(
    store: Store,
    key: str,
    note: bytes,
    size: int,
    size_of: Callable[[bytes], int],
    limit: int,
    *,
    known: Read | None = None,
) -> None:
    """Make ``note`` (for tree ``size``) the object at ``key`` unless it already shows
    ``size`` or more (``size_of`` reads that from the current bytes; unreadable bytes
    are replaced). ``known``: the object as read earlier (its version saves a read when
    nothing changed since). ConflictError if the object kept changing under us."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt == 0 and known is not None:
            current, version = known
        else:
            try:
                current, version = store.read_versioned(key, limit)
            except NotFoundError:
                current, version = b"", None
        if current:
            try:
                if size_of(current) >= size:
                    return
            except MalformedError:
                pass  # unreadable: replace it with ours
        try:
            store.swap(key, note, version)
            return
        except ConflictError:
            continue
    raise ConflictError(f"could not publish {key} at size {size}: it kept changing")


def checkpoint_size(note: bytes) -> int:
    return Checkpoint.parse(Note.parse(note).text).size


def apply_batch(reads: Prefetch, staged: Staged, size: int, witnessing: Witnessing | None) -> bytes:
    """Step 6: create the batch's objects and ``checkpoints/<size>``; the note as
    published (cosigned, with witnesses)."""
    note = staged.checkpoint
    if witnessing is None or not size:
        reads.run(
            [
                partial(reads.create_many, staged.objects),
                partial(reads.create, layout.history_key(size), note),
            ]
        )
        return note
    if staged.objects:
        reads.create_many(staged.objects)
    note = witnessing.cosign(reads, note, size)  # cosigned before anything is public
    reads.create(layout.history_key(size), note)
    return note


def publish_batch(
    reads: Prefetch,
    staged: Staged,
    note: bytes,
    size: int,
    pointers: Pointers,
    garbage: Sequence[str],
) -> str | None:
    """Steps 7 and 8 after :func:`apply_batch`: publish ``note`` and the batch's index
    head while deleting ``garbage`` (bundles that can never commit) and, unless it
    consumed queue items, its own staging bundle. Queue items go after publishing, and
    then the staging bundle (which names them until then: a load that finds it deletes
    them). The first failure to publish is raised; a clean-up failure is returned."""
    own = [layout.staging_key(size, staged.checkpoint)] if size else []
    calls: list[Callable[[], str | None]] = [
        partial(_publish_checkpoint, reads, note, size, pointers.checkpoint),
    ]
    now = [*garbage] if staged.pending else [*garbage, *own]
    calls.extend(partial(_delete, reads, key) for key in now)
    errors = reads.run(calls)
    if staged.pending:
        errors += reads.run([partial(_delete, reads, key) for key in staged.pending])
        if not any(errors):
            errors += [_delete(reads, k) for k in own]
    return next((e for e in errors if e), None)


def _publish_checkpoint(reads: Prefetch, note: bytes, size: int, known: Read | None) -> None:
    key, limit = layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE
    publish(reads, key, note, size, checkpoint_size, limit, known=known)


def _delete(store: Store, key: str) -> str | None:
    try:
        store.delete(key)
    except TlogError as exc:
        return str(exc)
    return None
