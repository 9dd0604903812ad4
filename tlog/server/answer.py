"""The write server's answers: rekor-tiles' error bodies, and the ``201`` bodies of a batch.

A logged entry is answered with its ``TransparencyLogEntry`` as rekor-tiles returns it
(:func:`entry_json`). :class:`BatchProofs` makes those for a whole batch from one
reading of the tree of the batch's published checkpoint: every hash tile is
authenticated against that checkpoint (:class:`tlog.fetch.tiles.TileReader`) and read
once for the batch, each node hash is computed once, and each entry's proof is then
checked — the entry's leaf hash, through the proof, to the checkpoint's root — before
it is sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from tlog import merkle
from tlog.checkpoint import SignedCheckpoint
from tlog.codec import b64encode
from tlog.errors import VerificationError
from tlog.fetch import Fetcher
from tlog.fetch.tiles import TileReader
from tlog.freeze import FROZEN_MESSAGE
from tlog.sigstore import kind_version

#: gRPC status codes rekor-tiles' HTTP gateway puts in its JSON error bodies.
INVALID_ARGUMENT, ALREADY_EXISTS, UNAVAILABLE, UNKNOWN = 3, 6, 14, 2


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, JSON (or text) body and extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def error(status: int, code: int, message: str) -> Answer:
    """An error as rekor-tiles' gateway writes it: ``{"code", "message", "details"}``."""
    doc = {"code": code, "message": message, "details": []}
    return Answer(status, json.dumps(doc).encode())


def refused(reason: str) -> Answer:
    """``400`` for a request that was not admitted."""
    return error(400, INVALID_ARGUMENT, f"invalid entry: {reason}")


def exists(index: int | None) -> Answer:
    """``409`` for an entry already logged (at ``index``, in header ``x-log-index``)."""
    message = "an equivalent entry already exists in the transparency log"
    if index is None:
        return error(409, ALREADY_EXISTS, message)
    answer = error(409, ALREADY_EXISTS, f"{message} with index {index}")
    return Answer(409, answer.body, (("x-log-index", str(index)),))


FROZEN = Answer(405, (FROZEN_MESSAGE + "\n").encode(), content_type="text/plain")
PUSHBACK = error(503, UNAVAILABLE, "reached max pushback; retry")
DRAINING = error(503, UNAVAILABLE, "server is shutting down; retry")
FAILED = error(500, UNKNOWN, "failed to integrate entry")


def entry_json(
    index: int, body: bytes, proof: Sequence[bytes], at: SignedCheckpoint, key_id: bytes
) -> bytes:
    """The TransparencyLogEntry of ``body`` at ``index`` as rekor-tiles returns it:
    protobuf JSON with unpopulated fields emitted, ``integratedTime`` 0 (Rekor v2 gives
    no integrated time: clients take an RFC 3161 timestamp; our checkpoints carry a
    signed time), no inclusion promise, the inclusion ``proof`` against ``at``."""
    return _EntryWriter(at, key_id).write(index, body, proof)


class _EntryWriter:
    """:func:`entry_json` for many entries of one checkpoint: what they share (key ID,
    root, size, checkpoint note) is encoded once. The bytes are exactly those of
    ``json.dumps(doc, separators=(",", ":"))`` of the document."""

    def __init__(self, at: SignedCheckpoint, key_id: bytes) -> None:
        cp = at.checkpoint
        self.key_id = json.dumps(b64encode(key_id))
        self.tail = f'"rootHash":{json.dumps(b64encode(cp.root))},"treeSize":"{cp.size}","hashes":['
        self.envelope = json.dumps(at.format().decode())
        #: Proof hash → its JSON string: the entries of a batch share most of their paths.
        self._encoded: dict[bytes, str] = {}

    def _encode(self, h: bytes) -> str:
        got = self._encoded[h] = f'"{b64encode(h)}"'
        return got

    def write(self, index: int, body: bytes, proof: Sequence[bytes]) -> bytes:
        kind, version = kind_version(body)
        encoded = self._encoded
        hashes = ",".join([encoded.get(h) or self._encode(h) for h in proof])
        return (
            f'{{"logIndex":"{index}","logId":{{"keyId":{self.key_id}}},'
            f'"kindVersion":{{"kind":{json.dumps(kind)},"version":{json.dumps(version)}}},'
            f'"integratedTime":"0","inclusionPromise":null,'
            f'"inclusionProof":{{"logIndex":"{index}",{self.tail}{hashes}],'
            f'"checkpoint":{{"envelope":{self.envelope}}}}},'
            f'"canonicalizedBody":"{b64encode(body)}"}}'
        ).encode()


