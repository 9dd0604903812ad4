"""Our sequencer against our witnesses over HTTP on 127.0.0.1: a 2-of-3 quorum met,
missing (fail-closed and fail-open), one witness down, slow, restarted on older state,
answering garbage; and the round trips a batch costs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tlog import layout
from tlog.errors import VerificationError
from tlog.note import Note
from tlog.policy import Policy
from tlog.witness.client import SIZES_KEY, Post, Witnessing, http_post
from tlog.witness.server import bind
from tlog.witness.service import Reply, Witness

from .conftest import Log, Served, cosigner, log_policy

WITNESS_POLICY = Policy.parse((log_policy() + "quorum none\n").encode())
SIGNERS = [cosigner(f"w{n}.example/witness") for n in range(3)]


def policy(urls: list[str], k: int = 2) -> Policy:
    lines = [
        f"witness w{n} {s.verifier().vkey()} {u}"
        for n, (s, u) in enumerate(zip(SIGNERS, urls, strict=True))
    ]
    lines += [f"group q {k} w0 w1 w2", "quorum q"]
    return Policy.parse(("\n".join(lines) + "\n").encode())


class Counting:
    """A :data:`Post` that counts requests per URL."""

    def __init__(self) -> None:
        self.inner: Post = http_post(requests.Session())
        self.calls: list[str] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        self.calls.append(url)
        return self.inner(url, body, timeout)


def dead_url() -> str:
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    return url


def witnessed_log(p: Policy, *, post: Post | None = None, **kw: object) -> tuple[Log, Witnessing]:
    log = Log()
    w = Witnessing(p, post=post, timeout=kw.pop("timeout", 5.0), **kw)  # type: ignore[arg-type]
    log.seq.witnessing = w
    return log, w


def published(log: Log) -> Note:
    return Note.parse(log.store.read(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE))


def start_three(witnesses: Callable[..., Served]) -> list[Served]:
    return [witnesses(s, WITNESS_POLICY) for s in SIGNERS]


def test_quorum_met_and_one_round_trip_per_batch(witnesses: Callable[..., Served]) -> None:
    served = start_three(witnesses)
    counting = Counting()
    p = policy([s.url for s in served])
    log, w = witnessed_log(p, post=counting)
    note = log.append(10)
    assert len(p.check(Note.parse(note))) == 3
    assert p.check(published(log)) and log.store.read(layout.history_key(10), 4096) == note
    assert [a.outcome for a in w.attempts] == ["cosigned"] * 3
    counting.calls.clear()
    log.append(300)
    assert len(counting.calls) == 3  # one request per witness, in parallel
    assert b'"' in log.store.read(SIZES_KEY, 4096)
    assert len(p.check(published(log))) == 3


def test_one_witness_down_still_makes_the_quorum(witnesses: Callable[..., Served]) -> None:
    served = start_three(witnesses)[:2]
    p = policy([served[0].url, served[1].url, dead_url()])
    log, w = witnessed_log(p)
    log.append(3)
    assert set(p.check(published(log))) == {"w0", "w1"}
    assert w.attempts[2].outcome == "unreachable"


def test_a_slow_witness_costs_one_timeout(witnesses: Callable[..., Served]) -> None:
    served = start_three(witnesses)[:2]
    silent = bind("127.0.0.1", 0)  # accepts connections, never answers
    try:
        p = policy([served[0].url, served[1].url, f"http://127.0.0.1:{silent.getsockname()[1]}"])
        log, w = witnessed_log(p, timeout=0.5)
        log.append(3)
        assert set(p.check(published(log))) == {"w0", "w1"}
        assert w.attempts[2].outcome == "unreachable"
    finally:
        silent.close()


def test_quorum_missing_fail_closed_then_the_next_run_publishes(
    witnesses: Callable[..., Served],
) -> None:
    served = witnesses(SIGNERS[0], WITNESS_POLICY)
    down = [bind("127.0.0.1", 0) for _ in range(2)]
    urls = [served.url, *(f"http://127.0.0.1:{s.getsockname()[1]}" for s in down)]
    for s in down:
        s.close()
    p = policy(urls)
    log, _ = witnessed_log(p, timeout=2.0)
    with pytest.raises(VerificationError, match="not published"):
        log.append(3)
    assert Note.parse(log.store.read(layout.LOCK, 4096)).text.split("\n")[1] == "3"
    assert published(log).text.split("\n")[1] == "0"
    revived = [witnesses(SIGNERS[n], WITNESS_POLICY) for n in (1, 2)]
    p = policy([served.url, *(r.url for r in revived)])
    log.seq.witnessing = Witnessing(p)
    log.append(2)  # first publishes the committed batch, then its own
    assert published(log).text.split("\n")[1] == "5"
    for size in (3, 5):
        note = log.store.read(layout.history_key(size), layout.MAX_CHECKPOINT_SIZE)
        assert len(p.check(Note.parse(note))) == 3


def test_quorum_missing_fail_open_publishes_and_says_so(witnesses: Callable[..., Served]) -> None:
    served = witnesses(SIGNERS[0], WITNESS_POLICY)
    p = policy([served.url, dead_url(), dead_url()])
    log, w = witnessed_log(p, fail_closed=False)
    log.append(2)
    assert published(log).text.split("\n")[1] == "2"
    assert w.shortfall is not None and "w1: unreachable" in w.shortfall
    with pytest.raises(VerificationError, match="quorum"):
        p.check(published(log))


def test_a_witness_restarted_on_older_state_answers_409_and_gets_a_resend(
    witnesses: Callable[..., Served], tmp_path: Path
) -> None:
    states = [tmp_path / f"w{n}" for n in range(3)]
    served = [witnesses(s, WITNESS_POLICY, st) for s, st in zip(SIGNERS, states, strict=True)]
    counting = Counting()
    p = policy([s.url for s in served])
    log, w = witnessed_log(p, post=counting)
    log.append(5)
    shutil.copytree(states[0], tmp_path / "old")
    log.append(5)
    served[0].stop()
    shutil.rmtree(states[0])
    shutil.copytree(tmp_path / "old", states[0])
    restarted = witnesses(SIGNERS[0], WITNESS_POLICY, states[0])
    log.seq.witnessing = w = Witnessing(
        policy([restarted.url, served[1].url, served[2].url]), post=counting
    )
    counting.calls.clear()
    log.append(5)
    assert [a.outcome for a in w.attempts] == ["cosigned"] * 3
    assert len(counting.calls) == 4  # the 409 and its resend, one each for the others


def test_a_witness_answering_garbage_does_not_count(witnesses: Callable[..., Served]) -> None:
    class Garbage(Witness):
        def add_checkpoint(self, body: bytes) -> Reply:
            return Reply(200, b"\xe2\x80\x94 nonsense AAAA\n")

    from tlog.storage.memory import MemoryStore

    from .conftest import serve_witness

    bad = serve_witness(Garbage(SIGNERS[1], WITNESS_POLICY, MemoryStore()))
    try:
        good = [witnesses(SIGNERS[n], WITNESS_POLICY) for n in (0, 2)]
        p = policy([good[0].url, bad.url, good[1].url])
        log, w = witnessed_log(p)
        log.append(1)
        assert w.attempts[1].outcome == "invalid"
        assert set(p.check(published(log))) == {"w0", "w2"}
    finally:
        bad.stop()


def test_a_witness_answering_another_keys_cosignature_does_not_count(
    witnesses: Callable[..., Served],
) -> None:
    impostor = witnesses(cosigner(SIGNERS[1].name), WITNESS_POLICY)
    good = [witnesses(SIGNERS[n], WITNESS_POLICY) for n in (0, 2)]
    p = policy([good[0].url, impostor.url, good[1].url], k=3)
    log, w = witnessed_log(p)
    with pytest.raises(VerificationError, match="not published"):
        log.append(1)
    assert w.attempts[1].outcome == "invalid"
