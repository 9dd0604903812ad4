"""audit's index check: rows compared bucket by bucket, segments read in runs of blocks."""

from __future__ import annotations

import threading

import pytest

import tlog.reindex
from tests.index.test_audit_index import reindex, run_audit
from tests.index.test_index_log import KEYS, client, new_log
from tlog.admission import Candidate
from tlog.audit import audit
from tlog.errors import InconsistencyError, VerificationError
from tlog.storage.memory import MemoryStore


def bigger_log() -> MemoryStore:
    """600 index rows: three blocks of a segment."""
    store, seq = new_log()
    for n in (200, 100):
        seq.sequence([Candidate(str(i), f"b{n}-{i}".encode()) for i in range(n)])
    return store


def test_a_repeated_row_is_named_as_such() -> None:
    store = bigger_log()
    reindex(store, lambda rows: sorted([*rows, rows[5]]))
    with pytest.raises(InconsistencyError, match="0 rows missing, 0 extra, 1 repeated"):
        run_audit(store)


@pytest.mark.parametrize("run", [1, 2, 256])
def test_segments_are_read_in_runs_of_blocks(monkeypatch: pytest.MonkeyPatch, run: int) -> None:
    monkeypatch.setattr(tlog.reindex, "RUN", run)
    store = bigger_log()
    assert run_audit(store).index_rows == 600  # type: ignore[attr-defined]
    dropped: list[bytes] = []

    def drop(rows: list[bytes]) -> list[bytes]:
        dropped.append(rows[555])  # in the third block
        return rows[:555] + rows[556:]

    reindex(store, drop)
    with pytest.raises(InconsistencyError, match="1 rows missing, 0 extra") as err:
        run_audit(store)
    assert err.value.evidence["missing"] == [
        f"{dropped[0][:16].hex()}@{int.from_bytes(dropped[0][16:], 'big')}"
    ]


def test_a_run_of_rows_out_of_order_still_compares_by_content() -> None:
    """A segment's run is cut into buckets by binary search, which needs it sorted: one
    that is not (the server is not trusted) is compared by its content all the same."""
    rows = [bytes([i % 251]) + i.to_bytes(4, "big") + bytes(19) for i in range(3000)]
    built = tlog.reindex.Rows()
    built.add(rows)
    published = tlog.reindex.Rows()
    published.add_run(sorted(rows, reverse=True))
    assert built.compare(published) == ([], [], 0)
    shifted = tlog.reindex.Rows()
    shifted.add_run([b"\xff" * 24, *sorted(rows[1:], reverse=True)])
    assert built.compare(shifted) == ([rows[0]], [b"\xff" * 24], 0)


def test_a_failed_audit_stops_the_thread_reading_the_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The published index is read in a thread while the entries are checked: when they
    fail, it reads no further run of the index (it would fetch and hold all of it)."""
    monkeypatch.setattr(tlog.reindex, "RUN", 1)  # three runs of one block
    store = bigger_log()
    bundle = "tile/entries/001.p/44"
    store.objects[bundle] = store.objects[bundle][:-1] + b"?"
    fetcher = client(store).fetcher
    released = threading.Event()
    read: list[str] = []

    class Gated:
        """The first run of the index is read only once the audit has failed."""

        def fetch(self, path: str, limit: int) -> bytes:
            return fetcher.fetch(path, limit)

        def fetch_range(self, path: str, start: int, length: int) -> bytes:
            read.append(path)
            if len(read) == 1:
                released.wait(60)
            return fetcher.fetch_range(path, start, length)

    with pytest.raises(VerificationError, match="not the leaf hash"):
        audit(Gated(), client(store).latest(), KEYS.verifiers())
    threads = [t for t in threading.enumerate() if t.name == "tlog-index"]
    released.set()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert len(read) <= 1  # the run under way when it was stopped, if any
