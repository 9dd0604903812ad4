"""The staging bundle: everything one batch will publish, in one object.

Written to ``private/staging/<size>-<sha256 of the signed checkpoint note>``
(:func:`tlog.layout.staging_key`) in step 4 of the write protocol, *before* the batch's
checkpoint is compare-and-swapped into the lock, so that a sequencer killed after the
swap can be rolled forward by the next run from this object alone (docs/design.md
"The write protocol").

Format (zstd frame with content checksum) of::

    b"tlog-staging/v1\\n"
    <JSON header: {"checkpoint": <note>, "pending": [keys], "objects": [[key, length], ...]}>\\n
    <object bytes, concatenated in header order>
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import zstandard

from tlog import layout
from tlog.codec import load_json
from tlog.errors import InconsistencyError, MalformedError, NotFoundError, OversizeError
from tlog.layout import check_key
from tlog.storage import Store

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
        """The compressed bundle, compressed as it is written out (the objects are
        never joined into one uncompressed string)."""
        header = {
            "checkpoint": self.checkpoint.decode("utf-8"),
            "pending": list(self.pending),
            "objects": [[k, len(v)] for k, v in self.objects],
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        total = len(MAGIC) + len(head) + 1 + sum(len(v) for _, v in self.objects)
        if total > MAX_STAGED_SIZE:
            raise OversizeError(
                f"batch stages {total} bytes, over the {MAX_STAGED_SIZE}-byte limit: split it"
            )
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, threads=-1)
        comp = cctx.compressobj(size=total)
        out = [comp.compress(MAGIC), comp.compress(head), comp.compress(b"\n")]
        out.extend(comp.compress(v) for _, v in self.objects)
        out.append(comp.flush())
        return b"".join(out)

    @classmethod
    def parse(cls, data: bytes, limit: int = MAX_STAGED_SIZE) -> Staged:
        """Parse a staging bundle strictly: one whole zstd frame (a truncated frame or
        trailing bytes are refused, before any output is trusted), at most ``limit``
        bytes decompressed, a well-formed header and objects that fill it exactly."""
        raw = _decompress(data, limit)
        if not raw.startswith(MAGIC):
            raise MalformedError("staging bundle has no tlog-staging/v1 header")
        nl = raw.find(b"\n", len(MAGIC))
        if nl < 0:
            raise MalformedError("staging bundle header is truncated")
        note, pending, sizes = _header(load_json(raw[len(MAGIC) : nl], "staging bundle header"))
        pos = nl + 1
        objects: list[tuple[str, bytes]] = []
        for key, length in sizes:
            if pos + length > len(raw):
                raise MalformedError(f"staging bundle is truncated at object {key!r}")
            objects.append((key, raw[pos : pos + length]))
            pos += length
        if pos != len(raw):
            raise MalformedError(f"staging bundle has {len(raw) - pos} trailing bytes")
        return cls(note, tuple(objects), pending)


def committed_bundle(store: Store, size: int, note: bytes) -> Staged | None:
    """The staging bundle of the batch the lock names (its checkpoint ``note`` at
    ``size``), or None if that batch is applied already: its bundle is deleted only
    after that, and the history object ``checkpoints/<size>`` then holds ``note``.
    InconsistencyError if neither (the log cannot be completed from what is stored).
    """
    key = layout.staging_key(size, note)
    try:
        staged = Staged.parse(store.read(key, MAX_STAGED_SIZE))
    except NotFoundError:
        try:
            done = store.read(layout.history_key(size), layout.MAX_CHECKPOINT_SIZE)
        except NotFoundError:
            done = b""
        if not done.startswith(note):  # the published one may add cosignatures
            raise InconsistencyError(
                f"the lock is at size {size} but its staging bundle {key} is missing",
                evidence={"lock": note.decode()},
            ) from None
        return None
    if staged.checkpoint != note:
        raise InconsistencyError(
            f"staging bundle {key} does not hold the lock's checkpoint",
            evidence={"lock": note.decode(), "staged": staged.checkpoint.decode()},
        )
    return staged


def collect(
    store: Store, size: int, note: bytes, listed: list[str] | None = None
) -> tuple[str, ...]:
    """Delete leftovers once the lock's batch (``note`` at ``size``) is published: its
    consumed queue items and bundle, and bundles staged on states the lock has left.
    ``listed``: the staging bundles as listed in the same load (before or after the
    lock was read: a bundle on a state behind the lock can never commit, and one
    listed ahead of it was staged on a state the caller commits over or loses to).

    Returns the bundles ahead of the lock: perhaps a live concurrent run's, so kept
    now, but dead once the caller commits (they were staged on a lock state that the
    commit replaces), when the caller deletes them.
    """
    mine = layout.staging_key(size, note)
    ahead: list[str] = []
    for key in store.list(layout.STAGING_PREFIX) if listed is None else listed:
        try:
            s_size = int(key[len(layout.STAGING_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if key == mine:
            try:
                staged = Staged.parse(store.read(key, MAX_STAGED_SIZE))
            except NotFoundError:
                continue
            for p in staged.pending:
                store.delete(p)
            store.delete(key)
        elif s_size <= size:  # staged on a state the lock has left behind: cannot commit
            store.delete(key)
        else:
            ahead.append(key)
    return tuple(ahead)


def _header(header: object) -> tuple[bytes, tuple[str, ...], list[tuple[str, int]]]:
    """The checkpoint note, pending keys and (key, length) of each object."""
    try:
        if not isinstance(header, dict):
            raise TypeError("not an object")
        note = header["checkpoint"].encode("utf-8")
        pending = tuple(check_key(k) for k in header["pending"])
        sizes = [(check_key(k), n) for k, n in header["objects"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedError(f"staging bundle header is malformed: {exc}") from None
    for key, n in sizes:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise MalformedError(f"staging bundle header: bad length for object {key!r}")
    return note, pending, sizes


def _decompress(data: bytes, limit: int) -> bytes:
    """The content of the one zstd frame that is ``data`` (RFC 8878), bounded."""
    _check_frame_length(data)
    size = zstandard.frame_content_size(data)
    if size > limit:
        raise OversizeError(f"staging bundle decompresses to over {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            # In chunks: read(limit) would allocate the whole bound up front.
            while chunk := reader.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise OversizeError(f"staging bundle decompresses to over {limit} bytes")
                chunks.append(chunk)
    except zstandard.ZstdError as exc:
        raise MalformedError(f"staging bundle does not decompress: {exc}") from None
    if size >= 0 and total != size:
        raise MalformedError(f"staging bundle holds {total} bytes, its frame says {size}")
    return b"".join(chunks)


def _check_frame_length(data: bytes) -> None:
    """Walk the frame's blocks (RFC 8878 section 3.1.1): it must end exactly at the end
    of ``data``, with its content checksum."""
    try:
        pos = zstandard.frame_header_size(data)
        has_checksum = zstandard.get_frame_parameters(data).has_checksum
    except zstandard.ZstdError as exc:
        raise MalformedError(f"staging bundle is not a zstd frame: {exc}") from None
    last = False
    while not last:
        if pos + 3 > len(data):
            raise MalformedError("staging bundle is truncated (zstd block header)")
        header = int.from_bytes(data[pos : pos + 3], "little")
        last, kind, length = bool(header & 1), (header >> 1) & 3, header >> 3
        if kind == 3:
            raise MalformedError("staging bundle has a reserved zstd block type")
        pos += 3 + (1 if kind == 1 else length)
    if not has_checksum:
        raise MalformedError("staging bundle has no content checksum")
    pos += 4
    if pos > len(data):
        raise MalformedError("staging bundle is truncated")
    if pos < len(data):
        raise MalformedError(f"staging bundle has {len(data) - pos} bytes after its frame")
