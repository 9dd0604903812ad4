"""The folder store's temp files: named to be recognised, written whole, swept when stale.

:class:`~tlog.storage.folder.FolderStore` writes every object to a temp file first and
then renames or links it into place. Temp files are named ``.tmp-tlog-<pid>-<n>``: the
leading dot makes the name no valid key (:func:`tlog.layout.check_key`), so listings,
reads and ``tlog serve`` never show one, the pid says which process wrote it, and
``<n>`` counts the temp files of that process (:data:`NUMBERS`, shared by its stores).

A run killed between writing a temp file and removing it leaves the file behind. The
next write into that directory removes such leftovers once stale: older than
STALE_AGE seconds and written by a process that no longer exists on this host, or
older than ABANDONED_AGE whatever the pid (pids are reused). A live writer's temp file
is seconds old, so a concurrent run never loses one.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from typing import BinaryIO

from tlog.errors import StorageError
from tlog.storage.maker import FAILED, MADE, Maker

PREFIX = ".tmp-tlog-"
#: Seconds after which a temp file whose writer is gone is a leftover.
STALE_AGE = 10 * 60
#: Seconds after which any temp file is a leftover.
ABANDONED_AGE = 24 * 60 * 60
_CHUNK = 1 << 20
#: Numbers for the temp files of this process, whichever store writes them.
NUMBERS = itertools.count()

# Also the names earlier versions wrote (``.tmp-<pid>-<n>``).
_NAME = re.compile(r"\.tmp-(?:tlog-)?([0-9]{1,10})-[0-9]{1,20}")


def write(folder: str, seq: Callable[[], int], data: bytes | BinaryIO, sync: bool = True) -> str:
    """A new temp file in ``folder`` holding ``data`` (fsynced unless not ``sync``);
    a file is copied from offset 0 to its end, a chunk at a time.

    ``seq`` numbers the files of this process. FileNotFoundError passes through (the
    folder vanished: the caller may create it again); other failures are StorageError.
    """
    while True:
        tmp = path(folder, seq)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue  # left behind by a crashed process with our pid
        except FileNotFoundError:
            raise
        except OSError as e:
            raise StorageError(f"cannot write in {folder}: {e.strerror or e}") from e
        break
    try:
        if isinstance(data, bytes | bytearray | memoryview):
            _write_all(fd, data)
        else:
            data.seek(0)
            while chunk := data.read(_CHUNK):
                _write_all(fd, chunk)
        if sync:
            os.fsync(fd)
    except BaseException as e:
        os.close(fd)
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise StorageError(f"cannot write {tmp}: {e.strerror or e}") from e
        raise
    os.close(fd)
    return tmp


def path(folder: str, seq: Callable[[], int]) -> str:
    """A fresh temp file name in ``folder`` for this process (``seq`` numbers them:
    :data:`NUMBERS`, shared by every store of the process, so no two stores on one
    folder pick the same name and remove each other's files)."""
    return os.path.join(folder, f"{PREFIX}{os.getpid()}-{seq()}")


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # exists but is not ours; a pid past the limit cannot
    return True


def sweep(folder: str, now: Callable[[], float] = time.time) -> list[str]:
    """Remove the stale temp files of ``folder`` (see the module docstring); best effort.

    Returns the names removed. Symlinks and directories are never touched.
    """
    removed: list[str] = []
    with suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            m = _NAME.fullmatch(entry.name)
            if m is None or not entry.is_file(follow_symlinks=False):
                continue
            age = now() - entry.stat(follow_symlinks=False).st_mtime
            if age > ABANDONED_AGE or (age > STALE_AGE and not _alive(int(m.group(1)))):
                with suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


class Ahead:
    """Temp files written ahead for the objects coming batches will create
    (:meth:`tlog.storage.folder.FolderStore.prepare_many`), by a helper process
    (:class:`tlog.storage.maker.Maker`: no system call of it waits for this process's
    interpreter lock), job after job. Safe to share between threads: whoever takes a
    job's files waits for the helper to have made them."""

    def __init__(self) -> None:
        #: Jobs sent, in order: the maker's number and each file's key, path and bytes.
        self._jobs: list[tuple[int, list[tuple[str, str, bytes]]]] = []
        self._maker = Maker()
        self._lock = threading.Lock()

    def start(self, files: list[tuple[str, str, bytes]]) -> None:
        """Have the helper make the files (key, path, bytes), after the jobs before
        (none: only start the helper, an interpreter takes a moment, for jobs to come)."""
        with self._lock:
            if not files:
                self._maker.warm()
                return
            self._jobs.append((self._maker.submit([(p, d) for _, p, d in files]), files))

    def take(self, keys: Collection[str]) -> dict[str, tuple[str, bytes]]:
        """By key, the path and bytes of each file of the jobs up to the last holding
        one of ``keys``, now the caller's (waits for them); later jobs stay."""
        with self._lock:
            last = -1
            for i, (_, files) in enumerate(self._jobs):
                if any(key in keys for key, _, _ in files):
                    last = i
            taken, self._jobs = self._jobs[: last + 1], self._jobs[last + 1 :]
            out: dict[str, tuple[str, bytes]] = {}
            gone: list[str] = []  # perhaps half made (remove), or made again later
            for number, files in taken:
                made = self._maker.wait(number, len(files))
                for (key, path, data), outcome in zip(files, made, strict=True):
                    if outcome != MADE:
                        if outcome == FAILED:  # EXISTS: another file, not ours to remove
                            gone.append(path)
                        continue
                    if key in out:
                        gone.append(out[key][0])
                    out[key] = (path, data)
        remove(gone)
        return out

    def idle(self) -> bool:
        """Whether the helper has made every file asked of it."""
        return self._maker.idle()

    def drop(self) -> None:
        """Stop the helper and remove every file of every job."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
            self._maker.close()
        remove(path for _, files in jobs for _, path, _ in files)


def pick(files: dict[str, tuple[str, bytes]], key: str, data: bytes) -> str | None:
    """The path of ``key``'s file in ``files`` if it holds ``data`` (taken out of
    ``files``; one that does not stays, for the caller to remove)."""
    ready = files.get(key)
    if ready is None or not (ready[1] is data or ready[1] == data):
        return None
    del files[key]
    return ready[0]


def remove(paths: Iterable[str]) -> None:
    """Unlink the temp files ``paths`` (best effort: a leftover is swept later)."""
    for path in paths:
        with suppress(OSError):
            os.unlink(path)


_LIBC = ctypes.CDLL(None, use_errno=True)


def syncfs(path: str) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (Linux ``syncfs``)."""
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)
