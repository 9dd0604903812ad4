"""Helper processes (tlog.child) import this tlog, whatever folder they start in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tlog import child
from tlog.bundlecheck import Checked, Worker
from tlog.errors import StorageError, TlogError
from tlog.indexer import Indexer
from tlog.storage.maker import MADE, Maker


@pytest.fixture
def shadowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a bogus ``tlog`` package and ``pickle.py``, which
    note that they were imported (in the file this returns) and refuse to load."""
    marker = tmp_path / "imported"
    bogus = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\nraise ImportError('bogus')\n"
    (tmp_path / "tlog").mkdir()
    (tmp_path / "tlog" / "__init__.py").write_text(bogus)
    (tmp_path / "pickle.py").write_text(bogus)
    monkeypatch.chdir(tmp_path)
    return marker


def test_the_file_maker_imports_this_tlog(shadowed: Path, tmp_path: Path) -> None:
    maker = Maker()
    try:
        assert maker.wait(maker.submit([(str(tmp_path / "made"), b"x")]), 1) == [MADE]
    finally:
        maker.close()
    assert not shadowed.exists()


def test_the_index_worker_imports_this_tlog(shadowed: Path) -> None:
    with Indexer() as ix:
        ix.submit([b"a"], -1, [bytes(32)])  # no row holds a negative index
        with pytest.raises(TlogError, match="index worker failed: OverflowError"):
            ix.result()  # its own answer: the worker ran this tlog's code
    assert not shadowed.exists()


def test_an_audit_worker_imports_this_tlog(shadowed: Path) -> None:
    worker = Worker()
    try:
        worker.send((None, 0, 0, 0, frozenset(), 1))  # no bundles: nothing to fetch
        assert worker.receive() == Checked(0, [], [], {}, [bytearray() for _ in range(256)], None)
    finally:
        worker.close()
    assert not shadowed.exists()


def test_a_dead_audit_worker_is_a_storage_error() -> None:
    worker = Worker()
    worker.proc.kill()
    worker.proc.wait()
    with pytest.raises(StorageError, match=r"^audit worker exited with code -9$"):
        worker.send((None, 0, 0, 0, frozenset(), 1))
    with pytest.raises(StorageError, match=r"^audit worker exited with code -9$"):
        worker.receive()
    worker.close()


def test_the_import_path_drops_the_working_directory_unless_tlog_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(Path(child.__file__).resolve().parents[1])
    monkeypatch.setattr(sys, "path", ["", str(tmp_path), "/elsewhere", "/elsewhere/"])
    monkeypatch.chdir(tmp_path)
    assert child.import_path() == [root, "/elsewhere"]
    monkeypatch.setattr(sys, "path", ["", "/elsewhere", root])
    monkeypatch.chdir(root)
    assert child.import_path() == ["/elsewhere", root]


def test_a_busy_audit_worker_does_not_outlive_a_killed_auditor() -> None:
    """SIGKILL the auditing process while its worker waits on a fetch: the kernel ends
    the worker too (its parent-death signal), rather than leaving it fetching."""
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, never answers
        server.settimeout(60)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        code = (
            "import time; from tlog.bundlecheck import Worker; "
            "from tlog.fetch.http import HTTPFetcher; w = Worker(); "
            f"w.send((HTTPFetcher({url!r}, read_timeout=600, deadline=600), 256, 0, 1, "
            "frozenset(), 1)); print(w.proc.pid, flush=True); time.sleep(600)"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(child.import_path())}
        auditor = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
        try:
            assert auditor.stdout is not None
            worker = int(auditor.stdout.readline())
            conn, _ = server.accept()  # the worker's GET: it waits for an answer now
            auditor.kill()
            auditor.wait()
            for _ in range(600):
                if _gone(worker):
                    break
                time.sleep(0.05)
            assert _gone(worker), "the audit worker outlived its parent"
            conn.close()
        finally:
            auditor.kill()
            auditor.wait()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_an_audit_worker_whose_answers_are_garbage_is_ended() -> None:
    # Something in the worker printed to its stdout: the answers cannot be read, and
    # the worker, still alive, is killed rather than waited for.
    import io

    worker = Worker()
    alive = worker.proc.stdout
    worker.proc.stdout = io.BytesIO(b"not a pickle")  # type: ignore[assignment]
    raised: list[BaseException] = []

    def receive() -> None:
        try:
            worker.receive()
        except BaseException as exc:
            raised.append(exc)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    reader.join(60)  # not waiting on a worker that never exits
    try:
        assert not reader.is_alive()
        assert [str(e) for e in raised] == ["audit worker exited with code -9"]
        assert isinstance(raised[0], StorageError)
    finally:
        worker.proc.kill()
        worker.proc.stdout = alive
        worker.close()
