"""``tlog server`` stopped under load: SIGTERM drains, SIGKILL loses nothing acknowledged,
and several servers on one log stay correct (real subprocesses on 127.0.0.1).

What must hold: every request answered 201 is in the log exactly once, at the index it
was told; a request that got an error or no answer can be resubmitted and ends logged
once (409 names its index). Fewer than 256 entries in all, so the sequencer's
last-bundle deduplication sees every earlier entry.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.server.helpers import Log, Server, make_log, request, running
from tlog.client import open_log


@dataclass
class Submission:
    body: bytes
    status: int | None = None
    index: int | None = None
    error: str | None = None


@dataclass
class Load:
    """Client threads submitting distinct entries until stopped."""

    url: str
    tag: str
    threads: int = 16
    done: list[Submission] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self, n: int) -> None:
        i = 0
        while not self.stop.is_set():
            sub = Submission(json.dumps(request(i, f"{self.tag}-{n}-")).encode())
            i += 1
            send(self.url, sub)
            with self.lock:
                self.done.append(sub)
            if sub.error is not None:
                return

    def run(self) -> list[threading.Thread]:
        workers = [threading.Thread(target=self._client, args=(n,)) for n in range(self.threads)]
        for w in workers:
            w.start()
        return workers

    def answered(self, status: int) -> int:
        with self.lock:
            return sum(1 for s in self.done if s.status == status)


def send(url: str, sub: Submission) -> None:
    try:
        resp = requests.post(f"{url}/api/v2/log/entries", data=sub.body, timeout=120)
    except requests.RequestException as exc:
        sub.status, sub.error = None, type(exc).__name__
        return
    sub.status = resp.status_code
    if resp.status_code == 201:
        sub.index = int(resp.json()["logIndex"])
    elif resp.status_code == 409:
        sub.index = int(resp.headers["x-log-index"])
    else:
        sub.error = resp.text


def wait_for(load: Load, created: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while load.answered(201) < created and time.monotonic() < deadline:
        time.sleep(0.01)


def logged(log: Log, state: Path) -> list[bytes]:
    client = open_log(str(log.path), [str(log.vkey)], cache=False, state_dir=state)
    return [client.entry(i) for i in range(client.size)]


def canonical(sub: Submission) -> bytes:
    from tlog.admission import admit_rekor

    return admit_rekor(sub.body)


def check_exactly_once(subs: list[Submission], entries: list[bytes]) -> None:
    counts = Counter(entries)
    for sub in subs:
        if sub.status in (201, 409):
            assert sub.index is not None
            assert entries[sub.index] == canonical(sub), "told an index that holds another entry"
            assert counts[canonical(sub)] == 1, "acknowledged entry logged more than once"
    assert max(counts.values(), default=1) == 1


@pytest.mark.slow
@pytest.mark.parametrize("admitters", ["0", "2"])  # in the pool's thread; in processes
def test_sigterm_drains_every_accepted_request(tmp_path: Path, admitters: str) -> None:
    log = make_log(tmp_path)
    server = Server(log, log.key, "--pool-wait", "100ms", "--workers", admitters,
                    stderr=tmp_path / "e")  # fmt: skip
    load = Load(server.url, "term")
    workers = load.run()
    try:
        wait_for(load, 30)
        assert server.terminate(120) == 0, (tmp_path / "e").read_text()
    finally:
        load.stop.set()
        server.kill()
        for w in workers:
            w.join(180)
    entries = logged(log, tmp_path)
    assert load.answered(201) >= 30
    check_exactly_once(load.done, entries)
    for sub in load.done:
        # Answered 201 or 503, or never read by the server (the listener was closed):
        # then it is not in the log. Nothing accepted is left unanswered.
        assert sub.status in (201, 503, None), sub.error
        if sub.status is None:
            assert canonical(sub) not in entries, f"logged but never answered ({sub.error})"


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rng = random.Random(12)
    everything: list[Submission] = []
    for round_ in range(3):
        with running(log, log.key, "--pool-wait", "50ms", "--workers", "0",
                     stderr=tmp_path / "e") as server:  # fmt: skip
            load = Load(server.url, f"kill{round_}", threads=8)
            workers = load.run()
            wait_for(load, 5)
            time.sleep(rng.uniform(0.0, 0.5))
            server.kill()
            load.stop.set()
            for w in workers:
                w.join(180)
        everything += load.done
    # A restarted server publishes what was committed; clients resubmit what failed.
    with running(log, log.key, "--pool-wait", "20ms", "--workers", "0",
                 stderr=tmp_path / "e") as server:  # fmt: skip
        for sub in everything:
            if sub.status not in (201, 409):
                send(server.url, sub)
                assert sub.status in (201, 409), sub.error
    check_exactly_once(everything, logged(log, tmp_path))
    assert len(everything) < 256


@pytest.mark.slow
def test_two_servers_on_one_log(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    args = ("--pool-wait", "50ms", "--workers", "0")
    with (
        running(log, log.key, *args, stderr=tmp_path / "e1") as one,
        running(log, log.key, *args, stderr=tmp_path / "e2") as two,
    ):
        loads = [Load(one.url, "one", threads=6), Load(two.url, "two", threads=6)]
        workers = [w for load in loads for w in load.run()]
        for load in loads:
            wait_for(load, 40)
        for load in loads:
            load.stop.set()
        for w in workers:
            w.join(180)
    subs = [s for load in loads for s in load.done]
    assert all(s.status == 201 for s in subs), {s.error for s in subs}
    entries = logged(log, tmp_path)
    check_exactly_once(subs, entries)
    assert len(entries) == len(subs) and len({s.index for s in subs}) == len(subs)
