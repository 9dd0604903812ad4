"""The staging bundle: round trip, and every way a damaged or hostile one is refused."""

from __future__ import annotations

import json

import pytest
import zstandard

from tlog.errors import MalformedError, OversizeError
from tlog.staging import MAGIC, Staged

BUNDLE = Staged(
    b"log.example/x\n3\nroot\n\n- sig\n",
    (("tile/0/000.p/3", b"h" * 96), ("tile/entries/000.p/3", b"e" * 40)),
    ("private/pending/00000000000000000001-" + "ab" * 32,),
)


def frame(raw: bytes, **kw: object) -> bytes:
    return bytes(zstandard.ZstdCompressor(write_checksum=True, **kw).compress(raw))  # type: ignore[arg-type]


def with_header(header: object, body: bytes = b"") -> bytes:
    return frame(MAGIC + json.dumps(header).encode() + b"\n" + body)


def test_round_trip() -> None:
    assert Staged.parse(BUNDLE.format()) == BUNDLE
    assert Staged.parse(Staged(b"n\n", ()).format()) == Staged(b"n\n", ())


def test_truncated_anywhere_is_refused() -> None:
    data = BUNDLE.format()
    for cut in range(len(data)):
        with pytest.raises(MalformedError):
            Staged.parse(data[:cut])


def test_trailing_bytes_after_the_frame_are_refused() -> None:
    data = BUNDLE.format()
    for extra in (b"\x00", b"junk", data):
        with pytest.raises(MalformedError, match="after its frame"):
            Staged.parse(data + extra)


def test_trailing_bytes_inside_the_frame_are_refused() -> None:
    raw = zstandard.ZstdDecompressor().decompress(BUNDLE.format())
    with pytest.raises(MalformedError, match="trailing bytes"):
        Staged.parse(frame(raw + b"x"))


def test_a_flipped_byte_is_refused() -> None:
    data = bytearray(BUNDLE.format())
    data[len(data) // 2] ^= 0x40
    with pytest.raises(MalformedError):
        Staged.parse(bytes(data))


def test_a_frame_without_checksum_is_refused() -> None:
    raw = zstandard.ZstdDecompressor().decompress(BUNDLE.format())
    plain = zstandard.ZstdCompressor(write_checksum=False).compress(raw)
    with pytest.raises(MalformedError, match="checksum"):
        Staged.parse(plain)


def test_decompression_bomb_is_refused_before_decompressing() -> None:
    bomb = frame(b"\x00" * (64 << 20))  # 64 MiB of zeros in a few kilobytes
    assert len(bomb) < 64 << 10
    with pytest.raises(OversizeError):
        Staged.parse(bomb, limit=1 << 20)


def test_decompression_bomb_without_a_declared_size_is_refused() -> None:
    cctx = zstandard.ZstdCompressor(write_checksum=True, write_content_size=False)
    writer = cctx.chunker(chunk_size=1 << 16)
    bomb = b"".join([*writer.compress(MAGIC + b"{}\n" + b"\x00" * (8 << 20)), *writer.finish()])
    assert zstandard.frame_content_size(bomb) == -1
    with pytest.raises(OversizeError):
        Staged.parse(bomb, limit=1 << 20)


@pytest.mark.parametrize(
    "header",
    [
        {"checkpoint": "n", "pending": ["../private/lock"], "objects": []},
        {"checkpoint": "n", "pending": ["/etc/passwd"], "objects": []},
        {"checkpoint": "n", "pending": [], "objects": [["tile/../../x", 0]]},
        {"checkpoint": "n", "pending": [], "objects": [["", 0]]},
        {"checkpoint": "n", "pending": [], "objects": [[7, 0]]},
        {"checkpoint": "n", "pending": [None], "objects": []},
    ],
    ids=[
        "pending-climbs",
        "pending-absolute",
        "object-climbs",
        "object-empty",
        "key-number",
        "key-null",
    ],
)
def test_bad_keys_are_refused(header: dict[str, object]) -> None:
    with pytest.raises(MalformedError):
        Staged.parse(with_header(header))


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ([], b""),
        ({"pending": [], "objects": []}, b""),
        ({"checkpoint": 5, "pending": [], "objects": []}, b""),
        ({"checkpoint": "n", "pending": [], "objects": [["tile/0/000", -1]]}, b""),
        ({"checkpoint": "n", "pending": [], "objects": [["tile/0/000", True]]}, b"x"),
        ({"checkpoint": "n", "pending": [], "objects": [["tile/0/000", 1.0]]}, b"x"),
        ({"checkpoint": "n", "pending": [], "objects": [["tile/0/000", 5]]}, b"abc"),
        ({"checkpoint": "n", "pending": [], "objects": [["tile/0/000"]]}, b""),
    ],
    ids=[
        "not-object",
        "no-checkpoint",
        "checkpoint-number",
        "negative-length",
        "bool-length",
        "float-length",
        "object-truncated",
        "no-length",
    ],
)
def test_bad_headers_are_refused(header: object, body: bytes) -> None:
    with pytest.raises(MalformedError):
        Staged.parse(with_header(header, body))


def test_no_magic_or_no_header_line_is_refused() -> None:
    with pytest.raises(MalformedError, match="header"):
        Staged.parse(frame(b"tlog-staging/v2\n{}\n"))
    with pytest.raises(MalformedError, match="truncated"):
        Staged.parse(frame(MAGIC + b'{"checkpoint": "n"'))
    with pytest.raises(MalformedError):
        Staged.parse(frame(MAGIC + b"[" * 100_000 + b"\n"))
