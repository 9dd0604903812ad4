"""One ``tlog sequence`` run as its user sees it: interrupts, and progress on a terminal.

SIGINT and SIGTERM never cut a protocol step in half. The handler only counts the
signal; the run checks at the protocol's step boundaries (docs/design.md "The write
protocol"):

* before the commit (steps 1–5): the run stops there — exit 130, "interrupted: nothing
  was logged";
* after the commit (steps 6–7, short): the run finishes publishing; a second signal
  stops it with "batch committed at size N but not yet published; the next run
  publishes it — do not resubmit";
* after publishing: every outcome line is printed, as if no signal had come.

A big batch is committed in chunks (docs/design.md "Streaming batches"), each with these
steps: an interrupt stops the run before the next chunk's commit, and the chunks
published so far stay logged (their outcomes are printed as each is published).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import NoReturn, TextIO

import click

from tlog.cli.app import EXIT_INTERRUPTED
from tlog.sequencer import Watcher

STEPS = {
    1: "loading the log",
    2: "admitting",
    3: "building tiles",
    4: "staging the batch",
    5: "committing",
    6: "writing tiles",
    7: "publishing",
    8: "cleaning up",
}


class Interrupted(BaseException):
    """A signal stopped the run (not an error: a BaseException, like KeyboardInterrupt)."""


def committed_message(size: int) -> str:
    return (
        f"batch committed at size {size} but not yet published; "
        "the next run publishes it — do not resubmit"
    )


class RunWatcher(Watcher):
    """Signals and progress of one run; a context manager that installs the handlers."""

    def __init__(self, progress: TextIO | None = None) -> None:
        self.signals = 0
        self.committed_size: int | None = None
        self.published = False
        #: Chunks of this run published so far.
        self.chunks = 0
        self.progress = progress
        self._saved: dict[int, object] = {}

    def __enter__(self) -> RunWatcher:
        if threading.current_thread() is threading.main_thread():  # where handlers run
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, old in self._saved.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.committed_size is not None and not self.published and self.signals > 1:
            raise Interrupted  # asked twice: leave the committed batch to the next run

    def _check(self) -> None:
        if self.signals and self.committed_size is None:
            raise Interrupted

    def step(self, number: int) -> None:
        if number == 8:
            self.published = True
            self.chunks += 1
        elif number == 1 and self.published:  # the next chunk of a streamed batch
            self.committed_size, self.published = None, False
        self._check()
        self._show(STEPS.get(number, ""))

    def admitted(self, done: int, total: int) -> None:
        if self.signals and (self.committed_size is None or self.published):
            raise Interrupted  # between chunks: the next one is not committed
        self._show(f"admitting: {done:,}" + (f" of {total:,}" if total else ""))

    def committed(self, size: int) -> None:
        self.committed_size = size

    def _show(self, text: str) -> None:
        if self.progress is not None:
            self.progress.write(f"\r{text}\x1b[K")
            self.progress.flush()

    def clear(self) -> None:
        """Take the progress line off the terminal (before printing results)."""
        self._show("")

    def fail(self, exc: BaseException) -> NoReturn:
        """Say what an exception that ended the run means for the batch, then exit."""
        code = EXIT_INTERRUPTED if isinstance(exc, Interrupted) else 1
        self.clear()
        if self.committed_size is not None and not self.published:
            cause = "" if isinstance(exc, Interrupted) else f" ({exc})"
            click.echo(f"tlog: error: {committed_message(self.committed_size)}{cause}", err=True)
            sys.exit(code)
        if isinstance(exc, Interrupted):
            what = (
                "the inputs reported above were logged; nothing more was"
                if self.chunks
                else "nothing was logged"
            )
            click.echo(f"tlog: interrupted: {what}", err=True)
            sys.exit(code)
        raise exc


def on_terminal() -> TextIO | None:
    """Standard error if it is a terminal (where progress goes), else None."""
    return sys.stderr if sys.stderr.isatty() else None
