"""The leaf hashes a run has read, in fixed memory (docs/monitor.md "Scan").

The duplicate check must not keep every leaf hash a run reads: a run catching up with
a large log would hold the log's hashes in memory. :class:`SeenFilter` is a Bloom
filter of :data:`BITS` bits (32 MiB) whatever the run's length, with three probes per
hash taken from the hash itself (SHA-256 output is uniform). A hash added before always
hits: no duplicate is missed. A new hash hits with probability (1 − e^(−3n/m))³ after
n hashes (m = 2^28): about 10^-6 per entry at n = 10^6, 10^-3 at n = 10^7. The scanner
confirms every hit exactly (the earlier index with the same leaf hash) before it
reports a duplicate, so a false hit costs a look-up, never a false finding.
"""

from __future__ import annotations

import struct

__all__ = ["BITS", "SeenFilter"]

BITS = 1 << 28
#: The three probes of a 32-byte hash: its first three 32-bit words.
_PROBES = struct.Struct("<3I20x")


class SeenFilter:
    """A Bloom filter of 32-byte hashes with :data:`BITS` bits."""

    def __init__(self, bits: int | None = None) -> None:
        bits = BITS if bits is None else bits
        if bits < 8 or bits & (bits - 1):
            raise ValueError("a Bloom filter's size is a power of two of at least 8 bits")
        self._bits = bytearray(bits // 8)
        self._mask = bits - 1

    def add(self, hashes: bytes) -> list[int]:
        """Add the hashes packed end to end in ``hashes``; the positions of those that
        hit (maybe added before, by this call or an earlier one)."""
        bits, mask = self._bits, self._mask
        hits = []
        n = -1
        for a, b, c in _PROBES.iter_unpack(hashes):
            n += 1
            a &= mask
            b &= mask
            c &= mask
            ia, ib, ic = a >> 3, b >> 3, c >> 3
            va, ma, mb, mc = bits[ia], 1 << (a & 7), 1 << (b & 7), 1 << (c & 7)
            if va & ma and bits[ib] & mb and bits[ic] & mc:
                hits.append(n)
            else:  # set each bit afresh: two probes may share a byte
                bits[ia] = va | ma
                bits[ib] |= mb
                bits[ic] |= mc
        return hits
