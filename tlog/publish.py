"""Publishing a signed pointer object (``checkpoint``, ``index/head``), never backwards.

Step 7 of the write protocol (docs/design.md "The write protocol"): the object is
compare-and-swapped, so a run that stalled between its commit and its publishing can
never roll the public object back over a newer run's.
"""

from __future__ import annotations

from collections.abc import Callable

from tlog.errors import ConflictError, MalformedError, NotFoundError
from tlog.storage import Store

MAX_ATTEMPTS = 20


def publish(
    store: Store, key: str, note: bytes, size: int, size_of: Callable[[bytes], int], limit: int
) -> None:
    """Make ``note`` (for tree ``size``) the object at ``key`` unless it already shows
    ``size`` or more (``size_of`` reads that from the current bytes; unreadable bytes
    are replaced). ConflictError if the object kept changing under us."""
    for _ in range(MAX_ATTEMPTS):
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
