"""Storage: where a log's objects live. One small protocol, one module per backend.

Backends: :mod:`tlog.storage.memory` (tests), :mod:`tlog.storage.folder` (a local
folder) and :mod:`tlog.storage.s3` (any S3-compatible endpoint). The sequencer's crash
safety rests on the contracts below, and one contract test suite checks them on every
backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, Protocol


class Store(Protocol):
    """A flat namespace of objects under one log prefix.

    Keys are validated with :func:`tlog.layout.check_key`. Every mutating call is
    *durable when it returns*: a crash after the return never loses the write, a crash
    before it leaves either the old state or the new one, never a torn object.
    """

    def read(self, key: str, limit: int) -> bytes:
        """The object's bytes. NotFoundError if absent; OversizeError if over ``limit``."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start + length`` of the object (an HTTP Range read, RFC 9110
        §14): exactly ``length`` bytes, or MalformedError if the object ends before
        them. NotFoundError if absent. Used to read one block run of an index segment.
        """
        ...

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        """The object's bytes and an opaque version token for :meth:`swap`."""
        ...

    def create(self, key: str, data: bytes) -> None:
        """Create-if-absent (``If-None-Match: *``).

        If the object exists with identical bytes this is success; with other bytes it
        raises CorruptionError and leaves the object unchanged.
        """
        ...

    def create_file(self, key: str, file: BinaryIO) -> None:
        """:meth:`create` with the bytes of ``file`` (readable and seekable, read from
        offset 0 to its end), streamed: the folder and S3 backends never hold the
        object in memory (a temporary file linked into place; a PUT whose body is the
        file, with ``If-None-Match: *``). Same contract as :meth:`create`: nothing is
        visible under ``key`` until the whole object is; identical existing bytes are
        success, others CorruptionError. Used for big merged index segments
        (docs/index.md "Memory").
        """
        ...

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """:meth:`create` for each item, as one batch: durable when it returns.

        Backends may write the items concurrently and make them durable together
        (one filesystem sync, parallel PUTs); the first error is raised after the
        others have been attempted or abandoned, and every item that was created
        obeys :meth:`create`'s contract.
        """
        ...

    def write(self, key: str, data: bytes) -> None:
        """Create or overwrite unconditionally."""
        ...

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        """Compare-and-swap (``If-Match``): replace the object only if its version is
        ``expect`` (``None``: only if it does not exist). Returns the new version;
        raises ConflictError when another writer got there first.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; absent is success."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...


def check_range(key: str, data: bytes, start: int, length: int) -> bytes:
    """``data`` if it is the whole range asked for; MalformedError if the object was
    shorter (every backend's :meth:`Store.read_range` ends with this)."""
    from tlog.errors import MalformedError

    if start < 0 or length < 0:
        raise MalformedError(f"bad range {start}+{length} of {key!r}")
    if len(data) != length:
        raise MalformedError(
            f"object {key!r} ends before byte {start + length} (got {len(data)} of {length})"
        )
    return data


def file_sha256(file: BinaryIO) -> bytes:
    """SHA-256 of ``file`` from offset 0 to its end, a chunk at a time (how
    :meth:`Store.create_file` compares a big object with the one stored)."""
    import hashlib

    file.seek(0)
    digest = hashlib.sha256()
    while chunk := file.read(1 << 20):
        digest.update(chunk)
    return digest.digest()
