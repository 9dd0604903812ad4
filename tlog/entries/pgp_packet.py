"""OpenPGP wire format: ASCII armor, packet framing, signature subpackets (RFC 4880).

The byte-level layer under :mod:`tlog.entries.pgp`, which gives these bytes meaning:

* ASCII armor (§6): decode with CRC-24 check; encode in the layout Rekor's Go library
  (ProtonMail go-crypto ``armor.Encode``) writes: header line, blank line, 64-column
  base64, ``=`` CRC line, footer line without a final newline.
* Packets (§4.2): old and new headers with definite lengths (no partial lengths),
  written back with new-format headers as go-crypto serializes them.
* Signature subpackets (§5.2.3.1), refusing critical ones that are not understood.

Every malformed input is a one-line :class:`~tlog.errors.MalformedError`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from tlog.codec import b64decode, b64encode
from tlog.errors import MalformedError

# Hashed subpackets whose meaning is understood (or harmless to ignore) when critical.
_KNOWN_SUBPACKETS = {2, 3, 4, 5, 7, 9, 11, 16, 21, 22, 23, 25, 26, 27, 28, 30, 31, 32, 33, 34, 35}

_ARMOR_BEGIN = re.compile(rb"^-----BEGIN PGP ([A-Z ,0-9/]+)-----$")

# --- ASCII armor (§6) ---------------------------------------------------------------


def crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (RFC 4880 §6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(label: str, data: bytes) -> bytes:
    """Armor ``data`` as go-crypto's ``armor.Encode`` does (no headers, with CRC)."""
    text = b64encode(data).encode()
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    crc = b64encode(crc24(data).to_bytes(3, "big")).encode()
    head = label.encode("ascii")
    return (
        b"-----BEGIN "
        + head
        + b"-----\n\n"
        + lines
        + b"\n="
        + crc
        + b"\n-----END "
        + head
        + b"-----"
    )


def is_armored(data: bytes) -> bool:
    """True if ``data`` starts (after whitespace) with an OpenPGP armor header line."""
    return data.lstrip().startswith(b"-----BEGIN PGP ")


def dearmor(data: bytes, labels: set[str], path: str) -> bytes:
    """The binary content of all armored blocks in ``data`` (each labelled one of ``labels``)."""
    lines = [ln.rstrip(b"\r").strip() for ln in data.split(b"\n")]
    out = bytearray()
    i = 0
    found = False
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        m = _ARMOR_BEGIN.match(lines[i])
        if m is None:
            raise MalformedError(f"{path}: unexpected text outside the OpenPGP armor")
        label = m.group(1).decode("ascii")
        if label not in labels:
            raise MalformedError(
                f"{path}: armored PGP {label}, expected {' or '.join(sorted(labels))}"
            )
        i += 1
        while i < len(lines) and lines[i]:  # armor headers (Version:, Comment:, ...)
            if b": " not in lines[i]:
                break
            i += 1
        body: list[bytes] = []
        checksum: bytes | None = None
        end = b"-----END PGP " + m.group(1) + b"-----"
        while i < len(lines) and lines[i] != end:
            if lines[i].startswith(b"=") and len(lines[i]) == 5:
                checksum = lines[i][1:]
            elif lines[i]:
                body.append(lines[i])
            i += 1
        if i == len(lines):
            raise MalformedError(f"{path}: armored PGP {label} has no end line")
        i += 1
        try:
            block = b64decode(b"".join(body).decode("latin-1"), f"armored PGP {label}")
        except MalformedError:
            raise MalformedError(f"{path}: armored PGP {label} has invalid base64") from None
        crc = b64encode(crc24(block).to_bytes(3, "big")).encode()
        if checksum is not None and crc != checksum:
            raise MalformedError(f"{path}: armored PGP {label} fails its CRC-24 checksum")
        out += block
        found = True
    if not found:
        raise MalformedError(f"{path}: no OpenPGP armor found")
    return bytes(out)


# --- packets (§4.2) and subpackets (§5.2.3.1) -----------------------------------------


@dataclass(frozen=True)
class Packet:
    """One OpenPGP packet: its tag and body."""

    tag: int
    body: bytes

    def serialize(self) -> bytes:
        """The packet with a new-format header (RFC 4880 §4.2.2), as go-crypto writes it."""
        n = len(self.body)
        if n < 192:
            length = bytes([n])
        elif n < 8384:
            length = bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
        else:
            length = b"\xff" + struct.pack(">I", n)
        return bytes([0xC0 | self.tag]) + length + self.body


def read_packets(data: bytes, path: str) -> list[Packet]:
    """Split binary OpenPGP data into packets (definite lengths only)."""
    packets = []
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise MalformedError(f"{path}: not OpenPGP data (bad packet header at byte {pos})")
        pos += 1
        if head & 0x40:
            tag = head & 0x3F
            if pos >= len(data):
                raise MalformedError(f"{path}: truncated OpenPGP packet header")
            length, pos = _new_length(data, pos, 224, path, "OpenPGP packet header")
        else:
            tag, kind = (head >> 2) & 0x0F, head & 0x03
            if kind == 3:
                raise MalformedError(
                    f"{path}: indeterminate-length OpenPGP packets are not supported"
                )
            size = 1 << kind
            if pos + size > len(data):
                raise MalformedError(f"{path}: truncated OpenPGP packet header")
            length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
        if pos + length > len(data):
            raise MalformedError(f"{path}: truncated OpenPGP packet (tag {tag})")
        packets.append(Packet(tag, data[pos : pos + length]))
        pos += length
    if not packets:
        raise MalformedError(f"{path}: empty OpenPGP data")
    return packets


def _new_length(data: bytes, pos: int, two_octet_end: int, path: str, what: str) -> tuple[int, int]:
    """The length starting at ``data[pos]`` and the position after it: one octet below
    192, two from 192 up to ``two_octet_end``, five (0xFF, then 32 bits) at 255 — the
    new-format packet length (§4.2.2: 224..254 are partial lengths, refused) and the
    subpacket length (§5.2.3.1: two octets up to 254), of ``what`` in ``path``."""
    first = data[pos]
    if first < 192:
        return first, pos + 1
    if first < two_octet_end:
        if pos + 1 >= len(data):
            raise MalformedError(f"{path}: truncated {what}")
        return ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
    if first == 255:
        if pos + 5 > len(data):
            raise MalformedError(f"{path}: truncated {what}")
        return int(struct.unpack(">I", data[pos + 1 : pos + 5])[0]), pos + 5
    raise MalformedError(f"{path}: partial-length OpenPGP packets are not supported")


class Reader:
    """Reads the fields of one packet body, failing with a named error when it is short."""

    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedError(f"{self.path}: truncated OpenPGP packet")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def mpi(self) -> bytes:
        bits = int.from_bytes(self.take(2), "big")
        return self.take((bits + 7) // 8)

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)


def subpackets(area: bytes, path: str, hashed: bool) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(area):
        length, pos = _new_length(area, pos, 255, path, "signature subpacket")
        if length == 0 or pos + length > len(area):
            raise MalformedError(f"{path}: malformed signature subpacket")
        kind, data = area[pos], area[pos + 1 : pos + length]
        pos += length
        critical, kind = kind & 0x80, kind & 0x7F
        if hashed and critical and kind not in _KNOWN_SUBPACKETS:
            raise MalformedError(f"{path}: critical signature subpacket {kind} is not understood")
        out.append((kind, data))
    return out
