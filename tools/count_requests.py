"""Request counts per batch: every store call of the real Sequencer over a counting
in-memory store (the cost table of docs/operating.md, section 8).

Usage: python tools/count_requests.py

A log of 70,000 raw entries, then 512 batches of 1, 256 of 100 and 14 of 10,000 entries;
prints the average GET, PUT, DELETE and LIST requests per batch by kind of object.
"""

from __future__ import annotations

from collections import Counter

from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.memory import MemoryStore

#: Objects counted by their first two path segments; the rest by their first.
_TWO_SEGMENTS = ("checkpoints/covers", "index/", "private/")
GRID = ((1, 512), (100, 256), (10_000, 14))


class CountingStore(MemoryStore):
    """A memory store that counts each request as S3 would bill it (create_many is one
    PUT per object: it calls create; read is one GET: it calls read_versioned)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[str, str]] = Counter()

    def _count(self, op: str, key: str) -> None:
        parts = key.split("/")
        kind = "/".join(parts[:2]) if key.startswith(_TWO_SEGMENTS) else parts[0]
        self.calls[(op, kind)] += 1

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        self._count("GET", key)
        return super().read_versioned(key, limit)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        self._count("GET", key)
        return super().read_range(key, start, length)

    def create(self, key: str, data: bytes) -> None:
        self._count("PUT", key)
        super().create(key, data)

    def write(self, key: str, data: bytes) -> None:
        self._count("PUT", key)
        super().write(key, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        self._count("PUT", key)
        return super().swap(key, data, expect)

    def delete(self, key: str) -> None:
        self._count("DELETE", key)
        super().delete(key)

    def list(self, prefix: str) -> list[str]:
        self._count("LIST", prefix)
        return super().list(prefix)


def main() -> None:
    store = CountingStore()
    seq = Sequencer(store, generate("cost.example/log").keys)
    seq.init()
    size = 70_000
    seq.sequence([Candidate("", b"%016d" % i) for i in range(size)])
    for batch, runs in GRID:
        store.calls.clear()
        for _ in range(runs):
            seq.sequence([Candidate("", b"e%d-%016d" % (batch, size + i)) for i in range(batch)])
            size += batch
        per = {k: c / runs for k, c in sorted(store.calls.items())}
        print(f"batch of {batch:,}:")
        for (op, kind), c in per.items():
            print(f"  {op:6} {kind:22} {c:9.3f}")
        for op in ("PUT", "GET", "DELETE", "LIST"):
            print(f"  {op:6} {'total':22} {sum(c for (o, _), c in per.items() if o == op):9.3f}")


if __name__ == "__main__":
    main()
