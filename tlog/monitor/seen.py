"""The leaf hashes a run has read, in fixed memory (docs/monitor.md "Scan").

The duplicate check must not keep every leaf hash a run reads: a run catching up with
a large log would hold the log's hashes in memory. :class:`SeenFilter` is a Bloom
filter of :data:`BITS` bits (32 MiB) whatever the run's length, with three probes per
hash in one 64-byte block, all taken from the hash itself (SHA-256 output is uniform).
A hash added before always hits: no duplicate is missed. A new hash hits with
probability about (1 − e^(−3n/m))³ after n hashes (m = 2^28; a little more, as blocks
fill unevenly): about 10^-6 per entry at n = 10^6, 10^-3 at n = 10^7. The scanner
confirms every hit exactly (the earlier index with the same leaf hash) before it
reports a duplicate, so a false hit costs a look-up, never a false finding.
"""

from __future__ import annotations

import struct

__all__ = ["BITS", "SeenFilter"]

BITS = 1 << 28
#: A 32-byte hash's block (first 32-bit word) and three probes in it (second word).
_PROBES = struct.Struct("<2I24x")


class SeenFilter:
    """A blocked Bloom filter of 32-byte hashes with ``bits`` bits (default
    :data:`BITS`): each hash picks one 64-byte block (a cache line, so one memory read
    per hash) and sets three of its 512 bits."""

    def __init__(self, bits: int | None = None) -> None:
        bits = BITS if bits is None else bits
        if bits < 512 or bits & (bits - 1):
            raise ValueError("a Bloom filter's size is a power of two of at least 512 bits")
        self._bits = bytearray(bits // 8)
        self._blocks = bits // 512 - 1

    def add(self, hashes: bytes) -> list[int]:
        """Add the hashes packed end to end in ``hashes``; the positions of those that
        hit (maybe added before, by this call or an earlier one)."""
        bits, blocks = self._bits, self._blocks
        hits = []
        n = -1
        for a, b in _PROBES.iter_unpack(hashes):
            n += 1
            base = (a & blocks) << 6
            ia, ib, ic = base + (b & 63), base + ((b >> 6) & 63), base + ((b >> 12) & 63)
            ma, mb, mc = 1 << ((b >> 18) & 7), 1 << ((b >> 21) & 7), 1 << ((b >> 24) & 7)
            va = bits[ia]
            if va & ma and bits[ib] & mb and bits[ic] & mc:
                hits.append(n)
            else:  # set each bit afresh: two probes may share a byte
                bits[ia] = va | ma
                bits[ib] |= mb
                bits[ic] |= mc
        return hits
