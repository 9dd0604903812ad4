"""A :class:`~tlog.fetch.Fetcher` over a :class:`~tlog.storage.Store` (folder, S3)."""

from __future__ import annotations

from tlog.layout import check_public
from tlog.storage import Store


class StoreFetcher:
    """Reads the public objects of a log kept in a store; private keys are refused.

    The store's own ``read`` bounds the read (:meth:`tlog.storage.Store.read`).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"StoreFetcher({self.store!r})"

    def fetch(self, path: str, limit: int) -> bytes:
        return self.store.read(check_public(path), limit)

    def fetch_range(self, path: str, start: int, length: int) -> bytes:
        return self.store.read_range(check_public(path), start, length)
