"""Client: checkpoint verification, remembered state (rollback, fork), integrated time
through the covers objects, proofs, lookup by UUID."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tlog import layout, merkle
from tlog.checkpoint import log_origin
from tlog.client import Client
from tlog.errors import (
    ConfigError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.fetch.cache import DiskTileCache
from tlog.fetch.store import StoreFetcher
from tlog.keys import generate
from tlog.note import Ed25519Signer, sign
from tlog.state import CheckpointState

from .conftest import BuiltLog, MakeLog


class Overlay:
    """A fetcher over a log's store with some objects replaced (None: absent)."""

    def __init__(self, log: BuiltLog, overrides: dict[str, bytes | None] | None = None) -> None:
        self.inner = StoreFetcher(log.store)
        self.overrides = dict(overrides or {})
        self.fetched: list[str] = []

    def fetch(self, path: str, limit: int) -> bytes:
        self.fetched.append(path)
        if path in self.overrides:
            data = self.overrides[path]
            if data is None:
                raise NotFoundError(f"no object {path}")
            return data
        return self.inner.fetch(path, limit)


def client(log: BuiltLog, tmp_path: Path, fetcher: object = None, **kw: object) -> Client:
    return Client(
        fetcher or StoreFetcher(log.store),  # type: ignore[arg-type]
        log.verifiers,
        state=CheckpointState(tmp_path / "state"),
        cache=DiskTileCache(tmp_path / "cache", log.origin),
        **kw,  # type: ignore[arg-type]
    )


def history(log: BuiltLog, size: int) -> bytes:
    return log.store.read(layout.history_key(size), 1 << 20)


def test_latest_remembered_and_advanced(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100, 200))
    c = client(log, tmp_path)
    assert c.latest().checkpoint.size == 300
    state = CheckpointState(tmp_path / "state")
    assert state.load(log.origin, log.verifiers).checkpoint.size == 300  # type: ignore[union-attr]
    log.append(50)
    assert client(log, tmp_path).size == 350
    assert state.load(log.origin, log.verifiers).checkpoint.size == 350  # type: ignore[union-attr]


def test_state_of_an_earlier_tlog_still_guards_its_log(make_log: MakeLog, tmp_path: Path) -> None:
    # Kept by origin only (<root>/<origin>/checkpoint): used when it verifies with the
    # keys, so upgrading forgets no history; another key's such file is only reported.
    from tlog.xdg import log_dirname

    log = make_log((100, 200))
    old = tmp_path / "state" / log_dirname(log.origin) / "checkpoint"
    old.parent.mkdir(parents=True)
    old.write_bytes(log.checkpoints[-1].format())
    stale = Overlay(log, {"checkpoint": history(log, 100)})
    with pytest.raises(InconsistencyError, match="rolled back"):
        client(log, tmp_path, stale).latest()
    other = make_log((1,), origin=log.origin, key_type="ecdsa-p256")
    state = CheckpointState(tmp_path / "state")
    assert state.load(other.origin, other.verifiers) is None
    assert state.others(other.origin, other.verifiers) == [old]
    assert state.others(log.origin, log.verifiers) == []


def test_rollback_is_an_inconsistency_with_evidence(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100, 200))
    client(log, tmp_path).latest()
    stale = Overlay(log, {"checkpoint": history(log, 100)})
    with pytest.raises(InconsistencyError, match=r"rolled back.*size 100.*size 300") as info:
        client(log, tmp_path, stale).latest()
    notes = info.value.evidence["checkpoints"]
    assert isinstance(notes, list) and len(notes) == 2
    assert notes[1] == history(log, 100).decode()
    # The state did not move backwards.
    assert client(log, tmp_path).size == 300


def test_fork_same_size(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100, 200))
    fork = make_log((100, 200), tag="-fork")
    client(log, tmp_path).latest()
    with pytest.raises(InconsistencyError, match="forked: two roots for size 300") as info:
        client(fork, tmp_path).latest()
    assert len(info.value.evidence["checkpoints"]) == 2  # type: ignore[arg-type]


