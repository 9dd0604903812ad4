"""A Store wrapper that fails or "kills" its caller at one chosen operation.

Operation ``n`` (counting every call, reads included; each item of a ``create_many``
counts as one) either raises before it reaches the inner store, or after it landed:

* ``fail-*`` raises StorageError, as a backend outage would;
* ``kill-*`` raises :class:`Killed`, a BaseException nothing in tlog catches, as if
  the process died there (the test then carries on with a fresh sequencer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from tlog.errors import StorageError
from tlog.storage import Store

MODES = ("fail-before", "fail-after", "kill-before", "kill-after")


class Killed(BaseException):
    """The simulated death of the sequencer process."""


class FaultyStore:
    def __init__(self, inner: Store, at: int | None = None, mode: str = "fail-before") -> None:
        assert mode in MODES
        self.inner = inner
        self.at = at
        self.mode = mode
        self.ops: list[str] = []

    def _fire(self, name: str, key: str) -> None:
        when = self.mode.split("-")[1]
        if self.mode.startswith("kill"):
            raise Killed(f"killed {when} {name} {key}")
        raise StorageError(f"injected failure {when} {name} {key}")

    def _call(self, name: str, key: str, fn, *args):  # type: ignore[no-untyped-def]
        hit = self.at == len(self.ops)
        self.ops.append(f"{name} {key}")
        if hit and self.mode.endswith("before"):
            self._fire(name, key)
        out = fn(*args)
        if hit and self.mode.endswith("after"):
            self._fire(name, key)
        return out

    def read(self, key: str, limit: int) -> bytes:
        return self._call("read", key, self.inner.read, key, limit)  # type: ignore[no-any-return]

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return self._call("read_range", key, self.inner.read_range, key, start, length)  # type: ignore[no-any-return]

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        return self._call("read_versioned", key, self.inner.read_versioned, key, limit)  # type: ignore[no-any-return]

    def create(self, key: str, data: bytes) -> None:
        self._call("create", key, self.inner.create, key, data)

    def create_file(self, key: str, file: BinaryIO) -> None:
        self._call("create_file", key, self.inner.create_file, key, file)

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        for key, data in items:
            self.create(key, data)

    def write(self, key: str, data: bytes) -> None:
        self._call("write", key, self.inner.write, key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        return self._call("swap", key, self.inner.swap, key, data, expect)  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        self._call("delete", key, self.inner.delete, key)

    def list(self, prefix: str) -> list[str]:
        return self._call("list", prefix, self.inner.list, prefix)  # type: ignore[no-any-return]
