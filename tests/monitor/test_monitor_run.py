"""What must hold of a monitor run: exact matches once per delivery, and each attack
caught with its kind (issue 10 "What must hold")."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.index.signing import identity
from tests.monitor.logs import Harness, Log, keys
from tlog import layout
from tlog.index.head import IndexHead
from tlog.index.lsm import add_rows
from tlog.index.segment import make_row, parse_rows
from tlog.monitor.delivery import DeliveryError

ALICE, BOB = identity("alice@example.com"), identity("bob@example.com")
WATCH = f"""
monitoredValues:
  certIdentities:
    - certSubject: ^alice@example\\.com$
      issuers: [^https://issuer\\.example$]
  fingerprints: [{BOB.spki_sha256.upper()}]
  digests: ["sha256:{hashlib.sha256(b"watched").hexdigest()}"]
"""


def matches(h: Harness) -> list[tuple[int | None, str]]:
    return [(f.index, f.matched[0]["rule"]) for f in h.found if f.kind == "match"]


def test_matches_are_exact_across_runs_and_restarts(tmp_path: Path) -> None:
    log = Log()
    log.raw(b"plain", b"watched")
    log.signed((ALICE, b"a1"), (BOB, b"b1"), (identity("carol@example.com"), b"c1"))
    h = Harness(log, tmp_path, WATCH)
    assert h.run().findings == ["match", "match", "match"]
    assert matches(h) == [(1, "digest"), (2, "certIdentity"), (3, "fingerprint")]
    assert h.run().findings == []  # a second run (a restart): nothing again
    log.signed((ALICE, b"a2"))
    log.raw(b"other")
    assert h.run().findings == ["match"]
    assert matches(h)[-1] == (5, "certIdentity")
    assert h.run().findings == []


def test_a_failing_hook_is_retried_on_the_next_run(tmp_path: Path) -> None:
    log = Log()
    log.signed((ALICE, b"a1"))
    h = Harness(log, tmp_path, WATCH, fail_hook=True)
    with pytest.raises(DeliveryError):
        h.run()
    h.fail_hook = False
    h.run()
    assert [f.index for f in h.found] == [0]
    h.run()
    assert [f.index for f in h.found] == [0]


def test_identity_without_its_issuer_does_not_match(tmp_path: Path) -> None:
    log = Log()
    log.signed((ALICE, b"a1"))
    text = "monitoredValues:\n  certIdentities:\n    - certSubject: alice\n      issuers: [other]\n"
    h = Harness(log, tmp_path, text)
    assert h.run().findings == []


def test_a_fork_is_caught_with_both_checkpoints(tmp_path: Path) -> None:
    log, fork = Log(), Log()
    log.raw(b"a", b"b")
    fork.raw(b"a", b"c")
    h = Harness(log, tmp_path)
    h.run()
    h.log = fork
    assert h.run().findings == ["fork"]
    assert len(h.found[0].evidence["checkpoints"]) == 2


def test_a_rolled_back_checkpoint_is_caught(tmp_path: Path) -> None:
    log = Log()
    log.raw(b"a")
    old = log.store.objects[layout.CHECKPOINT]
    log.raw(b"b")
    h = Harness(log, tmp_path)
    h.run()
    log.store.objects[layout.CHECKPOINT] = old
    assert h.run().findings == ["rollback"]


def test_a_split_view_between_two_sources_is_caught(tmp_path: Path) -> None:
    log, fork = Log(), Log()
    log.raw(b"a", b"b", b"c")
    fork.raw(b"a", b"x")
    h = Harness(log, tmp_path, also=["mirror"], others={"mirror": fork.store})
    assert h.run().findings == ["split-view"]
    assert h.found[0].evidence["source"] == "mirror"


def test_a_split_view_with_a_saved_checkpoint_is_caught(tmp_path: Path) -> None:
    log, fork = Log(), Log()
    log.raw(b"a", b"b")
    fork.raw(b"a", b"x")
    saved = tmp_path / "witnessed"
    saved.write_bytes(fork.store.objects[layout.CHECKPOINT])
    h = Harness(log, tmp_path, also=[str(saved)])
    assert h.run().findings == ["split-view"]
    honest = tmp_path / "honest"
    honest.write_bytes(log.store.objects[layout.CHECKPOINT])
    assert Harness(log, tmp_path / "2", also=[str(honest)]).run().findings == []


@pytest.mark.parametrize("path", ["tile/entries/000.p/3", "tile/0/000.p/3"])
def test_a_tampered_bundle_or_tile_is_an_error(tmp_path: Path, path: str) -> None:
    log = Log()
    log.raw(b"a", b"b", b"c")
    data = bytearray(log.store.objects[path])
    data[-1] ^= 1
    log.store.objects[path] = bytes(data)
    h = Harness(log, tmp_path)
    result = h.run()
    assert "error" in result.findings and result.scanned == 0


def test_an_invalid_entry_slipped_into_the_log_is_caught(tmp_path: Path) -> None:
    log = Log()
    log.signed((ALICE, b"a1"))
    log.raw(b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}', b"raw bytes")
    h = Harness(log, tmp_path)
    assert h.run().findings == ["invalid-entry"]
    assert h.found[0].index == 1
    strict = Harness(log, tmp_path / "strict")
    assert strict.run(rekor_only=True).findings == ["invalid-entry", "invalid-entry"]


def test_a_duplicate_entry_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = Log()
    log.raw(*[b"e%d" % i for i in range(300)])
    h = Harness(log, tmp_path)
    assert h.run().findings == []
    # A log that forgot to dedup against its index (the last bundle is checked apart):
    # an entry of an earlier bundle logged again.
    monkeypatch.setattr("tlog.index.writer.known", lambda store, head, hashes: {})
    log.raw(b"new", b"e3")
    assert h.run().findings == ["duplicate"]
    assert (h.found[0].index, h.found[0].evidence["first_index"]) == (301, 3)
    fresh = Harness(log, tmp_path / "fresh")
    assert fresh.run().findings == ["duplicate"]


def reindex(log: Log, change: object) -> None:
    """Replace the latest index by one whose rows ``change`` edits, signed by the log."""
    c = Harness(log, Path("/nonexistent")).client(state=False)
    head = c.index_head()
    rows = [r for s in head.segments for r in parse_rows(s, 0, log.store.objects[s.key])]
    segments, objects = add_rows((), change(rows), lambda s: [])  # type: ignore[operator]
    log.store.objects.update(objects)
    new = IndexHead(head.origin, head.size, head.root, segments).sign(keys(log.origin).signers(int))
    log.store.objects[layout.index_history_key(head.size)] = new


@pytest.mark.parametrize("attack", ["omit", "add"])
def test_an_index_that_omits_or_adds_an_entry_is_caught(tmp_path: Path, attack: str) -> None:
    log = Log()
    log.raw(b"a", b"b")
    h = Harness(log, tmp_path)
    h.run()
    log.signed((ALICE, b"a1"), (BOB, b"b1"))
    if attack == "omit":
        reindex(log, lambda rows: [r for r in rows if int.from_bytes(r[16:], "big") != 3])
    else:
        reindex(log, lambda rows: [*rows, make_row(bytes(16), 2)])
    assert h.run().findings == ["index-mismatch"]
    evidence = h.found[0].evidence
    assert evidence["missing" if attack == "omit" else "extra"]
    assert h.run().findings == []  # reported once, then the index is known to be checked


def test_interval_runs_report_each_new_match_once_and_retry_a_failed_hook(
    tmp_path: Path,
) -> None:
    log = Log()
    log.signed((ALICE, b"a0"))
    h = Harness(log, tmp_path, WATCH)
    notes: list[str] = []
    steps = iter(
        [
            lambda: log.signed((ALICE, b"a1"), (BOB, b"b1")),
            lambda: setattr(h, "fail_hook", True) or log.raw(b"watched"),
            lambda: setattr(h, "fail_hook", False),
            lambda: None,
        ]
    )
    monitor = h.monitor(note=notes.append)
    results = list(monitor.loop(300, sleep=lambda s: next(steps)(), runs=5))
    assert [r.findings for r in results] == [["match"], ["match", "match"], [], ["match"], []]
    assert matches(h) == [
        (0, "certIdentity"),
        (1, "certIdentity"),
        (2, "fingerprint"),
        (3, "digest"),
    ]
    assert len(notes) == 1 and "hook failed" in notes[0]


@pytest.mark.parametrize("attack", ["none", "omit", "add"])
def test_the_index_check_folded_in_worker_processes_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attack: str
) -> None:
    # A run too large to keep its rows folds them in worker processes (small limits
    # here stand for a big catch-up); the verdict must be the same.
    monkeypatch.setattr("tlog.monitor.scan.POOL_MIN", 1)
    monkeypatch.setattr("tlog.monitor.rows.DETAIL_ROWS", 1)
    log = Log()
    log.raw(*[b"r%d" % i for i in range(600)])
    if attack == "omit":
        reindex(log, lambda rows: [r for r in rows if int.from_bytes(r[16:], "big") != 333])
    elif attack == "add":
        reindex(log, lambda rows: [*rows, make_row(bytes(16), 2)])
    h = Harness(log, tmp_path)
    assert h.run().findings == ([] if attack == "none" else ["index-mismatch"])
    if attack != "none":
        evidence = h.found[0].evidence
        assert "missing" not in evidence  # too many rows to name them: counts only
        assert evidence["expected_rows"] == 1200
        assert evidence["published_rows"] == (1198 if attack == "omit" else 1201)
