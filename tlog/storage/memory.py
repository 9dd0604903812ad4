"""An in-memory :class:`~tlog.storage.Store` for tests and tools."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import BinaryIO

from tlog.errors import ConflictError, CorruptionError, NotFoundError, OversizeError
from tlog.layout import check_key
from tlog.storage import check_range


class MemoryStore:
    """Objects in a dict; the version token is the SHA-256 of the bytes plus a counter."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._versions: dict[str, str] = {}
        self._counter = 0
        self._lock = threading.Lock()

    def _set(self, key: str, data: bytes) -> str:
        self._counter += 1
        version = f"{self._counter}-{hashlib.sha256(data).hexdigest()[:16]}"
        self.objects[key] = bytes(data)
        self._versions[key] = version
        return version

    def read(self, key: str, limit: int) -> bytes:
        return self.read_versioned(key, limit)[0]

    def read_range(self, key: str, start: int, length: int) -> bytes:
        check_key(key)
        with self._lock:
            if key not in self.objects:
                raise NotFoundError(f"no object {key!r}")
            data = self.objects[key]
        return check_range(key, data[start : start + length], start, length)

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        check_key(key)
        with self._lock:
            if key not in self.objects:
                raise NotFoundError(f"no object {key!r}")
            data, version = self.objects[key], self._versions[key]
        if len(data) > limit:
            raise OversizeError(f"object {key!r} is {len(data)} bytes, over the {limit} limit")
        return data, version

    def create(self, key: str, data: bytes) -> None:
        check_key(key)
        with self._lock:
            old = self.objects.get(key)
            if old is None:
                self._set(key, data)
            elif old != data:
                raise CorruptionError(f"immutable object {key!r} exists with different bytes")

    def create_file(self, key: str, file: BinaryIO) -> None:
        file.seek(0)
        self.create(key, file.read())

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        for key, data in items:
            self.create(key, data)

    def write(self, key: str, data: bytes) -> None:
        check_key(key)
        with self._lock:
            self._set(key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        check_key(key)
        with self._lock:
            if self._versions.get(key) != expect:
                raise ConflictError(f"{key!r} changed under us (compare-and-swap lost)")
            return self._set(key, data)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self.objects.pop(key, None)
            self._versions.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))
