"""Input files of ``sequence`` and ``submit``: which files, and the candidates they hold.

FILE arguments may be files, ``-`` (standard input) or directories (every file under
them, recursively, in sorted order); ``--files-from FILE|-`` names one path per line,
so that a batch of 200,000 files needs no argument list.

Everything is streamed (docs/design.md "Streaming batches"): paths are listed, files
read and JSON lines split only as far as the consumer asks, so a batch of any size is
read in memory bounded by one line (or one raw entry) and one directory listing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from tlog.admission import Candidate, Outcome
from tlog.errors import ConfigError
from tlog.tile import MAX_ENTRY_SIZE

#: Largest file of JSON lines one run reads (split bigger batches).
MAX_INPUT_FILE = 1 << 30
#: Largest ``--files-from`` list.
MAX_FILE_LIST = 1 << 30
#: How much of a JSON-lines file is looked at to tell it from a binary file.
SNIFF = 4096

NOT_JSON_LINES = "not JSON lines"

#: Opens standard input (as a binary stream, read once).
Stdin = Callable[[], BinaryIO]


def input_paths(args: Iterable[str], files_from: str | None, stdin: Stdin) -> Iterator[str]:
    """The input files: ``args`` in order, directories expanded, then ``--files-from``."""
    args = list(args)
    if files_from == "-" and "-" in args:
        raise ConfigError("standard input cannot be both --files-from - and an input FILE")
    for arg in args:
        yield from _expand(arg)
    if files_from is not None:
        for line in _file_list(files_from, stdin):
            name = os.fsdecode(line.rstrip(b"\r\n").rstrip(b"\r"))
            if name.strip():
                yield from _expand(name)


def _file_list(files_from: str, stdin: Stdin) -> Iterator[bytes]:
    """The lines of the ``--files-from`` list, at most MAX_FILE_LIST bytes of them."""
    what = f"--files-from list {files_from}"
    try:
        f = stdin() if files_from == "-" else open(files_from, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}") from None
    total = 0
    with contextlib.nullcontext(f) if files_from == "-" else f:
        for line in f:
            total += len(line)
            if total > MAX_FILE_LIST:
                raise ConfigError(f"{what} is over {MAX_FILE_LIST} bytes: split the batch")
            yield line


def _expand(path: str) -> Iterator[str]:
    if path != "-" and os.path.isdir(path):
        yield from _walk(path)  # by path components: a, b/1, c
    else:
        yield path


def _walk(folder: str) -> Iterator[str]:
    """Every file under ``folder``, sorted by path components, one listing at a time
    (symbolic links to folders are not followed)."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path)
        elif not (entry.is_symlink() and entry.is_dir()):
            yield entry.path


def read_inputs(
    paths: Iterable[str], raw: bool, stdin: Stdin, *, raw_hint: str = ""
) -> Iterator[Candidate | Outcome]:
    """Candidates from files (``-`` is standard input); unreadable files become Outcomes.

    Raw mode: each file is one entry (read up to one byte past the entry limit, so an
    oversize file is refused, not truncated). Otherwise each non-blank line is one JSON
    document, from files of at most MAX_INPUT_FILE bytes (a bigger file is refused
    whole; standard input, whose size is not known ahead, is cut there with a refusal
    for the rest); a file that does not start like JSON lines (NUL bytes, not UTF-8, no
    ``{`` opening its first line) is refused once, whole, with ``raw_hint`` appended.
    """
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            f = stdin() if path == "-" else open(path, "rb")  # noqa: SIM115
        except OSError as exc:
            yield Outcome(name, error=f"cannot read {path}: {exc.strerror or exc}")
            continue
        with contextlib.nullcontext(f) if path == "-" else f:
            try:
                if raw:
                    yield Candidate(name, f.read(MAX_ENTRY_SIZE + 1))
                else:
                    yield from _json_lines(f, name, raw_hint)
            except OSError as exc:
                yield Outcome(name, error=f"cannot read {path}: {exc.strerror or exc}")


