"""SIGINT and SIGTERM during ``tlog sequence``, sent to a real process at chosen steps.

The sequencer runs in a child process whose store blocks at one chosen operation until
the test has sent its signals, so each signal lands at a known step of the protocol.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import ORIGIN, make_log, run
from logcheck import check_log

from tlog import layout
from tlog.keys import load_keys
from tlog.storage.folder import FolderStore

CHILD = r"""
import signal, sys, time
from pathlib import Path

handled = [0]  # signals whose handler has run (a signal can be pending on another thread)
_install = signal.signal
def counting(sig, handler):
    if callable(handler):
        inner = handler
        def handler(signum, frame):
            handled[0] += 1
            return inner(signum, frame)
    return _install(sig, handler)
signal.signal = counting

from tlog.cli import main, write
from tlog.storage.folder import FolderStore

gate, block, when = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def wait(op):
    if not op.startswith(block) or (gate / "at").exists():
        return
    (gate / "at").write_text(op)
    while not (gate / "go").exists():
        if (gate / "tick").exists() and not (gate / "tock").exists() and handled[0]:
            (gate / "tock").write_text("")  # the signal sent before "tick" was handled
        time.sleep(0.005)

class Blocking(FolderStore):
    def _call(self, name, key, fn, *args):
        if when == "before":
            wait(f"{name} {key}")
        out = fn(*args)
        if when == "after":
            wait(f"{name} {key}")
        return out
    def create(self, key, data):
        return self._call("create", key, super().create, key, data)
    def create_many(self, items):
        return self._call("create_many", items[0][0], super().create_many, items)
    def swap(self, key, data, expect):
        return self._call("swap", key, super().swap, key, data, expect)
    def delete(self, key):
        return self._call("delete", key, super().delete, key)

write.open_store = lambda location, endpoint=None: Blocking(Path(location))
main(sys.argv[4:], prog_name="tlog")
"""


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    while not path.exists():
        assert proc.poll() is None, "the child ended before reaching the blocking operation"
        time.sleep(0.005)


def gate_and_artifacts(tmp_path: Path) -> tuple[Path, list[str]]:
    """A gate folder for the blocking hook, and three artifact files to sequence."""
    gate = tmp_path / "gate"
    gate.mkdir()
    files = []
    for i in range(3):
        f = tmp_path / f"artifact{i}"
        f.write_bytes(b"artifact %d" % i)
        files.append(str(f))
    return gate, files


def interrupted(
    log: tuple[Path, Path], tmp_path: Path, block: str, when: str, signals: list[int]
) -> tuple[int, str, str]:
    """Run ``tlog sequence --raw`` over three files, block at ``block`` and signal."""
    gate, files = gate_and_artifacts(tmp_path)
    args = ["sequence", "--log", str(log[0]), "--key", str(log[1] / "log.key"), "--raw", *files]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(gate), block, when, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(gate / "at", proc)
    for n, sig in enumerate(signals):
        os.kill(proc.pid, sig)
        if n < len(signals) - 1:  # let the handler run before the next signal
            (gate / "tick").write_text("")
            _wait_for(gate / "tock", proc)
    (gate / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, Path]:
    return make_log(tmp_path)


def logged(log: tuple[Path, Path]) -> list[bytes]:
    return check_log(FolderStore(log[0]), load_keys(str(log[1] / "log.key"), ORIGIN))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_before_the_commit_nothing_is_logged(
    log: tuple[Path, Path], tmp_path: Path, sig: int
) -> None:
    code, out, err = interrupted(log, tmp_path, "create private/staging/", "after", [sig])
    assert code == 130, err
    assert err == "tlog: interrupted: nothing was logged\n"
    assert "index" not in out
    assert logged(log) == []
    assert FolderStore(log[0]).list(layout.STAGING_PREFIX) == []


def test_after_the_commit_the_run_finishes_publishing(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    code, out, err = interrupted(log, tmp_path, "swap private/lock", "after", [signal.SIGTERM])
    assert code == 0, err
    assert [line.split(": ")[1].split(" uuid")[0] for line in out.splitlines()[:3]] == [
        "index 0",
        "index 1",
        "index 2",
    ]
    assert logged(log) == [b"artifact 0", b"artifact 1", b"artifact 2"]


def test_a_second_signal_after_the_commit_says_not_to_resubmit(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    code, _, err = interrupted(
        log, tmp_path, "create checkpoints/3", "before", [signal.SIGINT, signal.SIGINT]
    )
    assert code == 130
    assert err == (
        "tlog: error: batch committed at size 3 but not yet published; "
        "the next run publishes it — do not resubmit\n"
    )
    code, out, err = run(
        "sequence", "--log", str(log[0]), "--key", str(log[1] / "log.key"), "--pending"
    )
    assert code == 0, err
    assert "published a batch that another sequencer committed (size 3)" in out
    assert logged(log) == [b"artifact 0", b"artifact 1", b"artifact 2"]


def test_after_publishing_every_outcome_is_printed(log: tuple[Path, Path], tmp_path: Path) -> None:
    code, out, err = interrupted(
        log, tmp_path, "delete private/staging/", "before", [signal.SIGINT]
    )
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(": index ")[1][:1] for line in lines[:3]] == ["0", "1", "2"]
    assert lines[3] == ORIGIN and lines[4] == "3"
    assert logged(log) == [b"artifact 0", b"artifact 1", b"artifact 2"]


def test_progress_goes_to_a_terminal(log: tuple[Path, Path], tmp_path: Path) -> None:
    import pty

    f = tmp_path / "a"
    f.write_bytes(b"a")
    master, slave = pty.openpty()
    args = ["sequence", "--log", str(log[0]), "--key", str(log[1] / "log.key"), "--raw", str(f)]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tlog.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        assert ready, "the child neither wrote nor ended"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert b"\rcommitting" in seen and b"\rpublishing" in seen
    assert b"committing" not in out  # progress never reaches standard output


def test_between_chunks_the_published_chunks_stay_logged(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    """A signal while the second chunk is staged: the first chunk (published, printed)
    stays logged, the second is not, and the run says so."""
    gate, files = gate_and_artifacts(tmp_path)
    args = ["sequence", "--log", str(log[0]), "--key", str(log[1] / "log.key"), "--raw"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(gate),
            "create private/staging/3-",
            "after",
            *args,
            "--chunk-entries",
            "2",
            *files,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(gate / "at", proc)
    os.kill(proc.pid, signal.SIGINT)
    (gate / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode() == (
        "tlog: interrupted: the inputs reported above were logged; nothing more was\n"
    )
    assert [line.split(": ")[1].split(" uuid")[0] for line in out.decode().splitlines()] == [
        "index 0",
        "index 1",
    ]
    assert logged(log) == [b"artifact 0", b"artifact 1"]
    assert FolderStore(log[0]).list(layout.STAGING_PREFIX) == []
