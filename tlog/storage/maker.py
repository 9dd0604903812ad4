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
writes that one itself; one whose name was taken is reported apart (EXISTS), for the
parent must not remove a file that is not the helper's.

Like the index worker (:mod:`tlog.indexer`): a child process (:mod:`tlog.child`: a
fresh interpreter importing the parent's tlog), jobs in order on its stdin, one answer
per job on its stdout; it exits when its stdin ends (the parent closed it or died), and
the kernel kills it when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import threading
from collections.abc import Sequence
from typing import Literal

from tlog import child

__all__ = ["EXISTS", "FAILED", "MADE", "Maker"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

#: A job: the paths of the files to make, and their bytes.
Job = Sequence[tuple[str, bytes]]
#: What became of one file of a job.
Outcome = Literal["made", "exists", "failed"]
#: Made whole.
MADE: Outcome = "made"
#: Not made: a file of that name was there (not the helper's: leave it alone).
EXISTS: Outcome = "exists"
#: Not made, and perhaps partly written (the helper failed or died mid-file): the
#: caller removes the path.
FAILED: Outcome = "failed"


class Maker:
    """A helper process making temp files, jobs answered in the order sent.

    Not thread-safe: its one user (a folder store's :class:`tlog.storage.temp.Ahead`)
    holds a lock around it. A job's answer is one :data:`Outcome` per file. A helper
    found dead (killed: out of memory, say) is replaced at the next job; its jobs not
    answered answer FAILED, as do all jobs if no helper can be had (one that cannot be
    started, or that dies before answering anything, is not tried again)."""

    def __init__(self) -> None:
        self._helper: _Helper | None = None
        self._jobs: dict[int, tuple[_Helper | None, int]] = {}  # number: helper's number
        self._next = 0
        self._broken = False  # no helper to be had: every job answers FAILED

    def submit(self, job: Job) -> int:
        """Send ``job``; its number, for :meth:`wait`."""
        helper = self._live()
        number, self._next = self._next, self._next + 1
        data = pickle.dumps(list(job), pickle.HIGHEST_PROTOCOL)
        self._jobs[number] = (helper, helper.send(data) if helper is not None else 0)
        return number

    def warm(self) -> None:
        """Start the helper now (an interpreter takes a moment) if none is running."""
        self._live()

    def wait(self, number: int, size: int) -> list[Outcome]:
        """What became of each of the ``size`` files of job ``number`` (waits for it)."""
        helper, local = self._jobs.pop(number, (None, 0))
        return [FAILED] * size if helper is None else helper.wait(local, size)

    def idle(self) -> bool:
        """Whether every job sent is answered (the helper has nothing to make)."""
        helper = self._helper
        return helper is None or helper.idle()

    def close(self) -> None:
        """Stop the helper (at once, perhaps mid-job) and wait for it; idempotent.
        Files it made stay: the caller removes every path its jobs named. The next
        :meth:`submit` starts another."""
        helper, self._helper = self._helper, None
        self._jobs.clear()
        if helper is not None:
            helper.stop()

    def _live(self) -> _Helper | None:
        """The running helper, started if there is none; a dead one is reaped first."""
        helper = self._helper
        if helper is not None and helper.gone():
            self._helper = None
            helper.stop()
            self._broken = self._broken or helper.answered == 0  # died straight away
            helper = None
        if helper is None and not self._broken:
            helper = self._helper = _Helper.start()
            self._broken = helper is None
        return helper


class _Helper:
    """One helper process: jobs numbered from 0 as sent, answers kept until waited for."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.answered = 0
        self._sent = 0
        self._answers: dict[int, list[Outcome]] = {}
        self._sender: threading.Thread | None = None  # the last job's, still writing
        self._done = False  # its output ended (it exited or was killed)
        self._ended = threading.Condition()  # an answer came, or the output ended
        self._reader = threading.Thread(target=self._read, name="tlog-maker-read", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls) -> _Helper | None:
        """A new helper given this process's import path, or None if none can be had
        (a helper started but not given its path is killed and waited for)."""
        try:
            proc = child.start("tlog.storage.maker")  # killed and waited for if not given its path
        except OSError:
            return None
        return cls(proc)

    def send(self, data: bytes) -> int:
        """Send a pickled job; its number at this helper."""
        number, self._sent = self._sent, self._sent + 1
        before = self._sender  # jobs are written in order, each after the one before
        self._sender = threading.Thread(
            target=self._send, args=(data, before), name="tlog-maker-send", daemon=True
        )
        self._sender.start()
        return number

    def wait(self, number: int, size: int) -> list[Outcome]:
        with self._ended:
            self._ended.wait_for(lambda: self.answered > number or self._done)
            return self._answers.pop(number, None) or [FAILED] * size

    def idle(self) -> bool:
        with self._ended:
            return self.answered >= self._sent or self._done

    def gone(self) -> bool:
        """Whether the process has ended (its answers to come never will)."""
        return self._done or self.proc.poll() is not None

    def stop(self) -> None:
        """Kill the process (perhaps mid-job) and wait for it and its threads."""
        self.proc.kill()
        if self._sender is not None:
            self._sender.join()  # its write fails now, if it was still going
        self._reader.join()  # it reads the end of the helper's output
        child.reap(self.proc)

    def _read(self) -> None:
        """Take the helper's answers, in order, until its output ends."""
        assert self.proc.stdout is not None
        while True:
            try:
                answer = pickle.load(self.proc.stdout)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                break
            with self._ended:
                self._answers[self.answered] = list(answer)
                self.answered += 1
                self._ended.notify_all()
        with self._ended:
            self._done = True
            self._ended.notify_all()

    def _send(self, data: bytes, before: threading.Thread | None) -> None:
        if before is not None:
            before.join()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the helper is gone: its answer never comes, wait() says so


def serve(parent: int) -> None:
    """The helper's loop: a job in on stdin, one flag per file out on stdout, until
    stdin ends."""
    jobs, answers = child.serving(parent)
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


def make(path: str, data: bytes) -> Outcome:
    """Write a new file ``path`` holding ``data``, unsynced: MADE, EXISTS (another
    file has the name: left alone) or FAILED (a failed write's file is removed)."""
    try:
        fd = os.open(path, _FLAGS, 0o666)
    except FileExistsError:
        return EXISTS  # not this helper's (a crashed process's with the same pid)
    except OSError:
        return FAILED  # a vanished folder, say: nothing was made
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return FAILED
    os.close(fd)
    return MADE