def test_fork_larger_fails_the_consistency_proof(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100, 200))
    fork = make_log((100, 250), tag="-fork")
    client(log, tmp_path).latest()
    with pytest.raises(InconsistencyError, match="not consistent with verified size 300") as info:
        client(fork, tmp_path).latest()
    ev = info.value.evidence
    assert ev["consistency_proof"] and len(ev["checkpoints"]) == 2  # type: ignore[arg-type]
    json.dumps(ev)  # publishable as is


def test_fork_sharing_a_prefix_is_caught_even_with_a_warm_cache(
    make_log: MakeLog, tmp_path: Path
) -> None:
    log = make_log((300,))
    fork = make_log((300,), tag="-fork")
    client(log, tmp_path).prove(5)  # warms the cache with the honest tiles
    fork.append(200)
    with pytest.raises(InconsistencyError):
        client(fork, tmp_path).latest()


class Pausing:
    """A fetcher over a log's store that stops at its first tile GET until ``go``."""

    def __init__(self, log: BuiltLog) -> None:
        self.inner = StoreFetcher(log.store)
        self.paused = threading.Event()
        self.go = threading.Event()

    def fetch(self, path: str, limit: int) -> bytes:
        if path.startswith("tile/") and not self.paused.is_set():
            self.paused.set()
            self.go.wait(30)
        return self.inner.fetch(path, limit)


@pytest.mark.parametrize("size_a", [400, 401])
def test_concurrent_readers_cannot_both_accept_forks(
    make_log: MakeLog, tmp_path: Path, size_a: int
) -> None:
    a, b = make_log((300,)), make_log((300,))  # one log, then two branches from 300
    state = CheckpointState(tmp_path / "state")
    Client(StoreFetcher(a.store), a.verifiers, state=state).latest()
    a.tag, b.tag = "-a", "-b"
    a.append(size_a - 300)
    b.append(100)
    slow = Pausing(b)
    errors: list[TlogError] = []

    def read_b() -> None:
        try:
            Client(slow, b.verifiers, state=state).latest()
        except TlogError as exc:
            errors.append(exc)

    thread = threading.Thread(target=read_b)
    thread.start()
    assert slow.paused.wait(30)  # B is proving its 400 consistent with 300 when ...
    assert Client(StoreFetcher(a.store), a.verifiers, state=state).size == size_a  # ... A lands
    slow.go.set()
    thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], InconsistencyError), errors
    assert "forked" in str(errors[0]) or "rolled back" in str(errors[0])
    remembered = state.load(a.origin, a.verifiers)
    assert remembered is not None and remembered.checkpoint == a.checkpoints[-1].checkpoint


