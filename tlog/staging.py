"""The staging bundle: everything one batch will publish, in one object.

Written to ``private/staging/<size>-<root>`` *before* the batch's checkpoint is
compare-and-swapped into the lock, so that a sequencer killed after the swap can be
rolled forward by the next run from this object alone.

Format (zstd frame with content checksum) of::

    b"tlog-staging/v1\\n"
    <JSON header: {"checkpoint": <note>, "pending": [keys], "objects": [[key, length], ...]}>\\n
    <object bytes, concatenated in header order>
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import zstandard

from tlog.errors import MalformedError, OversizeError
from tlog.layout import check_key

MAGIC = b"tlog-staging/v1\n"
#: Upper bound on a staged batch, compressed and decompressed.
MAX_STAGED_SIZE = 8 << 30


@dataclass(frozen=True)
class Staged:
    """A batch ready to apply: the signed checkpoint, its objects and consumed pending keys."""

    checkpoint: bytes
    objects: tuple[tuple[str, bytes], ...]
    pending: tuple[str, ...] = ()

    def format(self, level: int = 1) -> bytes:
        header = {
            "checkpoint": self.checkpoint.decode("utf-8"),
            "pending": list(self.pending),
            "objects": [[k, len(v)] for k, v in self.objects],
        }
        parts: list[bytes] = [MAGIC, json.dumps(header, separators=(",", ":")).encode(), b"\n"]
        parts.extend(v for _, v in self.objects)
        raw = b"".join(parts)
        if len(raw) > MAX_STAGED_SIZE:
            raise OversizeError(
                f"batch stages {len(raw)} bytes, over the {MAX_STAGED_SIZE}-byte limit: split it"
            )
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, threads=-1)
        return bytes(cctx.compress(raw))

    @classmethod
    def parse(cls, data: bytes, limit: int = MAX_STAGED_SIZE) -> Staged:
        chunks: list[bytes] = []
        total = 0
        try:
            dctx = zstandard.ZstdDecompressor()
            with dctx.stream_reader(data) as reader:
                # In chunks: read(limit) would allocate the whole bound up front.
                while chunk := reader.read(1 << 20):
                    total += len(chunk)
                    if total > limit:
                        raise OversizeError(f"staging bundle decompresses to over {limit} bytes")
                    chunks.append(chunk)
        except zstandard.ZstdError as exc:
            raise MalformedError(f"staging bundle does not decompress: {exc}") from exc
        raw = b"".join(chunks)
        del chunks
        if not raw.startswith(MAGIC):
            raise MalformedError("staging bundle has no tlog-staging/v1 header")
        nl = raw.find(b"\n", len(MAGIC))
        if nl < 0:
            raise MalformedError("staging bundle header is truncated")
        try:
            header = json.loads(raw[len(MAGIC) : nl])
            note = header["checkpoint"].encode("utf-8")
            pending = tuple(str(check_key(k)) for k in header["pending"])
            layout: Sequence[tuple[str, int]] = [(str(k), int(n)) for k, n in header["objects"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedError(f"staging bundle header is malformed: {exc}") from exc
        pos = nl + 1
        objects: list[tuple[str, bytes]] = []
        for key, length in layout:
            check_key(key)
            if length < 0 or pos + length > len(raw):
                raise MalformedError(f"staging bundle is truncated at object {key!r}")
            objects.append((key, raw[pos : pos + length]))
            pos += length
        if pos != len(raw):
            raise MalformedError(f"staging bundle has {len(raw) - pos} trailing bytes")
        return cls(note, tuple(objects), pending)
