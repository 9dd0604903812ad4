"""The file maker's helper process and the temp files it makes ahead: a file it did
not make is never removed, two stores on one folder never share a temp name, a helper
that died is replaced, a failed start leaves no process (tlog/storage/maker.py,
tlog/storage/temp.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_ahead import helpers

from tlog.storage import maker as making
from tlog.storage import temp
from tlog.storage.folder import FolderStore
from tlog.storage.maker import FAILED, MADE, Maker
from tlog.storage.temp import Ahead


def test_a_file_the_maker_found_there_is_not_removed(tmp_path: Path) -> None:
    """A name already taken (another writer's temp file) is left alone: neither
    overwritten nor unlinked when the job is taken."""
    theirs = tmp_path / f".tmp-tlog-{os.getpid()}-0"
    theirs.write_bytes(b"another writer's temp file")
    ahead = Ahead()
    try:
        ahead.start([("tile/0/000", str(theirs), b"tile bytes")])
        assert ahead.take({"tile/0/000"}) == {}
        assert theirs.read_bytes() == b"another writer's temp file"
    finally:
        ahead.drop()


def test_two_stores_on_one_folder_keep_their_files_made_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores make a file ahead in one folder; the first one's create_many does
    not remove the second one's temp file, which the second then links (it writes
    none itself)."""
    one, two = FolderStore(tmp_path), FolderStore(tmp_path)
    try:
        one.prepare_many([("tile/0/000", b"one")])
        two.prepare_many([("tile/0/001", b"two")])
        one.create_many([("tile/0/000", b"one")])

        def stage(*args: Any) -> str:
            raise AssertionError("the file made ahead was lost")

        monkeypatch.setattr(two, "_stage", stage)
        two.create_many([("tile/0/001", b"two")])
        assert (tmp_path / "tile" / "0" / "001").read_bytes() == b"two"
        assert sorted((tmp_path / "tile" / "0").glob(".tmp-*")) == []
    finally:
        one.discard_prepared()
        two.discard_prepared()


def test_temp_names_differ_between_stores_of_a_process(tmp_path: Path) -> None:
    one, two = FolderStore(tmp_path), FolderStore(tmp_path)
    names = {temp.path(str(tmp_path), s._seq.__next__) for s in (one, two, one, two)}
    assert len(names) == 4


def test_a_helper_that_died_is_replaced(tmp_path: Path) -> None:
    maker = Maker()
    try:
        assert maker.wait(maker.submit([(str(tmp_path / "a"), b"A")]), 1) == [MADE]
        (dead,) = helpers()
        os.kill(dead, signal.SIGKILL)
        os.waitid(os.P_PID, dead, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
        assert maker.wait(maker.submit([(str(tmp_path / "b"), b"B")]), 1) == [MADE]
        assert (tmp_path / "b").read_bytes() == b"B"
        assert helpers() != [dead] and len(helpers()) == 1
    finally:
        maker.close()
    assert not helpers()


def test_a_helper_that_cannot_be_given_its_path_is_killed_and_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    def dump(*args: Any) -> None:
        raise BrokenPipeError("the helper went away")

    monkeypatch.setattr(making.subprocess, "Popen", popen)
    monkeypatch.setattr(making.pickle, "dump", dump)
    maker = Maker()
    number = maker.submit([(str(tmp_path / "a"), b"A")])
    assert maker.wait(number, 1) == [FAILED]
    assert len(started) == 1 and started[0].returncode is not None  # killed and reaped
    assert not helpers()
    maker.close()
