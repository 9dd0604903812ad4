"""A :class:`~tlog.fetch.Fetcher` over a :class:`~tlog.storage.Store` (folder, S3)."""

from __future__ import annotations

from pathlib import Path

from tlog.layout import check_public
from tlog.storage import Store


class StoreFetcher:
    """Reads the public objects of a log kept in a store; private keys are refused.

    The store's own ``read`` bounds the read (:meth:`tlog.storage.Store.read`). Over a
    folder it pickles as the folder's path alone (for the audit's worker processes,
    :mod:`tlog.bundlecheck`): never the store's locks, temp files or file maker.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"StoreFetcher({self.store!r})"

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        from tlog.storage.folder import FolderStore

        if type(self.store) is FolderStore:
            return _over_folder, (self.store.root,)
        return StoreFetcher, (self.store,)

    def fetch(self, path: str, limit: int) -> bytes:
        return self.store.read(check_public(path), limit)

    def fetch_range(self, path: str, start: int, length: int) -> bytes:
        return self.store.read_range(check_public(path), start, length)


def _over_folder(root: Path) -> StoreFetcher:
    """A fetcher over a fresh store of the folder ``root`` (an unpickled one)."""
    from tlog.storage.folder import FolderStore

    return StoreFetcher(FolderStore(root))