def test_a_cached_tile_that_fails_is_replaced_for_good(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((300,))
    fork = make_log((600,), tag="-fork")  # same origin and key: full tiles, other hashes
    cache = tmp_path / "cache"
    Client(StoreFetcher(fork.store), fork.verifiers, cache=DiskTileCache(cache, fork.origin)).prove(
        299, latest=True
    )
    for run in range(2):
        fetcher = Overlay(log)
        c = Client(fetcher, log.verifiers, cache=DiskTileCache(cache, log.origin))
        assert c.prove(299, latest=True)[1].entry == log.entry(299)
        tiles = [p for p in fetcher.fetched if p.startswith("tile/")]
        assert bool(tiles) == (run == 0), tiles  # the fork's tiles are fetched over once


def test_evidence_of_each_fork_gets_its_own_file(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((10,))
    state = CheckpointState(tmp_path / "state")
    paths = {
        state.save_evidence(log.origin, log.verifiers, {"error": f"fork {i}"}) for i in range(3)
    }
    assert len(paths) == 3 and all(p.name.startswith("evidence-") for p in paths)
    assert sorted(p.read_text() for p in paths)[0].count("fork 0") == 1


def test_state_that_does_not_verify_is_a_config_error(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((10,))
    c = client(log, tmp_path)
    c.latest()
    path = CheckpointState(tmp_path / "state").path(log.origin, log.verifiers)
    path.write_bytes(path.read_bytes().replace(b"\n10\n", b"\n11\n"))
    with pytest.raises(ConfigError, match="state file"):
        client(log, tmp_path).latest()


@pytest.mark.parametrize(
    ("name", "mutate", "message"),
    [
        ("body", lambda d: d.replace(b"\n300\n", b"\n301\n"), "does not verify"),
        (
            "signature",
            lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:],
            "not valid base64|does not verify",
        ),
        ("unsigned", lambda d: d.split(b"\n\n")[0] + b"\n\n", "no signature lines"),
        # A repeated line is refused by the parser, so loginfo and prove agree on it.
        ("repeated", lambda d: d + d.splitlines(True)[-1], "repeats a signature line"),
    ],
)
def test_bad_checkpoint(make_log: MakeLog, tmp_path: Path, name: str, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    log = make_log((100, 200))
    good = log.store.read("checkpoint", 1 << 20)
    with pytest.raises((VerificationError, MalformedError), match=message):
        client(log, tmp_path, Overlay(log, {"checkpoint": mutate(good)})).latest()
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("checkpoint"))


def test_checkpoint_by_another_key_or_for_another_origin(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100,))
    body = log.checkpoints[-1].checkpoint.format()
    other = generate(log.origin).keys
    note = sign(body, other.signers(lambda: 1)).format()
    with pytest.raises(VerificationError, match="not signed by any known key"):
        client(log, tmp_path, Overlay(log, {"checkpoint": note})).latest()
    # Our own key, but signing a checkpoint for another origin.
    own = log.keys.log
    assert isinstance(own, Ed25519Signer)
    foreign = body.replace(log.origin, "other.example/log", 1)
    note = sign(foreign, [own]).format()
    with pytest.raises(VerificationError, match="origin"):
        client(log, tmp_path, Overlay(log, {"checkpoint": note})).latest()


def test_integrated_time_is_the_first_covering_checkpoints(
    make_log: MakeLog, tmp_path: Path
) -> None:
    batches = (1, 2, 13, 240, 1, 255, 16, 100, 3, 70)
    log = make_log(batches)
    c = client(log, tmp_path)
    start = 0
    for cp in log.checkpoints[1:]:
        for i in range(start, cp.checkpoint.size):
            assert c.covering_size(i) == cp.checkpoint.size
        assert c.integrated_time(start) == cp.timestamp
        assert c.integrated_time(cp.checkpoint.size - 1) == cp.timestamp
        start = cp.checkpoint.size


def test_integrated_time_across_leaf_groups(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((65_530, 10, 5))
    c = client(log, tmp_path)
    assert c.covering_size(0) == 65_530
    assert c.covering_size(65_535) == 65_540
    assert c.covering_size(65_536) == 65_540
    assert c.covering_size(65_544) == 65_545
    assert c.integrated_time(65_536) == log.checkpoints[2].timestamp


def test_lying_covers_object(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((10, 10, 10))
    key = layout.cover_for(5, 30)
    # Pointing at a later checkpoint only makes the entry look later: still verified.
    c = client(log, tmp_path, Overlay(log, {key: b"30\n"}))
    assert c.integrated_time(5) == log.checkpoints[3].timestamp
    # Naming no covering checkpoint leaves the latest one as the (later) bound; naming a
    # checkpoint that is not the log's fails.
    hidden = client(log, tmp_path, Overlay(log, {key: b"10\n"}))
    assert hidden.integrated_time(15) == log.checkpoints[3].timestamp
    with pytest.raises(MalformedError, match="not ascending"):
        client(log, tmp_path, Overlay(log, {key: b"20\n10\n"})).integrated_time(5)
    forged = history(log, 20).replace(b"\n20\n", b"\n21\n")
    bad = Overlay(log, {layout.history_key(20): forged})
    with pytest.raises(VerificationError, match="checkpoints/20"):
        client(log, tmp_path, bad).integrated_time(15)
    # No covers objects at all: the latest checkpoint bounds the time.
    none = Overlay(log, {key: None})
    assert client(log, tmp_path, none).integrated_time(5) == log.checkpoints[3].timestamp


def test_covers_object_of_the_checkpoints_width_falls_back_to_the_full_one(
    make_log: MakeLog, tmp_path: Path
) -> None:
    log = make_log((100, 200, 250))
    # A reader that verified checkpoint 300 reads bundle 1's covers object at width 44.
    key = layout.cover_for(260, 300)
    assert key == "checkpoints/covers/0/001.p/44"
    assert log.store.read("checkpoints/covers/0/001", 1 << 20) == b"300\n"
    assert log.store.read("checkpoints/covers/1/000.p/2", 1 << 20) == b"300\n550\n"
    at_300: dict[str, bytes | None] = {"checkpoint": history(log, 300)}
    c = client(log, tmp_path, Overlay(log, at_300))
    assert c.covering_size(260) == 300
    # Gone at that width: the full object (written later) answers the same.
    gone = Overlay(log, {**at_300, key: None})
    assert client(log, tmp_path, gone).covering_size(299) == 300
    assert gone.fetched[-2:] == [key, "checkpoints/covers/0/001"]
    # A full object naming a size past the verified checkpoint for the prefix is a lie.
    lie = Overlay(log, {**at_300, key: None, "checkpoints/covers/0/001": b"550\n"})
    with pytest.raises(VerificationError, match="size 550, past the log's 300"):
        client(log, tmp_path, lie).covering_size(260)


def test_historical_checkpoint_from_a_fork_is_an_inconsistency(
    make_log: MakeLog, tmp_path: Path
) -> None:
    log = make_log((10, 10, 10))
    fork = make_log((10, 10), tag="-fork")
    bad = Overlay(log, {layout.history_key(20): history(fork, 20)})
    with pytest.raises(InconsistencyError, match="checkpoints/20 is not consistent"):
        client(log, tmp_path, bad).checkpoint_at(20)


def test_prove_find_and_consistency(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((100, 200, 50))
    c = client(log, tmp_path)
    proof, verified = c.prove(150)
    assert verified.entry == log.entry(150)
    assert verified.checkpoint.checkpoint.size == 300  # the first covering checkpoint
    assert verified.integrated_time == log.checkpoints[2].timestamp
    assert proof.verify(log.verifiers).index == 150
    _latest_proof, v2 = c.prove(150, latest=True)
    assert v2.checkpoint.checkpoint.size == 350
    uuid = merkle.leaf_hash(log.entry(321))
    assert c.find(uuid) == 321
    with pytest.raises(NotFoundError):
        c.find(b"\0" * 32)
    cons = c.consistency(10, 300)
    assert cons.root2 == log.checkpoints[2].checkpoint.root
    merkle.verify_consistency(10, 300, cons.root1, cons.root2, cons.hashes)
    for bad in ((5, 400), (20, 10), (-1, 5)):
        with pytest.raises(NotFoundError):
            c.consistency(*bad)
    with pytest.raises(NotFoundError):
        c.entry(350)


def test_ecdsa_log(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log((30, 5), origin="ecdsa.example/log", key_type="ecdsa-p256")
    c = client(log, tmp_path)
    proof, verified = c.prove(31)
    assert verified.integrated_time == log.checkpoints[2].timestamp
    assert proof.verify(log.verifiers).entry == log.entry(31)


def test_empty_log(make_log: MakeLog, tmp_path: Path) -> None:
    log = make_log(())
    c = client(log, tmp_path)
    assert c.size == 0
    with pytest.raises(NotFoundError):
        c.entry(0)
    assert c.consistency(0, 0).root1 == merkle.EMPTY_ROOT


def test_origin_from_vkeys(make_log: MakeLog) -> None:
    log = make_log(())
    assert log_origin(log.verifiers) == log.origin
    with pytest.raises(ConfigError):
        log_origin([v for v in log.verifiers if v.key_id != log.keys.log.key_id])
    other = generate("other.example/log").keys
    with pytest.raises(ConfigError, match="several logs"):
        log_origin([*log.verifiers, *other.verifiers()])
