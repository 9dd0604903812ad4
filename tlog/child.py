"""A helper process of tlog's: started on this interpreter, importing this tlog.

The file maker (:mod:`tlog.storage.maker`), the index worker (:mod:`tlog.indexer`) and
the audit's bundle workers (:mod:`tlog.bundlecheck`) are fresh interpreters (no fork
of a process with threads, no re-import of the caller's ``__main__``) that exchange
pickles with their parent over their stdin and stdout. Each must import the same code
as its parent, whatever folder it runs in: ``python -c`` or ``-m`` would put the working
directory first on its import path, so a ``tlog/`` folder or a ``pickle.py`` there
would be imported instead (different code reading the parent's pickles; a folder
someone else controls means running their code). So a child runs ``python -P``
(Python 3.11: no working directory on the path), reads its import path, the parent's
(:func:`import_path`), from its stdin before it imports anything of tlog, and then
calls ``serve(parent pid)`` of its module.

It cannot outlive its parent: it exits when its stdin ends (the parent closed it, or
died), and :func:`die_with` has the kernel kill it when the thread that started it ends
(Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

__all__ = ["die_with", "import_path", "reap", "serving", "start"]

_PR_SET_PDEATHSIG = 1

#: What a child runs: its import path from stdin (stdlib ``pickle`` and ``sys`` only,
#: found without the working directory), then its module's ``serve(parent)``.
_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from {module} import serve; serve(int(sys.argv[1]))"
)


def start(module: str) -> subprocess.Popen[bytes]:
    """Start ``module``'s ``serve`` (a module of tlog) in a child process, pipes on its
    stdin and stdout, and send it its import path; raises OSError if it cannot start."""
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", _BOOT.format(module=module), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        pickle.dump(import_path(), proc.stdin)
        proc.stdin.flush()  # it starts importing now, not at the first job
    except (OSError, ValueError) as exc:
        reap(proc)
        raise OSError(f"the child process did not start: {exc}") from None
    return proc


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child ``proc`` (perhaps mid-job), close its pipes, wait for it."""
    proc.kill()
    for pipe in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError, ValueError):
            if pipe is not None:
                pipe.close()
    proc.wait()


def serving(parent: int) -> tuple[BinaryIO, BinaryIO]:
    """In a child, first: Ctrl-C and SIGTERM ignored (the parent decides what they
    mean), :func:`die_with` the parent; its jobs' and answers' streams (stdin, stdout)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    die_with(parent)
    return sys.stdin.buffer, sys.stdout.buffer


def import_path() -> list[str]:
    """This process's import path for a child: ``sys.path`` without the working
    directory (``''`` or its name), unless this tlog was imported from there, and with
    the folder holding this tlog first if it is not on it."""
    root = str(Path(__file__).resolve().parents[1])
    try:
        here = os.getcwd()
    except OSError:  # a removed working directory: only '' can stand for it
        here = ""
    path: list[str] = []
    for entry in sys.path:
        full = os.path.abspath(entry) if entry else here
        if not entry or (full == here and full != root):
            continue
        if full not in path:
            path.append(full)
    if root not in path:
        path.insert(0, root)
    return path


def die_with(parent: int) -> None:
    """In a child: have the kernel kill this process when its parent dies (Linux), and
    exit now if the parent already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the closed pipe ends the loop
        pass
    if os.getppid() != parent:
        os._exit(0)
