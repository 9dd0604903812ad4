"""A batch's index rows from key hashes computed at admission (docs/index.md "Writing").

An entry's index rows are its key hashes (:func:`tlog.index.keys.key_hashes`), each
followed by the entry's index. Admission computes the key hashes where each request is
already parsed (the admission workers, :mod:`tlog.admission`) and hands them over with
the leaves as :class:`KeyHashes`, so the sequencer's process makes the rows without
reading each body back: :func:`rows_of_keys` gives exactly the rows
:func:`tlog.index.writer.rows_of` derives from the bodies (tests/index/test_rows.py).
"""

from __future__ import annotations

import array
import itertools
import sys
from collections.abc import Sequence
from typing import NamedTuple

from tlog.index.keys import KEY_HASH_SIZE, joined_key_hashes

__all__ = ["KeyHashes", "concat", "rows_of_keys"]

#: Bytes of a row: a key hash and the entry's index (uint64, big-endian).
_ROW = KEY_HASH_SIZE + 8


class KeyHashes(NamedTuple):
    """The index key hashes of a run of entries: each entry's, joined in entry order,
    and how many each has (uint32; named tuple and array: a chunk of a big batch
    crosses a process boundary as three objects, not one per entry)."""

    joined: bytes
    counts: array.array[int]

    @classmethod
    def of(cls, entries: Sequence[bytes], hashes: Sequence[bytes]) -> KeyHashes:
        """The key hashes of ``entries`` (with their leaf hashes), read from the bodies."""
        parts = list(map(joined_key_hashes, entries, hashes))
        return cls.joined_from(parts)

    @classmethod
    def joined_from(cls, parts: Sequence[bytes]) -> KeyHashes:
        """From each entry's key hashes, joined (:func:`joined_key_hashes`)."""
        counts = array.array("I", [len(p) // KEY_HASH_SIZE for p in parts])
        return cls(b"".join(parts), counts)

    def entry(self, i: int) -> bytes:
        """Entry ``i``'s key hashes, joined (a per-entry walk: for small batches)."""
        first = sum(self.counts[:i]) * KEY_HASH_SIZE
        return self.joined[first : first + self.counts[i] * KEY_HASH_SIZE]

    def select(self, picks: Sequence[int]) -> KeyHashes:
        """The key hashes of the entries at positions ``picks``, in that order."""
        ends = [e * KEY_HASH_SIZE for e in itertools.accumulate(self.counts)]
        starts = [0, *ends[:-1]]
        joined = self.joined
        return KeyHashes(
            b"".join([joined[starts[i] : ends[i]] for i in picks]),
            array.array("I", [self.counts[i] for i in picks]),
        )


def concat(parts: Sequence[KeyHashes]) -> KeyHashes:
    """The key hashes of several runs of entries, one after the other."""
    counts: array.array[int] = array.array("I")
    for p in parts:
        counts.extend(p.counts)
    return KeyHashes(b"".join(p.joined for p in parts), counts)


def rows_of_keys(keys: KeyHashes, start: int) -> list[bytes]:
    """The index rows of entries logged from index ``start`` with these key hashes, in
    no particular order (those of :func:`tlog.index.writer.rows_of`).

    ValueError if the key hashes are not whole 16-byte hashes, as many as the counts
    say (a mismatch must never reach an index)."""
    joined, counts, n = keys.joined, keys.counts, len(keys.counts)
    if len(joined) != sum(counts) * KEY_HASH_SIZE:
        raise ValueError(f"{len(joined)} bytes of key hashes for {sum(counts)} key hashes")
    ats = _indices(start, n)
    first = counts[0] if n else 0
    if not n or counts.count(first) != n:
        out: list[bytes] = []
        pos = 0
        for i, count in enumerate(counts):
            at = ats[8 * i : 8 * i + 8]
            end = pos + count * KEY_HASH_SIZE
            out += [joined[p : p + KEY_HASH_SIZE] + at for p in range(pos, end, KEY_HASH_SIZE)]
            pos = end
        return out
    # Every entry has as many key hashes (a big batch's common case): the rows of the
    # g-th key hash of every entry, made column by column (one slice per byte column,
    # in C) and then cut into rows.
    stride = first * KEY_HASH_SIZE
    out = []
    for g in range(first):
        buf = bytearray(_ROW * n)
        for b in range(KEY_HASH_SIZE):
            buf[b::_ROW] = joined[g * KEY_HASH_SIZE + b :: stride]
        for b in range(8):
            buf[KEY_HASH_SIZE + b :: _ROW] = ats[b::8]
        packed = bytes(buf)
        out += [packed[i : i + _ROW] for i in range(0, len(packed), _ROW)]
    return out


def _indices(start: int, n: int) -> bytes:
    """The indices ``start``… of ``n`` entries, each uint64 big-endian, joined."""
    ats = array.array("Q", range(start, start + n))
    if ats.itemsize != 8:  # pragma: no cover - no such platform in use
        return b"".join(i.to_bytes(8, "big") for i in range(start, start + n))
    if sys.byteorder == "little":
        ats.byteswap()
    return ats.tobytes()
