"""``audit`` rebuilds the index from the entries and names every discrepancy."""

from __future__ import annotations

import pytest

from tests.index.test_index_log import KEYS, client, new_log
from tlog import layout
from tlog.admission import Candidate
from tlog.audit import audit
from tlog.errors import InconsistencyError, VerificationError
from tlog.index.head import IndexHead
from tlog.index.lsm import add_rows
from tlog.index.segment import make_row, parse_rows
from tlog.storage.memory import MemoryStore


def signed_log() -> MemoryStore:
    store, seq = new_log()
    for n in (40, 30):
        seq.sequence([Candidate(str(i), f"a{n}-{i}".encode()) for i in range(n)])
    return store


def reindex(store: MemoryStore, change: object) -> None:
    """Replace the latest index by one whose rows ``change`` edits, signed by the log
    (what only an auditor, rebuilding from the entries, can catch)."""
    c = client(store)
    head = c.index_head()
    rows = [r for s in head.segments for r in parse_rows(s, 0, store.objects[s.key])]
    rows = change(rows)  # type: ignore[operator]
    segments, objects = add_rows((), rows, lambda s: [])
    store.objects.update(objects)
    new = IndexHead(head.origin, head.size, head.root, segments).sign(KEYS.signers(int))
    store.objects[layout.index_history_key(head.size)] = new


def run_audit(store: MemoryStore) -> object:
    c = client(store)
    return audit(c.fetcher, c.latest(), KEYS.verifiers())


def test_audit_compares_the_index_with_the_entries() -> None:
    report = run_audit(signed_log())
    assert report.index_rows == 140 and report.index_heads == 2  # type: ignore[attr-defined]


def test_audit_reports_a_missing_row_exactly() -> None:
    store = signed_log()
    dropped: list[bytes] = []

    def drop(rows: list[bytes]) -> list[bytes]:
        dropped.append(rows[17])
        return rows[:17] + rows[18:]

    reindex(store, drop)
    with pytest.raises(InconsistencyError, match="1 rows missing, 0 extra") as err:
        run_audit(store)
    assert err.value.evidence["missing"] == [
        f"{dropped[0][:16].hex()}@{int.from_bytes(dropped[0][16:], 'big')}"
    ]


def test_audit_reports_an_extra_row_exactly() -> None:
    store = signed_log()
    extra = make_row(bytes(16), 3)
    reindex(store, lambda rows: [*rows, extra])
    with pytest.raises(InconsistencyError, match="0 rows missing, 1 extra") as err:
        run_audit(store)
    assert err.value.evidence["extra"] == [f"{'00' * 16}@3"]


def test_audit_refuses_a_history_head_of_another_checkpoint() -> None:
    store = signed_log()
    store.objects[layout.index_history_key(40)] = store.objects[layout.index_history_key(0)]
    with pytest.raises(VerificationError, match="index/heads/40 does not index"):
        run_audit(store)
