"""A witness process killed (SIGKILL) at random moments while a log and a fork of it
race to get checkpoints cosigned: after every restart on the same state, it never has
cosigned two different checkpoints of one size, and it serves the latest it released."""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pytest
import requests

from tlog import merkle
from tlog.checkpoint import Checkpoint
from tlog.fetch.store import StoreFetcher
from tlog.fetch.tiles import TileReader
from tlog.note import Note
from tlog.policy import Policy
from tlog.witness.protocol import AddCheckpoint, origin_path, parse_cosignatures, parse_size

from .conftest import ORIGIN, Log
from .test_server import keygen, serve_args, start

SIZES = 300


class Branch:
    """One history of the log: a checkpoint per size 1..SIZES, and proofs between them."""

    def __init__(self, tag: str) -> None:
        self.log = Log(tag=tag)
        self.notes = {n: self.log.append(1) for n in range(1, SIZES + 1)}
        last = Checkpoint.parse(Note.parse(self.notes[SIZES]).text)
        self.read = TileReader(last, StoreFetcher(self.log.store)).read

    def request(self, old: int, size: int) -> bytes:
        proof = merkle.consistency_proof(old, size, self.read) if 0 < old < size else []
        return AddCheckpoint(old, tuple(proof), self.notes[size]).format()


def race(
    branch: Branch,
    url: list[str],
    released: list[tuple[int, bytes, bytes]],
    stop: threading.Event,
    seed: int,
) -> None:
    """Push ``branch`` up through the sizes, following 409s, until ``stop``."""
    rng = random.Random(seed)
    session = requests.Session()
    old, size = 0, 1
    while not stop.is_set() and size <= SIZES:
        try:
            r = session.post(
                f"{url[0]}/add-checkpoint", data=branch.request(min(old, size), size), timeout=5
            )
        except requests.RequestException:  # killed: wait for the restart
            session = requests.Session()
            stop.wait(0.02)
            continue
        note = Note.parse(branch.notes[size])
        if r.status_code == 200:
            for sig in parse_cosignatures(note, r.content):
                released.append((size, Checkpoint.parse(note.text).root, sig.signature))
            old, size = size, size + rng.randint(1, 2)
        elif r.status_code == 409 and r.headers["content-type"] == "text/x.tlog.size":
            old = parse_size(r.content)
            size = max(size, old + 1)
        elif r.status_code == 422:  # the other branch holds the witness: try further on
            size += 1


@pytest.mark.slow
def test_sigkill_never_makes_the_witness_cosign_two_checkpoints_of_one_size(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    args = serve_args(tmp_path, key)
    branches = [Branch("main"), Branch("fork")]
    rng = random.Random(20261201)
    released: list[tuple[int, bytes, bytes]] = []
    proc, first = start([*args, "--port", "0"])
    url = [first]
    port = first.rsplit(":", 1)[1]
    stop = threading.Event()
    racers = [
        threading.Thread(target=race, args=(b, url, released, stop, i))
        for i, b in enumerate(branches)
    ]
    for t in racers:
        t.start()
    try:
        for _ in range(12):
            stop.wait(rng.uniform(0.0, 0.3))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc, url[0] = start([*args, "--port", port])
    finally:
        stop.set()
        for t in racers:
            t.join(60)
    try:
        by_size: dict[int, set[bytes]] = {}
        for size, root, _ in released:
            by_size.setdefault(size, set()).add(root)
        assert released, "nothing was cosigned"
        assert all(len(roots) == 1 for roots in by_size.values()), by_size
        p = Policy.parse(f"witness w {vkey}\nquorum w\n".encode())
        served = Note.parse(
            requests.get(f"{url[0]}/{origin_path(ORIGIN)}/checkpoint", timeout=30).content
        )
        assert p.check(served)
        assert Checkpoint.parse(served.text).size >= max(by_size)
    finally:
        proc.kill()
        proc.wait()
