"""The tamper table: a log served over HTTP on 127.0.0.1 lies in one way at a time.

Each lie must be caught by ``tlog prove`` with a one-line error and exit status 1,
leave nothing unverified in the tile cache, and the honest log must still verify
afterwards with the same state and cache.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog import layout
from tlog.cli import main
from tlog.fetch.cache import log_dirname
from tlog.keys import generate
from tlog.note import Note, Signature, sign
from tlog.storage import Store
from tlog.storage.memory import MemoryStore
from tlog.tile import TileId

from . import logserver
from .conftest import BuiltLog, keys_for
from .logserver import Fault, LogServer

INDEX = 300  # in tile/entries/001 (full); first covered by checkpoint 450
BATCHES = (100, 200, 150, 250)  # size 700: tile/0/002.p/188 and tile/1/000.p/2


def build(tag: str = "", batches: tuple[int, ...] = BATCHES) -> BuiltLog:
    log = BuiltLog(MemoryStore(), keys_for("tamper.example/log"), tag)
    for n in batches:
        log.append(n)
    return log


@pytest.fixture(scope="module")
def honest() -> BuiltLog:
    return build()


@pytest.fixture(scope="module")
def fork_same() -> BuiltLog:
    return build("-fork")


@pytest.fixture(scope="module")
def fork_bigger() -> BuiltLog:
    return build("-fork", (*BATCHES, 60))


@dataclass
class Env:
    honest: BuiltLog
    server: LogServer
    vkeys: Path
    state: Path
    cache: Path
    out: Path

    def run(self, url: str | None = None, *extra: str) -> tuple[int, str, str]:
        args = [
            "prove",
            "--log",
            url or self.server.url,
            "--vkey",
            str(self.vkeys),
            "--log-index",
            str(INDEX),
            "--state-dir",
            str(self.state),
            "--cache-dir",
            str(self.cache),
            "--timeout",
            "2",
            "--retries",
            "1",
            "--out",
            str(self.out),
            *extra,
        ]
        result = CliRunner().invoke(main, args)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def env(honest: BuiltLog, tmp_path: Path, serve: Callable[[Store], LogServer]) -> Iterator[Env]:
    vkeys = tmp_path / "log.vkey"
    vkeys.write_text(honest.vkeys)
    yield Env(
        honest,
        serve(honest.store),
        vkeys,
        tmp_path / "state",
        tmp_path / "cache",
        tmp_path / "proof",
    )


def genuine(stores: list[Store], path: str) -> list[bytes]:
    out = []
    tid = TileId.parse(path)
    for store in stores:
        for candidate in (path, tid.full().path()):
            try:
                data = store.read(candidate, 64 << 20)
            except Exception:
                continue
            out.append(data)
    return out


def assert_cache_genuine(env: Env, stores: list[Store]) -> None:
    """Every cached object is the log's own (or, for a partial one, a prefix of it)."""
    base = env.cache / log_dirname(env.honest.origin)
    if not base.exists():
        return
    for f in base.rglob("*"):
        if not f.is_file():
            continue
        rel = f.relative_to(base).as_posix()
        data = f.read_bytes()
        assert any(g.startswith(data) for g in genuine(stores, rel)), f"unverified {rel} cached"


def resign_flipped(data: bytes) -> bytes:
    note = Note.parse(data)
    first = note.signatures[0]
    sig = bytearray(first.signature)
    sig[10] ^= 1
    return Note(
        note.text, (Signature(first.name, first.key_id, bytes(sig)), *note.signatures[1:])
    ).format()


def other_key_note(data: bytes) -> bytes:
    note = Note.parse(data)
    return sign(note.text, generate("tamper.example/log").keys.signers(lambda: 1)).format()


def other_origin_note(data: bytes) -> bytes:
    note = Note.parse(data)
    text = note.text.replace("tamper.example/log", "elsewhere.example/log", 1)
    return sign(text, [keys_for("tamper.example/log").log]).format()


def flip_at(offset: int) -> Fault:
    return logserver.flip(offset)


FaultMaker = Callable[[Env], Fault]

