"""Fixtures of the reader tests: logs built with the real sequencer, served over HTTP.

``make_log`` builds a log in a store (memory by default) with deterministic times; a
:class:`BuiltLog` appends batches and knows its keys and vkeys. ``serve`` puts a store
behind a :class:`~reader.logserver.LogServer` on 127.0.0.1, closed after the test.
``golden`` is the committed golden log in ``tiles/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tlog.checkpoint import SignedCheckpoint
from tlog.keys import LogKeys, generate
from tlog.note import Verifier
from tlog.sequencer import Candidate, Sequencer
from tlog.storage import Store
from tlog.storage.memory import MemoryStore

from .logserver import LogServer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tiles"
#: 2026-01-01T00:00:00Z; each batch is one minute later.
T0 = 1_767_225_600

_KEYS: dict[tuple[str, str], LogKeys] = {}


def keys_for(origin: str = "test.example/log", key_type: str = "ed25519") -> LogKeys:
    """One key pair per (origin, type) per session (key generation is cheap, but stable
    keys let a test build two logs that share them: a fork)."""
    if (origin, key_type) not in _KEYS:
        _KEYS[(origin, key_type)] = generate(origin, key_type).keys
    return _KEYS[(origin, key_type)]


def entry(i: int, tag: str = "") -> bytes:
    return f"entry {i}{tag}\n".encode()


@dataclass
class BuiltLog:
    store: Store
    keys: LogKeys
    tag: str = ""
    now: int = T0
    size: int = 0
    checkpoints: list[SignedCheckpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sequencer = Sequencer(self.store, self.keys, clock=lambda: self.now)
        self.checkpoints.append(self.sequencer.init())

    @property
    def origin(self) -> str:
        return self.keys.origin

    @property
    def verifiers(self) -> list[Verifier]:
        return self.keys.verifiers()

    @property
    def vkeys(self) -> str:
        return "".join(v + "\n" for v in self.keys.vkeys())

    def append(self, n: int) -> SignedCheckpoint:
        self.now += 60
        batch = [Candidate(f"e{i}", entry(i, self.tag)) for i in range(self.size, self.size + n)]
        result = self.sequencer.sequence(batch)
        self.size += n
        self.checkpoints.append(result.checkpoint)
        return result.checkpoint

    def entry(self, i: int) -> bytes:
        return entry(i, self.tag)


MakeLog = Callable[..., BuiltLog]


@pytest.fixture
def make_log() -> MakeLog:
    def make(
        batches: tuple[int, ...] = (),
        *,
        store: Store | None = None,
        origin: str = "test.example/log",
        key_type: str = "ed25519",
        tag: str = "",
    ) -> BuiltLog:
        log = BuiltLog(
            store if store is not None else MemoryStore(), keys_for(origin, key_type), tag
        )
        for n in batches:
            log.append(n)
        return log

    return make


@pytest.fixture
def serve() -> Iterator[Callable[[Store], LogServer]]:
    servers: list[LogServer] = []

    def start(store: Store) -> LogServer:
        server = LogServer(store)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def vkey_file(tmp_path: Path) -> Callable[[BuiltLog], Path]:
    def write(log: BuiltLog) -> Path:
        path = tmp_path / f"{log.keys.log.name.replace('/', '_')}-{id(log)}.vkey"
        path.write_text(log.vkeys)
        return path

    return write
