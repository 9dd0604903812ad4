"""The 201 bodies of a batch: proofs from one authenticated read of the tree, and the
TransparencyLogEntry JSON, byte for byte as the document rekor-tiles writes."""

from __future__ import annotations

import json

import pytest

from tlog import merkle
from tlog.admission import Candidate
from tlog.codec import b64encode
from tlog.errors import VerificationError
from tlog.fetch.store import StoreFetcher
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.server.answer import BatchProofs, entry_json
from tlog.sigstore import log_id
from tlog.storage.memory import MemoryStore

KEYS = generate("answer.example/log").keys
KEY_ID = log_id(KEYS.log.verifier())


def grown(batches: list[int]) -> tuple[MemoryStore, Sequencer, list[bytes]]:
    """A log grown by raw batches of the given sizes; its entries."""
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    entries: list[bytes] = []
    for n in batches:
        batch = [f"entry {len(entries) + i}".encode() for i in range(n)]
        seq.sequence([Candidate(str(i), e) for i, e in enumerate(batch)], None)
        entries += batch
    return store, seq, entries


@pytest.mark.parametrize("batches", [[1], [1, 1, 1], [255, 2], [256, 256], [300, 213, 1, 70]])
def test_batch_proofs_are_the_rfc6962_audit_paths(batches: list[int]) -> None:
    store, seq, entries = grown(batches)
    at = seq.recover().checkpoint
    size = at.checkpoint.size
    leaves = [merkle.leaf_hash(e) for e in entries]
    proofs = BatchProofs(at, StoreFetcher(store), KEY_ID)
    last = size - batches[-1]
    proofs.prepare(list(range(last, size)))
    for i in [*range(last, size), 0, size // 2]:  # the batch, and others read on demand
        want = merkle.inclusion_proof(i, size, merkle.leaves_reader(leaves))
        assert proofs.proof(i, entries[i]) == want


def test_a_proof_is_refused_for_an_entry_the_tree_does_not_hold_there() -> None:
    store, seq, entries = grown([5])
    proofs = BatchProofs(seq.recover().checkpoint, StoreFetcher(store), KEY_ID)
    proofs.prepare([0, 1, 2, 3, 4])
    with pytest.raises(VerificationError):
        proofs.proof(3, entries[2])
    with pytest.raises(VerificationError):
        proofs.proof(5, entries[4])


def test_entry_json_is_the_documents_compact_json() -> None:
    _, seq, _ = grown([3])
    at = seq.recover().checkpoint
    body = json.dumps({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {}}).encode()
    proof = [bytes([i]) * 32 for i in range(3)]
    doc = {
        "logIndex": "7",
        "logId": {"keyId": b64encode(KEY_ID)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
        "integratedTime": "0",
        "inclusionPromise": None,
        "inclusionProof": {
            "logIndex": "7",
            "rootHash": b64encode(at.checkpoint.root),
            "treeSize": str(at.checkpoint.size),
            "hashes": [b64encode(h) for h in proof],
            "checkpoint": {"envelope": at.format().decode()},
        },
        "canonicalizedBody": b64encode(body),
    }
    assert entry_json(7, body, proof, at, KEY_ID) == json.dumps(doc, separators=(",", ":")).encode()
    raw = json.loads(entry_json(0, b"raw bytes", [], at, KEY_ID))
    assert raw["kindVersion"] == {"kind": "raw", "version": "0.0.1"}
    assert raw["inclusionProof"]["hashes"] == []
