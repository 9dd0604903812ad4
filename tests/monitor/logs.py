"""Logs for the monitor tests: sequenced for real in a memory store, then lied about by
writing objects straight into the store (as tests/reader and tests/index do)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.index.signing import Identity, document
from tlog.admission import Candidate, rekor_admission
from tlog.client import Client
from tlog.entries.policy import DEFAULT_POLICY
from tlog.fetch.store import StoreFetcher
from tlog.keys import LogKeys, generate
from tlog.monitor.config import MonitorConfig
from tlog.monitor.finding import Finding
from tlog.monitor.run import Monitor, RunResult
from tlog.sequencer import Sequencer
from tlog.state import CheckpointState
from tlog.storage.memory import MemoryStore

ADMIT = rekor_admission(DEFAULT_POLICY)
_KEYS: dict[str, LogKeys] = {}


def keys(origin: str = "monitor.example/log") -> LogKeys:
    if origin not in _KEYS:
        _KEYS[origin] = generate(origin).keys
    return _KEYS[origin]


@dataclass
class Log:
    """A sequenced log in memory."""

    store: MemoryStore = field(default_factory=MemoryStore)
    origin: str = "monitor.example/log"

    def __post_init__(self) -> None:
        self.seq = Sequencer(self.store, keys(self.origin))
        self.seq.init()
        self.n = 0

    def raw(self, *bodies: bytes) -> None:
        self.seq.sequence([Candidate(f"r{self.n + i}", b) for i, b in enumerate(bodies)])
        self.n += len(bodies)

    def signed(self, *items: tuple[Identity, bytes]) -> None:
        docs = [document(who, art) for who, art in items]
        self.seq.sequence([Candidate(f"s{self.n + i}", d) for i, d in enumerate(docs)], ADMIT)
        self.n += len(docs)


@dataclass
class Harness:
    """A monitor of ``log`` keeping its state under ``tmp``; findings collected."""

    log: Log
    tmp: Path
    config_text: str = "monitoredValues: {}\n"
    found: list[Finding] = field(default_factory=list)
    fail_hook: bool = False
    also: Sequence[str] = ()
    others: dict[str, MemoryStore] = field(default_factory=dict)

    def client(self, store: MemoryStore | None = None, *, state: bool = True) -> Client:
        return Client(
            StoreFetcher(store if store is not None else self.log.store),
            keys(self.log.origin).verifiers(),
            state=CheckpointState(self.tmp / "state") if state else None,
        )

    def emit(self, finding: Finding) -> None:
        if self.fail_hook:
            from tlog.monitor.delivery import DeliveryError

            raise DeliveryError("hook failed")
        self.found.append(finding)

    def monitor(self, **kwargs: object) -> Monitor:
        return Monitor(
            open_client=self.client,
            config=MonitorConfig.parse(self.config_text),
            config_text=self.config_text,
            state_root=self.tmp / "state",
            emit=self.emit,
            also=self.also,
            open_other=lambda name: self.client(self.others[name], state=False),
            **kwargs,  # type: ignore[arg-type]
        )

    def run(self, **kwargs: object) -> RunResult:
        return self.monitor(**kwargs).run_once()

    def kinds(self) -> list[str]:
        return [f.kind for f in self.found]
