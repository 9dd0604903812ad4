"""Freezing a log: the signed marker, the protocol against a racing sequencer, the CLI."""

from __future__ import annotations

import json

import pytest
import requests

from tests.server.helpers import Log, make_log, request, running, tlog
from tlog import layout
from tlog.admission import Candidate
from tlog.checkpoint import open_checkpoint
from tlog.errors import InconsistencyError, LogFrozenError, MalformedError, VerificationError
from tlog.freeze import FROZEN_MESSAGE, freeze, frozen_marker
from tlog.frozen import FREEZING, FROZEN, Frozen, check_final, open_frozen
from tlog.keys import generate
from tlog.note import Note
from tlog.sequencer import Sequencer, Watcher
from tlog.storage.memory import MemoryStore

KEYS = generate("freeze.example/log").keys
OTHER = generate("freeze.example/log").keys


def new_log(n: int = 3) -> tuple[MemoryStore, Sequencer]:
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate(f"in{i}", b"entry %d" % i) for i in range(n)])
    return store, seq


def test_freeze_publishes_a_marker_naming_the_final_checkpoint() -> None:
    store, seq = new_log()
    final, already = freeze(store, KEYS, seq.recover)
    assert not already and final.checkpoint.size == 3
    assert store.read(layout.CHECKPOINT, 1 << 20) == final.format()
    assert store.read(layout.LOCK, 1 << 20) == final.format()
    marker = open_frozen(store.read(FROZEN, 1 << 20), KEYS.verifiers(), KEYS.origin)
    assert marker.matches(final) and marker == frozen_marker(store, KEYS)
    check_final(marker, final)
    again, already = freeze(store, KEYS, seq.recover)  # idempotent
    assert already and again.format() == final.format()


def test_a_frozen_log_takes_no_more_entries() -> None:
    store, seq = new_log()
    freeze(store, KEYS, seq.recover)
    with pytest.raises(LogFrozenError, match="frozen, please switch"):
        seq.sequence([Candidate("late", b"late entry")])
    assert seq.recover().checkpoint.checkpoint.size == 3  # reading still works


def test_a_sequencer_racing_the_freeze_loses_its_swap_and_refuses() -> None:
    # The sequencer loaded the lock before the freeze began; the freeze swaps the lock
    # first, so the sequencer's commit loses, it reloads, sees the intent and refuses.
    store, _ = new_log()

    class FreezeBeforeCommit(Watcher):
        def step(self, number: int) -> None:
            if number == 5 and frozen_marker(store, KEYS) is None:
                freeze(store, KEYS, Sequencer(store, KEYS).recover)

    racer = Sequencer(store, KEYS, watcher=FreezeBeforeCommit())
    with pytest.raises(LogFrozenError):
        racer.sequence([Candidate("late", b"late entry")])
    final = open_checkpoint(store.read(layout.CHECKPOINT, 1 << 20), KEYS.verifiers())
    assert final.checkpoint.size == 3
    check_final(frozen_marker(store, KEYS) or pytest.fail("no marker"), final)


def test_an_interrupted_freeze_is_finished_by_running_it_again() -> None:
    store, seq = new_log()
    store.write(FREEZING, b"x")  # a freeze that stopped after step 2
    with pytest.raises(LogFrozenError):
        seq.sequence([Candidate("late", b"late entry")])
    final, already = freeze(store, KEYS, seq.recover)
    assert not already and final.checkpoint.size == 3 and frozen_marker(store, KEYS)


def test_the_marker_is_verified() -> None:
    store, seq = new_log()
    freeze(store, KEYS, seq.recover)
    data = store.read(FROZEN, 1 << 20)
    with pytest.raises(VerificationError):
        open_frozen(data, OTHER.verifiers(), KEYS.origin)
    with pytest.raises(VerificationError):  # another log's origin
        open_frozen(data, KEYS.verifiers(), "other.example/log")
    with pytest.raises(MalformedError):  # a marker is never a checkpoint
        open_checkpoint(data, KEYS.verifiers())
    marker = Frozen.parse(Note.parse(data).text)
    assert Frozen.parse(marker.format()) == marker
    _, grown = new_log(4)
    with pytest.raises(InconsistencyError, match="frozen at size 3"):
        check_final(marker, grown.recover().checkpoint)


@pytest.fixture
def log(tmp_path) -> Log:  # type: ignore[no-untyped-def]
    log = make_log(tmp_path)
    entries = tmp_path / "entries.jsonl"
    entries.write_text(json.dumps(request(0, "freeze")) + "\n")
    tlog("sequence", "--log", str(log.path), "--key", str(log.key), str(entries))
    return log


def test_cli_freeze_loginfo_sequence_and_server(log: Log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reader = ("--log", str(log.path), "--vkey", str(log.vkey), "--state-dir", str(tmp_path))
    tlog("loginfo", *reader)  # a reader who saw the log before it was frozen
    out = tlog("freeze", "--log", str(log.path), "--key", str(log.key)).stdout
    assert "is now frozen at size 1" in out
    assert "Audit passed" in tlog("audit", "--log", str(log.path), "--vkey", str(log.vkey)).stdout
    again = tlog("freeze", "--log", str(log.path), "--key", str(log.key)).stdout
    assert "was already frozen at size 1" in again
    assert "Frozen: yes" in tlog("loginfo", *reader).stdout
    assert json.loads(tlog("loginfo", *reader, "--format", "json").stdout)["frozen"] is True
    entries = tmp_path / "late.jsonl"
    entries.write_text(json.dumps(request(1, "late")) + "\n")
    done = tlog(
        "sequence", "--log", str(log.path), "--key", str(log.key), str(entries), check=False
    )
    assert done.returncode != 0 and FROZEN_MESSAGE in done.stderr
    with running(log, log.key, "--workers", "0", stderr=tmp_path / "err") as server:
        resp = requests.post(f"{server.url}/api/v2/log/entries", json=request(2), timeout=30)
    assert resp.status_code == 405
    assert resp.text == FROZEN_MESSAGE + "\n"


def test_loginfo_of_a_log_that_is_not_frozen(log: Log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reader = ("--log", str(log.path), "--vkey", str(log.vkey), "--state-dir", str(tmp_path))
    assert "Frozen" not in tlog("loginfo", *reader).stdout
    assert json.loads(tlog("loginfo", *reader, "--format", "json").stdout)["frozen"] is False