def _json_lines(f: BinaryIO, name: str, raw_hint: str) -> Iterator[Candidate | Outcome]:
    """Each non-blank line of ``f`` as a candidate named ``<name>:<line number>``."""
    try:
        size = os.fstat(f.fileno()).st_size if name != "<stdin>" else 0
    except (OSError, ValueError, AttributeError):
        size = 0
    if size > MAX_INPUT_FILE:
        yield Outcome(name, error=f"over {MAX_INPUT_FILE} bytes: split the batch")
        return
    head = f.read(SNIFF)
    if not looks_like_json_lines(head):
        yield Outcome(name, error=NOT_JSON_LINES + raw_hint)
        return
    read = getattr(f, "read1", f.read)  # what is there, up to a block (a pipe: no wait)
    lines = _Lines(name)
    # The line being read, in pieces (joined once its newline comes: a long line costs
    # no copy per block), held to the file's bound as it grows.
    pending, held = [head], len(head)
    while block := read(BLOCK):
        end = block.rfind(b"\n")
        if end < 0:
            pending.append(block)
            held += len(block)
            if lines.total + held > MAX_INPUT_FILE:
                yield lines.cut()
                return
            continue
        pending.append(block[:end])
        yield from lines.of(b"".join(pending))  # the text's whole lines
        if lines.over:
            return
        pending = [block[end + 1 :]]
        held = len(pending[0])
    if carry := b"".join(pending):
        yield from lines.of(carry, ended=False)


#: Bytes of a JSON-lines file read at a time (at most: from a pipe, what is there).
BLOCK = 1 << 20


class _Lines:
    """The candidates of a file's lines, numbered on from block to block."""

    def __init__(self, name: str) -> None:
        self.name, self.prefix = name, f"{name}:"
        self.lineno, self.total, self.over = 0, 0, False

    def of(self, text: bytes, ended: bool = True) -> Iterator[Candidate | Outcome]:
        """The candidates of ``text``: lines, with the newlines between them and, if
        ``ended``, one after them."""
        if b"\r" in text or self.total + len(text) + ended > MAX_INPUT_FILE:
            yield from self._each(text, ended)  # line by line: as below, but slower
            return
        parts = text.split(b"\n")
        self.total += len(text) + ended
        first, self.lineno = self.lineno + 1, self.lineno + len(parts)
        new, prefix = tuple.__new__, self.prefix  # Candidate(...), in C: a batch has millions
        stripped = map(bytes.strip, parts)
        yield from [
            new(Candidate, (prefix + str(i), s, None)) for i, s in enumerate(stripped, first) if s
        ]

    def cut(self) -> Outcome:
        """The refusal of the rest of a file over the bound (nothing more is read)."""
        self.over = True
        return Outcome(self.name, error=f"over {MAX_INPUT_FILE} bytes: the rest is not read")

    def _each(self, text: bytes, ended: bool) -> Iterator[Candidate | Outcome]:
        lines = text.split(b"\n")
        for n, line in enumerate(lines, 1):
            self.total += len(line) + (ended or n < len(lines))
            if self.total > MAX_INPUT_FILE:
                yield self.cut()
                return
            for part in line.splitlines() if b"\r" in line else (line,):
                self.lineno += 1
                if part.strip():
                    yield Candidate(f"{self.prefix}{self.lineno}", part.strip())


def looks_like_json_lines(data: bytes) -> bool:
    """False for what is surely no file of JSON lines (a binary file given without --raw).

    Looks at the start only: no NUL byte, UTF-8 text, and a first non-blank line
    opening with ``{``. An empty file passes (it holds no entry).
    """
    head = data[:SNIFF]
    if b"\x00" in head:
        return False
    first = next((line for line in head.splitlines() if line.strip()), b"")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not just a character cut at SNIFF
            return False
    return not first.strip() or first.strip().startswith(b"{")
