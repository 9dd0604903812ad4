"""What the witness tests share: a log to witness, witness keys, and witnesses served
over HTTP on 127.0.0.1 from a thread (the SIGKILL test runs a real process)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.admission import Candidate
from tlog.keys import LogKeys, generate
from tlog.note import CosignatureSigner
from tlog.policy import Policy
from tlog.sequencer import Sequencer
from tlog.storage import Store
from tlog.storage.folder import FolderStore
from tlog.storage.memory import MemoryStore
from tlog.witness.server import bind, create_app, url_of
from tlog.witness.service import Witness

ORIGIN = "witnessed.example/log"
KEYS: LogKeys = generate(ORIGIN).keys
NOW = 1_700_000_000


def cosigner(name: str) -> CosignatureSigner:
    return CosignatureSigner(name, ed25519.Ed25519PrivateKey.generate(), lambda: NOW)


def log_policy(keys: LogKeys = KEYS) -> str:
    """The ``log`` line of a policy for ``keys``'s log (its checkpoint key, not 0x04)."""
    return f"log {keys.verifiers()[0].vkey()}\n"


@dataclass
class Log:
    """A log in a store, appended to by a Sequencer."""

    store: Store = field(default_factory=MemoryStore)
    keys: LogKeys = KEYS
    #: Entries are ``<tag> <n>``: two logs with other tags are forks of each other.
    tag: str = "entry"
    seq: Sequencer = field(init=False)
    n: int = 0

    def __post_init__(self) -> None:
        self.seq = Sequencer(self.store, self.keys, clock=lambda: NOW)
        self.seq.init()

    def append(self, count: int) -> bytes:
        """Append ``count`` entries; the new checkpoint note (as published)."""
        cands = [Candidate("", f"{self.tag} {self.n + i}".encode()) for i in range(count)]
        self.n += count
        return self.seq.sequence(cands).note


@dataclass
class Served:
    """A witness served over HTTP from a thread; :meth:`stop` ends it."""

    witness: Witness
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_witness(witness: Witness, sock: socket.socket | None = None) -> Served:
    sock = sock or bind("127.0.0.1", 0)
    ready = threading.Event()
    config = uvicorn.Config(
        create_app(witness, ready.set), log_level="error", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert ready.wait(30)
    return Served(witness, url_of(sock), server, thread)


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """A factory of served witnesses (state in a folder); all stopped at the end."""
    started: list[Served] = []

    def start(signer: CosignatureSigner, policy: Policy, state: Path | None = None) -> Served:
        store = FolderStore(state or tmp_path / f"state{len(started)}")
        served = serve_witness(Witness(signer, policy, store))
        started.append(served)
        return served

    yield start
    for s in started:
        s.stop()
