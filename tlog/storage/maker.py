"""The file maker: a helper process that writes a folder store's temp files ahead.

docs/design.md "Throughput". On a disk, making a file costs the kernel far more than
writing its bytes (ext4's inode allocation: 0.1–0.7 ms of CPU each), and the
sequencer makes thousands per batch while its threads run Python. A thread of the
sequencer's own process would have to take the interpreter lock back after each of
the three system calls a file costs, and while another thread runs Python each of
those waits up to the switch interval (5 ms): such a thread makes a few hundred files a
second instead of thousands. The maker is a separate interpreter, so its system calls
wait for nobody; it makes files on one core while the sequencer's Python runs on the
other, as a Go writer does on one.

It only writes temp files, at paths its parent names (``.tmp-tlog-<parent pid>-<n>``
in folders the parent made, :mod:`tlog.storage.temp`): nothing it does is visible,
the parent links them into place (:meth:`tlog.storage.folder.FolderStore.create_many`)
or removes them. Best effort: a file it could not make is reported so, and the parent
writes that one itself.

Like the index worker (:mod:`tlog.indexer`): a child process (:mod:`tlog.child`: a
fresh interpreter importing the parent's tlog), jobs in order on its stdin, one answer
per job on its stdout; it exits when its stdin ends (the parent closed it or died), and
the kernel kills it when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from tlog import child

__all__ = ["Maker"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

#: A job: the paths of the files to make, and their bytes.
Job = Sequence[tuple[str, bytes]]


class Maker:
    """One helper process making temp files, jobs answered in the order sent.

    Not thread-safe: its one user (a folder store's :class:`tlog.storage.temp.Ahead`)
    holds a lock around it. A job's answer is a list of flags, one per file: made or
    not. A dead or unstartable helper answers "nothing made"."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sender: threading.Thread | None = None  # the last job's, still writing
        self._reader: threading.Thread | None = None  # takes the answers as they come
        self._sent = 0  # jobs sent to the helper now running
        self._answers: dict[int, list[bool]] = {}
        self._answered = 0
        self._broken = False  # no helper to be had: every job answers "nothing made"
        self._ended = threading.Condition()  # an answer came, or the helper's output ended

    def submit(self, job: Job) -> int:
        """Send ``job``; its number, for :meth:`wait`."""
        proc = self._proc or self._start()
        number = self._sent
        self._sent += 1
        if proc is None:
            return number
        data = pickle.dumps(list(job), pickle.HIGHEST_PROTOCOL)
        before = self._sender  # jobs are written in order, each after the one before
        self._sender = threading.Thread(
            target=self._send, args=(proc, data, before), name="tlog-maker-send", daemon=True
        )
        self._sender.start()
        return number

    def warm(self) -> None:
        """Start the helper now (an interpreter takes a moment) if none is running."""
        if self._proc is None:
            self._start()

    def wait(self, number: int, size: int) -> list[bool]:
        """Whether each of the ``size`` files of job ``number`` was made (waits for it)."""
        with self._ended:
            self._ended.wait_for(lambda: self._answered > number or self._reader is None)
            return self._answers.pop(number, None) or [False] * size

    def idle(self) -> bool:
        """Whether every job sent is answered (the helper has nothing to make)."""
        with self._ended:
            return self._answered >= self._sent or self._reader is None

    def close(self) -> None:
        """Stop the helper (at once, perhaps mid-job) and wait for it; idempotent.
        Files it made stay: the caller removes every path its jobs named. The next
        :meth:`submit` starts another."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()  # mid-job perhaps: the caller removes every file the jobs named
        if self._sender is not None:
            self._sender.join()  # its write fails now, if it was still going
            self._sender = None
        reader = self._reader
        if reader is not None:
            reader.join()  # it reads the end of the helper's output
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()
        proc.wait()
        self._sent = self._answered = 0
        self._answers.clear()

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._broken:
            return None
        try:
            proc = child.start("tlog.storage.maker")
        except OSError:
            self._broken = True
            return None
        self._proc = proc
        self._reader = threading.Thread(
            target=self._read, args=(proc,), name="tlog-maker-read", daemon=True
        )
        self._reader.start()
        return proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        """Take the helper's answers, in order, until its output ends."""
        assert proc.stdout is not None
        while True:
            try:
                answer = pickle.load(proc.stdout)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                break
            with self._ended:
                self._answers[self._answered] = list(answer)
                self._answered += 1
                self._ended.notify_all()
        with self._ended:
            self._reader = None
            self._ended.notify_all()

    def _send(
        self, proc: subprocess.Popen[bytes], data: bytes, before: threading.Thread | None
    ) -> None:
        if before is not None:
            before.join()
        try:
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the helper is gone: its answer never comes, wait() says so


def serve(parent: int) -> None:
    """The helper's loop: a job in on stdin, one flag per file out on stdout, until
    stdin ends."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides what they mean
        signal.signal(sig, signal.SIG_IGN)
    child.die_with(parent)
    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job: list[tuple[str, bytes]] = pickle.load(jobs)
        except (EOFError, OSError, pickle.UnpicklingError):
            return
        made = [make(path, data) for path, data in job]
        del job
        try:
            pickle.dump(made, answers, pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except OSError:
            return


def make(path: str, data: bytes) -> bool:
    """Write a new file ``path`` holding ``data``, unsynced; whether it was made (a
    failure leaves no file)."""
    try:
        fd = os.open(path, _FLAGS, 0o666)
    except OSError:
        return False  # an existing name (a crashed run's, same pid) or a vanished folder
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False
    os.close(fd)
    return True
