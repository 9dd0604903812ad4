"""One monitor run, and the loop of runs (docs/monitor.md "A run").

A run: (1) fetch the log's checkpoint, verify it and prove it consistent with the last
one verified (:meth:`tlog.client.Client.latest`, which remembers it); a rollback or
fork is a finding, and nothing else is done; (2) compare it with each ``--also``
vantage point; (3) scan the entries not yet scanned, a window at a time, delivering
each window's findings before recording that the window was scanned; (4) check the
index for the entries scanned since it was last checked, then record that.

Delivery comes first and the state second, so every finding is delivered at least
once whatever point a run is killed at; a run that stopped early (a hook failed, an
object would not verify) leaves the state where the last delivered window put it, and
the next run starts there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path

from tlog.client import Client
from tlog.errors import InconsistencyError, NotFoundError, TlogError, VerificationError
from tlog.index.head import IndexHead
from tlog.monitor.config import MonitorConfig
from tlog.monitor.delivery import DeliveryError
from tlog.monitor.finding import Finding
from tlog.monitor.match import Roots
from tlog.monitor.metrics import format_metrics, write_metrics
from tlog.monitor.rows import RowDigest, check_index
from tlog.monitor.scan import LOOKUP_LIMIT, WINDOW_BUNDLES, Scanner
from tlog.monitor.state import MonitorState, ScanState
from tlog.monitor.vantage import compare, open_vantage
from tlog.state import key_dirname
from tlog.xdg import log_dirname

__all__ = ["Monitor", "RunResult"]


@dataclass
class RunResult:
    """What one run did: the verified size, how far it scanned, what it reported."""

    size: int = 0
    scanned: int = 0
    findings: list[str] = field(default_factory=list)
    complete: bool = False
    #: The verified checkpoint's cosignature time, if it has one.
    timestamp: int | None = None


@dataclass
class Monitor:
    """The monitor of one log: ``open_client`` makes a fresh verifying client for each
    run; ``emit`` prints and delivers one finding (raising if a hook failed)."""

    open_client: Callable[[], Client]
    config: MonitorConfig
    config_text: str
    state_root: Path
    emit: Callable[[Finding], None]
    roots: Roots | None = None
    also: Sequence[str] = ()
    open_other: Callable[[str], Client] | None = None
    validate: bool = True
    rekor_only: bool = False
    progress: Callable[[int, int], None] | None = None
    note: Callable[[str], None] = lambda _: None
    metrics: Path | None = None
    clock: Callable[[], float] = time.time
    #: Bundles per window (the unit of delivery and state writes).
    window: int = WINDOW_BUNDLES
    _noted: set[str] = field(default_factory=set)

    def run_once(self) -> RunResult:
        result = RunResult()
        client = self.open_client()
        try:
            latest = client.latest()
        except InconsistencyError as exc:
            kind = "rollback" if "rolled back" in str(exc) else "fork"
            self._emit(result, Finding(kind, str(exc), evidence=exc.evidence))
            return result
        except TlogError as exc:
            self._emit(result, _error(exc, "checkpoint"))
            return result
        result.size, result.timestamp = latest.checkpoint.size, latest.timestamp
        store = MonitorState(
            self.state_root / log_dirname(client.origin) / key_dirname(client.verifiers),
            self.config_text,
        )
        start = self.config.start_index or 0
        state = store.load() or ScanState(next=start, index_from=start)
        result.scanned = state.next
        try:
            for source in self.also:
                self._compare(result, client, source)
            state = self._scan(result, client, store, state)
        finally:
            self._write_metrics(client, result, store)
        return result

    def loop(
        self,
        interval: float,
        sleep: Callable[[float], None] = time.sleep,
        runs: int | None = None,
    ) -> Iterator[RunResult]:
        """Run every ``interval`` seconds (``runs`` times, or until interrupted). A run
        that fails (a hook, the network) is noted and the next one retries it."""
        done = 0
        while runs is None or done < runs:
            if done:
                sleep(interval)
            done += 1
            try:
                yield self.run_once()
            except TlogError as exc:
                self.note(f"run failed, retrying in {interval:g}s: {exc}")
                yield RunResult()

    def _compare(self, result: RunResult, client: Client, source: str) -> None:
        opener = self.open_other
        if opener is None:
            raise TlogError("no way to open --also locations")
        try:
            theirs = open_vantage(source, client, opener)
        except InconsistencyError as exc:
            self._emit(result, Finding("split-view", f"{source}: {exc}", evidence=exc.evidence))
            return
        except TlogError as exc:
            self._emit(result, _error(exc, f"--also {source}"))
            return
        found = compare(client.latest(), client.reader.read, theirs, source)
        if found is not None:
            self._emit(result, found)

    def _scan(
        self, result: RunResult, client: Client, store: MonitorState, state: ScanState
    ) -> ScanState:
        size = client.size
        end = self.config.end_index
        hi = size if end is None else min(size, end + 1)
        head = self._head(result, client)
        read_from = min(state.index_from, state.next) if head is not None else state.next
        digest = RowDigest(read_from, hi) if head is not None else None
        lookup = state.next > 0 and hi - state.next <= LOOKUP_LIMIT
        scanner = Scanner(
            client, self.config, roots=self.roots, validate=self.validate,
            rekor_only=self.rekor_only, window=self.window,
        )  # fmt: skip
        try:
            for stop, findings in scanner.scan(read_from, state.next, hi, digest, lookup):
                for f in findings:
                    self._emit(result, f)
                if stop > state.next:
                    state = replace(state.counted([f.kind for f in findings]), next=stop)
                    store.save(state)
                    result.scanned = stop
                if self.progress is not None:
                    self.progress(stop - read_from, hi - read_from)
        except DeliveryError:
            scanner.close()
            raise
        except TlogError as exc:
            scanner.close()
            self._emit(result, _error(exc, "entries"))
            return state
        try:
            pool = scanner.pool() if scanner.pooled else None
            state = self._check_index(result, client, store, state, head, digest, hi, pool, scanner)
        finally:
            scanner.close()
        result.complete = True
        return state

    def _head(self, result: RunResult, client: Client) -> IndexHead | None:
        try:
            return client.index_head()
        except NotFoundError:
            if client.origin not in self._noted:
                self._noted.add(client.origin)
                self.note(f"{client.origin} publishes no index: its index is not checked")
            return None
        except VerificationError as exc:
            self._emit(result, Finding("index-mismatch", f"index head: {exc}"))
            return None

    def _check_index(
        self,
        result: RunResult,
        client: Client,
        store: MonitorState,
        state: ScanState,
        head: IndexHead | None,
        digest: RowDigest | None,
        hi: int,
        pool: Executor | None,
        scanner: Scanner,
    ) -> ScanState:
        segments: tuple[str, ...] = ()
        kinds: list[str] = []
        if head is not None and digest is not None and digest.lo < hi:
            try:
                found = check_index(
                    client.fetcher, head, state.index_segments, digest, pool,
                    lambda: scanner.rows(digest.lo, digest.hi),
                )  # fmt: skip
            except TlogError as exc:
                found = _error(exc, "index")
            if found is not None:
                self._emit(result, found)
                kinds.append(found.kind)
            segments = tuple(s.root.hex() for s in head.segments)
        elif head is not None:
            segments = tuple(s.root.hex() for s in head.segments)
        if (state.index_from, state.index_segments) != (hi, segments) or kinds:
            state = replace(state.counted(kinds), index_from=hi, index_segments=segments)
            store.save(state)
        return state

    def _emit(self, result: RunResult, finding: Finding) -> None:
        self.emit(finding)
        result.findings.append(finding.kind)

    def _write_metrics(self, client: Client, result: RunResult, store: MonitorState) -> None:
        if self.metrics is None:
            return
        state = store.load() or ScanState()
        now = self.clock()
        stamp = result.timestamp
        write_metrics(
            self.metrics,
            format_metrics(
                client.origin,
                result.size,
                state.next,
                None if stamp is None else max(0.0, now - stamp),
                state.findings,
                now,
            ),
        )


def _error(exc: TlogError, what: str) -> Finding:
    return Finding("error", f"{what}: {exc}", evidence={"error": type(exc).__name__})
