"""The write server's dedup from segment rows kept in memory: the same answer as the
index reader's (tlog.index.writer.known), whatever is kept, and never a false hit."""

from __future__ import annotations

import random

import pytest

from tlog import merkle
from tlog.admission import Candidate
from tlog.index import writer as index_writer
from tlog.index.head import IndexHead
from tlog.index.keys import key_hash
from tlog.index.segment import build, make_row
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.server.dedup import SegmentRows
from tlog.storage.memory import MemoryStore

KEYS = generate("dedup.example/log").keys


def grown(batches: int, size: int) -> tuple[MemoryStore, Sequencer, list[bytes]]:
    """A raw log of ``batches`` batches (several live index segments); its entries."""
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    entries: list[bytes] = []
    for b in range(batches):
        batch = [f"entry {b} {i}".encode() for i in range(size)]
        seq.sequence([Candidate(str(i), e) for i, e in enumerate(batch)], None)
        entries += batch
    return store, seq, entries


def head_of(store: MemoryStore, seq: Sequencer) -> IndexHead:
    cp = seq.recover().checkpoint.checkpoint
    return index_writer.load(store, KEYS.verifiers(), cp)


@pytest.mark.parametrize("max_rows", [2_000_000, 300, 0])  # all kept, some, none
def test_known_is_the_index_readers_answer(max_rows: int) -> None:
    store, seq, entries = grown(7, 37)
    head = head_of(store, seq)
    assert len(head.segments) > 1
    rng = random.Random(max_rows)
    logged = [merkle.leaf_hash(e) for e in rng.sample(entries, 40)]
    new = [merkle.leaf_hash(f"new {i}".encode()) for i in range(40)]
    hashes = logged + new
    rng.shuffle(hashes)
    memo = SegmentRows(max_rows)
    want = index_writer.known(store, head, hashes)
    assert len(want) == 40
    assert memo.known(store, head, hashes) == want
    assert memo.known(store, head, hashes) == want  # and again, from memory


def test_a_row_whose_entry_has_another_leaf_hash_is_no_hit() -> None:
    store, seq, entries = grown(1, 5)
    head = head_of(store, seq)
    absent = merkle.leaf_hash(b"never logged")
    wrong = make_row(key_hash("uuid", absent.hex()), 2)  # a lying or colliding row
    right = merkle.leaf_hash(entries[3])
    rows = sorted([wrong, make_row(key_hash("uuid", right.hex()), 3)])
    info, data = build(rows)
    store.create(info.key, data)
    fake = IndexHead(head.origin, head.size, head.root, (info,))
    assert SegmentRows().known(store, fake, [absent, right]) == {right: 3}
