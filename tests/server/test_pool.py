"""The request pool on its own: batching, pushback, draining, and an answer for every
request whatever the batch meets (a MemoryStore, no HTTP)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults import FaultyStore
from tests.server.helpers import request
from tlog.admission import admit_rekor, parallel_admission
from tlog.errors import TlogError
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.server.pool import DRAINING, FROZEN, PUSHBACK, Answer, RequestPool
from tlog.storage.memory import MemoryStore

KEYS = generate("pool.example/log").keys


def pool_on(store: object, **kwargs: object) -> RequestPool:
    seq = Sequencer(store, KEYS)  # type: ignore[arg-type]
    return RequestPool(seq, admit_rekor, **kwargs)  # type: ignore[arg-type]


def fresh() -> MemoryStore:
    store = MemoryStore()
    Sequencer(store, KEYS).init()
    return store


class Answers:
    """Collects the answers given to ``done`` callbacks, once each."""

    def __init__(self) -> None:
        self.got: dict[int, Answer] = {}
        self.lock = threading.Lock()
        self.all_in = threading.Event()
        self.expect = 0

    def done(self, i: int):  # type: ignore[no-untyped-def]
        def call(answer: Answer) -> None:
            with self.lock:
                assert i not in self.got, "answered twice"
                self.got[i] = answer
                if len(self.got) == self.expect:
                    self.all_in.set()

        return call


def submit_all(pool: RequestPool, bodies: list[bytes]) -> Answers:
    answers = Answers()
    answers.expect = len(bodies)
    for i, body in enumerate(bodies):
        assert pool.submit(body, answers.done(i)) is None
    return answers


def test_requests_are_pooled_into_one_batch_and_each_answered() -> None:
    store = fresh()
    pool = pool_on(store, size=8, wait=60.0)  # only a full pool starts the batch
    bodies = [json.dumps(request(i, "pool")).encode() for i in range(8)]
    answers = submit_all(pool, bodies)
    pool.start()
    assert answers.all_in.wait(60)
    pool.close(60)
    assert sorted(a.status for a in answers.got.values()) == [201] * 8
    indexes = {json.loads(a.body)["logIndex"] for a in answers.got.values()}
    assert indexes == {str(i) for i in range(8)}
    assert b"\n8\n" in store.read("checkpoint", 1 << 20)  # one batch, one checkpoint
    history = [k for k in store.list("checkpoints/") if "covers" not in k]
    assert history == ["checkpoints/0", "checkpoints/8"]


def test_a_full_pool_pushes_back_and_a_draining_one_refuses() -> None:
    pool = pool_on(fresh(), size=4, max_pending=2)
    answers = Answers()
    assert pool.submit(b"{}", answers.done(0)) is None
    assert pool.submit(b"{}", answers.done(1)) is None
    assert pool.submit(b"{}", answers.done(2)) == PUSHBACK
    assert PUSHBACK.status == 503
    pool.drain()
    assert pool.submit(b"{}", answers.done(3)) == DRAINING
    answers.expect = 2
    pool.start()  # draining: the two pooled requests are still answered, then it stops
    assert answers.all_in.wait(60)
    pool.close(60)
    assert {a.status for a in answers.got.values()} == {400}


def test_a_failed_batch_answers_every_request_with_an_error() -> None:
    store = fresh()
    pool = pool_on(FaultyStore(store, at=3), size=3, wait=60.0)
    answers = submit_all(pool, [json.dumps(request(i, "fail")).encode() for i in range(3)])
    pool.start()
    assert answers.all_in.wait(60)
    pool.close(60)
    assert [a.status for a in answers.got.values()] == [500, 500, 500]
    assert json.loads(answers.got[0].body)["message"] == "failed to integrate entry"


def test_a_frozen_log_answers_405_at_once() -> None:
    pool = pool_on(fresh())
    pool.frozen = True
    assert pool.submit(b"{}", lambda a: None) == FROZEN
    assert FROZEN.status == 405


class CountingAdmit:
    """admit_rekor that counts its calls (run in threads: no pickling needed)."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes:
        with self.lock:
            self.calls += 1
        return admit_rekor(data)


def test_requests_are_admitted_as_they_arrive_before_their_batch_starts() -> None:
    admit = CountingAdmit()
    with ThreadPoolExecutor(2) as executor:
        pool = RequestPool(
            Sequencer(fresh(), KEYS), admit, executor, workers=2, size=8, wait=60.0, admit_chunk=2
        )
        bodies = [json.dumps(request(i, "early")).encode() for i in range(6)] + [b"{}"]
        answers = submit_all(pool, bodies)
        deadline = time.monotonic() + 60
        while admit.calls < 6 and time.monotonic() < deadline:  # three chunks of two
            time.sleep(0.01)
        assert admit.calls == 6  # the pool's thread has not even started
        answers.expect = len(bodies)
        pool.drain()
        pool.start()
        assert answers.all_in.wait(60)
        pool.close(60)
    assert admit.calls == 7  # each admitted once: the last one when the batch started
    assert [answers.got[i].status for i in range(7)] == [201] * 6 + [400]


def test_worker_processes_admit_and_a_refusal_keeps_its_reason() -> None:
    store = fresh()
    executor = parallel_admission(1)
    try:
        pool = RequestPool(Sequencer(store, KEYS), admit_rekor, executor, size=4, wait=60.0)
        bad = json.dumps({"hashedRekordRequestV002": {"digest": "AA=="}}).encode()
        bodies = [json.dumps(request(i, "proc")).encode() for i in range(3)] + [bad]
        answers = submit_all(pool, bodies)
        pool.start()
        assert answers.all_in.wait(60)
        pool.close(60)
    finally:
        executor.shutdown()
    assert [answers.got[i].status for i in range(3)] == [201] * 3
    message = json.loads(answers.got[3].body)["message"]
    with pytest.raises(TlogError) as refused:
        admit_rekor(bad)
    assert message == f"invalid entry: {refused.value}"