CASES: list[tuple[str, str, FaultMaker, str]] = [
    (
        "checkpoint body",
        "checkpoint",
        lambda e: logserver.mutate(lambda d: d.replace(b"\n700\n", b"\n701\n")),
        "does not verify",
    ),
    (
        "checkpoint signature",
        "checkpoint",
        lambda e: logserver.mutate(resign_flipped),
        "does not verify",
    ),
    (
        "checkpoint by another key",
        "checkpoint",
        lambda e: logserver.mutate(other_key_note),
        "not signed by any known key",
    ),
    (
        "checkpoint for another origin",
        "checkpoint",
        lambda e: logserver.mutate(other_origin_note),
        "origin",
    ),
    (
        "truncated checkpoint",
        "checkpoint",
        lambda e: logserver.mutate(lambda d: d[:-20]),
        "checkpoint",
    ),
    ("hash tile", "tile/0/001", lambda e: flip_at(77 * 32 + 3), "does not hash to its entry"),
    ("partial tile", "tile/0/002.p/188", lambda e: flip_at(100 * 32), "right-edge tiles"),
    ("level-1 partial tile", "tile/1/000.p/2", lambda e: flip_at(40), "right-edge tiles"),
    (
        "entry bundle",
        "tile/entries/001",
        lambda e: flip_at(2 + 44 * 11 + 3),
        "does not match its leaf hash",
    ),
    (
        "truncated tile",
        "tile/0/001",
        lambda e: logserver.mutate(lambda d: d[:-1]),
        "8191 bytes, want 8192",
    ),
    (
        "over-long tile",
        "tile/0/001",
        lambda e: logserver.mutate(lambda d: d + b"x"),
        "over the 8192-byte limit",
    ),
    (
        "truncated bundle",
        "tile/entries/001",
        lambda e: logserver.mutate(lambda d: d[:-1]),
        "truncated",
    ),
    (
        "over-long bundle",
        "tile/entries/001",
        lambda e: logserver.mutate(lambda d: d + b"\0\1x"),
        "after its 256 entries",
    ),
    (
        "wrong-size partial tile",
        "tile/0/002.p/188",
        lambda e: logserver.mutate(lambda d: d[:-32]),
        "5984 bytes, want 6016",
    ),
    (
        "partial tile missing",
        "tile/0/002.p/188",
        lambda e: logserver.status(404),
        "tile/0/002.p/188 is missing and so is tile/0/002",
    ),
    (
        "historical checkpoint",
        "checkpoints/450",
        lambda e: logserver.mutate(lambda d: d.replace(b"\n450\n", b"\n451\n")),
        "checkpoints/450",
    ),
    (
        "covers object lies",
        layout.cover_for(INDEX, 700),
        lambda e: logserver.replace(b"450\n301\n"),
        "not ascending",
    ),
    ("server answers 500", "*", lambda e: logserver.status(500, "0"), "HTTP 500"),
    ("server hangs", "checkpoint", lambda e: logserver.hang(e.server), "timed out"),
    (
        "100 MB tile, no length",
        "tile/0/001",
        lambda e: logserver.huge(100 << 20, False),
        "over the 8192-byte limit",
    ),
    (
        "100 MB tile, declared",
        "tile/0/001",
        lambda e: logserver.huge(100 << 20, True),
        "over the 8192-byte limit",
    ),
    (
        "100 MB gzip bomb bundle",
        "tile/entries/001",
        lambda e: logserver.gzip_bomb(100 << 20),
        "over the",
    ),
]


def check_one_line_failure(code: int, stderr: str, pattern: str) -> None:
    import re

    assert code == 1, stderr
    lines = stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("tlog: error: "), stderr
    assert "Traceback" not in stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(("name", "path", "make", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_tamper(env: Env, name: str, path: str, make: FaultMaker, pattern: str) -> None:
    env.server.faults[path] = make(env)
    extra = ("--retries", "0", "--timeout", "0.3") if name == "server hangs" else ()
    code, _, err = env.run(None, *extra)
    check_one_line_failure(code, err, pattern)
    if path != "*":
        assert path in env.server.requests, f"{path} was never fetched: case proves nothing"
    assert not env.out.exists()
    assert_cache_genuine(env, [env.honest.store])
    # The honest log still verifies with the same state and cache.
    env.server.reset()
    code, _, err = env.run()
    assert code == 0, err
    assert_cache_genuine(env, [env.honest.store])
    assert env.out.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\n")


def test_rollback(env: Env) -> None:
    assert env.run()[0] == 0
    older = env.honest.store.read(layout.history_key(450), 1 << 20)
    env.server.faults["checkpoint"] = logserver.replace(older)
    code, _, err = env.run()
    check_one_line_failure(code, err, "rolled back: checkpoint of size 450 after verified size 700")
    assert "evidence saved to" in err
    evidence = list((env.state).rglob("evidence-*.json"))
    assert len(evidence) == 1 and "rolled back" in evidence[0].read_text()
    env.server.reset()
    assert env.run()[0] == 0


@pytest.mark.parametrize(
    ("fork_name", "pattern"),
    [("fork_same", "forked: two roots for size 700"), ("fork_bigger", "not consistent")],
)
def test_fork(
    env: Env,
    fork_name: str,
    pattern: str,
    request: pytest.FixtureRequest,
    serve: Callable[[Store], LogServer],
) -> None:
    fork: BuiltLog = request.getfixturevalue(fork_name)
    assert env.run()[0] == 0
    evil = serve(fork.store)
    code, _, err = env.run(evil.url)
    check_one_line_failure(code, err, pattern)
    (evidence,) = env.state.rglob("evidence-*.json")
    assert (
        base64.b64encode(env.honest.checkpoints[-1].checkpoint.root).decode()
        in evidence.read_text()
    )
    assert_cache_genuine(env, [env.honest.store, fork.store])
    code, _, err = env.run()
    assert code == 0, err


def test_second_proof_costs_no_tile_get(env: Env) -> None:
    assert env.run()[0] == 0
    env.server.reset()
    assert env.run()[0] == 0
    assert env.server.tile_requests() == []
    assert set(env.server.requests) <= {
        "checkpoint",
        layout.cover_for(INDEX, 700),
        "checkpoints/450",
    }
