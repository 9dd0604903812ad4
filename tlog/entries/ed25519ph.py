"""Ed25519ph signature verification (RFC 8032 §5.1, the prehashed variant).

``cryptography`` verifies pure Ed25519 only, but Rekor accepts Ed25519ph for
hashedrekord (``PKIX_ED25519_PH``: the key signs the SHA-512 digest of the artifact with
the ``dom2(1, context)`` prefix). This module verifies such signatures with plain integer
arithmetic on the twisted Edwards curve, written from RFC 8032 §5.1.1–§5.1.7.

Verification is the cofactorless check Go's ``crypto/ed25519`` (which Rekor uses) does:
decode A, require S < L, compute ``R' = [S]B - [k]A`` and compare its encoding with R.
It runs in a few milliseconds (variable time, which is fine for public data); Ed25519ph
entries are rare enough for that.
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_DOM2_PREFIX = b"SigEd25519 no Ed25519 collisions"

# A point in extended homogeneous coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, xy = T/Z.
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _recover_x(y: int, sign: int) -> int | None:
    """The x with the given low bit on the curve at y (RFC 8032 §5.1.3), if any."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _decode(encoded: bytes) -> _Point | None:
    n = int.from_bytes(encoded, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _encode(point: _Point) -> bytes:
    x, y, z, _ = point
    z_inv = pow(z, _P - 2, _P)
    x, y = x * z_inv % _P, y * z_inv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _add(p: _Point, q: _Point) -> _Point:
    """Point addition (RFC 8032 §5.1.4); complete, so it also doubles."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
assert _BX is not None
_BASE: _Point = (_BX, _BY, 1, _BX * _BY % _P)


def _double_scalar_mul(s: int, p: _Point, k: int, q: _Point) -> _Point:
    """[s]P + [k]Q by one left-to-right pass over both scalars (Straus)."""
    both = _add(p, q)
    acc = _IDENTITY
    for i in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        acc = _add(acc, acc)
        bits = (s >> i & 1, k >> i & 1)
        if bits == (1, 1):
            acc = _add(acc, both)
        elif bits == (1, 0):
            acc = _add(acc, p)
        elif bits == (0, 1):
            acc = _add(acc, q)
    return acc


def verify(public_key: bytes, signature: bytes, digest: bytes, context: bytes = b"") -> bool:
    """True iff ``signature`` is an Ed25519ph signature by ``public_key`` over ``digest``.

    ``digest`` is PH(M) = SHA-512(M), 64 bytes; ``context`` is at most 255 bytes
    (Sigstore uses the empty context).
    """
    if len(public_key) != 32 or len(signature) != 64 or len(digest) != 64 or len(context) > 255:
        return False
    a = _decode(public_key)
    if a is None:
        return False
    r_enc, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    dom2 = _DOM2_PREFIX + bytes([1, len(context)]) + context
    k = int.from_bytes(hashlib.sha512(dom2 + r_enc + public_key + digest).digest(), "little") % _L
    x, y, z, t = a
    minus_a: _Point = (_P - x, y, z, _P - t)
    return _encode(_double_scalar_mul(s, _BASE, k, minus_a)) == r_enc
