"""Helper processes (tlog.child) import this tlog, whatever folder they start in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tlog import child
from tlog.bundlecheck import Checked, Worker
from tlog.errors import StorageError, TlogError
from tlog.indexer import Indexer
from tlog.storage.maker import Maker


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
        assert maker.wait(maker.submit([(str(tmp_path / "made"), b"x")]), 1) == [True]
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