class BatchProofs:
    """Inclusion proofs in the tree of one published checkpoint, for many entries.

    :meth:`prepare` reads, in one pass over tiles authenticated against ``at``, every
    node hash the proofs of a run of entries need (the siblings of their paths, and the
    right edge); each proof is then a walk up those levels, and is verified (leaf hash
    through the path to the checkpoint's root) before :meth:`answer` returns it.
    """

    def __init__(self, at: SignedCheckpoint, fetcher: Fetcher, key_id: bytes) -> None:
        self.at = at
        self.size = at.checkpoint.size
        self._tiles = TileReader(at.checkpoint, fetcher)
        self._writer = _EntryWriter(at, key_id)
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._partial: dict[int, bytes] = {}

    def prepare(self, indices: Sequence[int]) -> None:
        """Read the node hashes the proofs of ``indices`` will need, in one pass."""
        size = self.size
        want: set[tuple[int, int]] = set(merkle.range_nodes(0, size))
        for first, last in _runs(indices):
            for level in range(size.bit_length()):
                lo, hi = (first >> level) & ~1, (last >> level) | 1
                want.update((level, j) for j in range(lo, hi + 1) if (j + 1) << level <= size)
        self._read(sorted(want - self._nodes.keys()))

    def _read(self, coords: Sequence[tuple[int, int]]) -> None:
        if coords:
            self._nodes.update(zip(coords, self._tiles.read(coords), strict=True))

    def _right(self, lo: int) -> bytes:
        """The hash of the incomplete subtree ``[lo, size)`` (the right border)."""
        got = self._partial.get(lo)
        if got is None:
            coords = merkle.range_nodes(lo, self.size)
            self._read([c for c in coords if c not in self._nodes])
            got = self._partial[lo] = merkle.fold([self._nodes[c] for c in coords])
        return got

    def proof(self, index: int, body: bytes) -> list[bytes]:
        """The verified audit path of ``body``, logged at ``index`` (RFC 6962 §2.1.1:
        at each level, the sibling's subtree hash when the sibling is in the tree);
        VerificationError if the tree of the checkpoint does not hold ``body`` there."""
        size, nodes = self.size, self._nodes
        if not 0 <= index < size:
            raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
        path: list[bytes] = []
        for level in range((size - 1).bit_length()):
            sibling = (index >> level) ^ 1
            lo = sibling << level
            if lo >= size:
                continue  # no sibling: the node is carried up unchanged
            if lo + (1 << level) <= size:
                node = nodes.get((level, sibling))
                if node is None:
                    self._read([(level, sibling)])
                    node = nodes[(level, sibling)]
                path.append(node)
            else:
                path.append(self._right(lo))
        cp = self.at.checkpoint
        merkle.verify_inclusion(index, size, merkle.leaf_hash(body), path, cp.root)
        return path

    def answer(self, index: int, body: bytes) -> Answer:
        """``201`` with the TransparencyLogEntry of ``body``, logged at ``index``."""
        return Answer(201, self._writer.write(index, body, self.proof(index, body)))


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """``indices`` as runs of consecutive numbers, (first, last) each."""
    runs: list[tuple[int, int]] = []
    for i in sorted(set(indices)):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs
