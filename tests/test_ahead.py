"""The next chunk guessed while this one is applied, and its files made by a helper
process: the log is the same byte for byte, a wrong guess is dropped, nothing is left
behind (docs/design.md "Throughput")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from children import children
from logcheck import check_log
from test_sequencer import KEYS, batch, new_log

from tlog import guess as guessing
from tlog import indexer
from tlog.admission import Placement
from tlog.checkpoint import Checkpoint
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore
from tlog.storage.maker import EXISTS, FAILED, MADE, Maker

AHEAD, BUILT = guessing.ahead, guessing.built


def helpers(parent: int | None = None) -> list[int]:
    """Pids of the file makers of ``parent`` (this process by default)."""
    return children("tlog.storage.maker", parent)


def objects(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _run(root: Path, monkeypatch: pytest.MonkeyPatch, *, ahead: bool, fail: int = 0) -> list[bool]:
    """A 4-chunk run into a folder, each chunk guessed (the index worker on for all);
    with ``ahead``, chunk k+1 is always waited for and guessed while chunk k is applied
    (the ``fail``-th guess ahead raises once made). Which guesses made ahead were kept,
    in order."""
    monkeypatch.setattr(indexer, "WORKER_FROM", 1)
    made: list[Any] = []
    kept: list[bool] = []
    real_ahead, real_built = AHEAD, BUILT

    def spy_ahead(*args: Any) -> Any:
        if not ahead:
            return None
        made.append(real_ahead(*args))
        if len(made) == fail:
            raise RuntimeError("the guess ahead failed")
        return made[-1]

    def spy_built(guess: Any, cp: Checkpoint, placement: Placement) -> Any:
        grown = real_built(guess, cp, placement)
        if any(m is not None and m[1] is guess for m in made):
            kept.append(grown is not None)
        return grown

    monkeypatch.setattr(guessing, "ahead", spy_ahead)
    monkeypatch.setattr(guessing, "built", spy_built)
    monkeypatch.setattr(guessing, "preparing", lambda store: True)  # wait for the feed
    store = FolderStore(root)
    seq = new_log(store)
    seq.chunk_entries = 50
    seq.sequence(batch("a", 10))
    seq.sequence(batch("b", 190))
    check_log(store, KEYS)
    assert sorted(root.rglob(".tmp-*")) == []
    assert not helpers()
    return kept


@pytest.mark.slow
def test_the_next_chunk_guessed_ahead_gives_the_same_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path / "plain", monkeypatch, ahead=False)
    assert _run(tmp_path / "ahead", monkeypatch, ahead=True) == [True, True, True]
    assert objects(tmp_path / "ahead") == objects(tmp_path / "plain")


def test_a_failed_guess_ahead_is_only_no_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guess of chunk 2, made while chunk 1 is applied, raises: chunk 1 (committed)
    is still applied and published, chunk 2 is built without a guess, and the log is
    the same as a run's without guesses ahead."""
    _run(tmp_path / "plain", monkeypatch, ahead=False)
    assert _run(tmp_path / "failed", monkeypatch, ahead=True, fail=2) == [True, True]
    assert objects(tmp_path / "failed") == objects(tmp_path / "plain")


def test_a_guess_ahead_is_dropped_when_another_run_commits_in_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another sequencer commits between chunk 1 and chunk 2 of a run: the guess made
    on chunk 1's tree is dropped, chunk 2 is built on the lock as it is, and no temp
    file or helper is left."""
    monkeypatch.setattr(indexer, "WORKER_FROM", 1)
    monkeypatch.setattr(guessing, "preparing", lambda store: True)
    kept: list[bool] = []
    real_built = guessing.built

    def spy_built(guess: Any, cp: Checkpoint, placement: Placement) -> Any:
        grown = real_built(guess, cp, placement)
        kept.append(grown is not None)
        return grown

    monkeypatch.setattr(guessing, "built", spy_built)
    real_ahead = guessing.ahead
    other = new_log(FolderStore(tmp_path))

    def ahead_then_commit(*args: Any) -> Any:
        made = real_ahead(*args)
        if made is not None and not kept[1:]:
            other.sequence(batch("x", 3))  # lands before this chunk's publish: a new lock
        return made

    monkeypatch.setattr(guessing, "ahead", ahead_then_commit)
    store = FolderStore(tmp_path)
    seq = Sequencer(store, KEYS, clock=lambda: 1_800_000_000, chunk_entries=50)
    results = list(seq.stream(iter(batch("a", 100))))
    assert [r.checkpoint.checkpoint.size for r in results] == [50, 103]
    # Chunk 1's own guess kept, the other run's kept, chunk 2's made ahead dropped.
    assert kept == [True, True, False]
    assert len(check_log(store, KEYS)) == 103
    assert sorted(tmp_path.rglob(".tmp-*")) == []
    assert not helpers()


def test_the_maker_makes_new_files_only_and_stops(tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"someone's")
    maker = Maker()
    first = maker.submit([(str(tmp_path / "a"), b"A" * 100_000), (str(tmp_path / "taken"), b"x")])
    second = maker.submit([(str(tmp_path / "gone" / "b"), b"B"), (str(tmp_path / "c"), b"")])
    assert maker.wait(first, 2) == [MADE, EXISTS]
    assert maker.wait(second, 2) == [FAILED, MADE]
    assert maker.idle()
    assert (tmp_path / "a").read_bytes() == b"A" * 100_000
    assert (tmp_path / "taken").read_bytes() == b"someone's"
    assert (tmp_path / "c").read_bytes() == b"" and not (tmp_path / "gone").exists()
    assert len(helpers()) == 1
    maker.close()
    assert not helpers()


def test_the_maker_does_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    code = (
        "import sys, time; from tlog.storage.maker import Maker; m = Maker(); "
        f"m.wait(m.submit([({str(tmp_path / 'f')!r}, b'x')]), 1); print('up', flush=True); "
        "time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"up\n"
        (child,) = helpers(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(200):
            if not Path(f"/proc/{child}").exists() or "Z" in _state(child):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the file maker outlived its parent")
    finally:
        parent.kill()
        parent.wait()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
