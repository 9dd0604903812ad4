"""Input files of ``sequence`` and ``submit``: which files, and the candidates they hold.

FILE arguments may be files, ``-`` (standard input) or directories (every file under
them, recursively, in sorted order); ``--files-from FILE|-`` names one path per line,
so that a batch of 200,000 files needs no argument list.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tlog.admission import Candidate, Outcome
from tlog.cli.app import read_file
from tlog.errors import ConfigError
from tlog.tile import MAX_ENTRY_SIZE

#: Largest file of JSON lines one run reads (split bigger batches).
MAX_INPUT_FILE = 1 << 30
#: Largest ``--files-from`` list.
MAX_FILE_LIST = 1 << 30
#: How much of a JSON-lines file is looked at to tell it from a binary file.
SNIFF = 4096

NOT_JSON_LINES = "not JSON lines"


def input_paths(
    args: Iterable[str], files_from: str | None, stdin: Callable[[int], bytes]
) -> list[str]:
    """The input files: ``args`` in order, directories expanded, then ``--files-from``."""
    args = list(args)
    if files_from == "-" and "-" in args:
        raise ConfigError("standard input cannot be both --files-from - and an input FILE")
    out: list[str] = []
    for arg in args:
        out.extend(_expand(arg))
    if files_from is not None:
        for line in _file_list(files_from, stdin).splitlines():
            name = os.fsdecode(line.rstrip(b"\r"))
            if name.strip():
                out.extend(_expand(name))
    return out


def _file_list(files_from: str, stdin: Callable[[int], bytes]) -> bytes:
    if files_from != "-":
        return read_file(Path(files_from), MAX_FILE_LIST, "--files-from list")
    data = stdin(MAX_FILE_LIST + 1)
    if len(data) > MAX_FILE_LIST:
        raise ConfigError(f"--files-from - is over {MAX_FILE_LIST} bytes: split the batch")
    return data


def _expand(path: str) -> Iterator[str]:
    if path != "-" and os.path.isdir(path):
        found = (Path(root, name) for root, _, files in os.walk(path) for name in files)
        yield from (str(p) for p in sorted(found))  # by path components: a, b/1, c
    else:
        yield path


def read_inputs(
    paths: Iterable[str], raw: bool, stdin: Callable[[int], bytes], *, raw_hint: str = ""
) -> list[Candidate | Outcome]:
    """Candidates from files (``-`` is standard input); unreadable files become Outcomes.

    Raw mode: each file is one entry (read up to one byte past the entry limit, so an
    oversize file is refused, not truncated). Otherwise each non-blank line is one JSON
    document, from files of at most MAX_INPUT_FILE bytes; a file that does not start
    like JSON lines (NUL bytes, not UTF-8, no ``{`` opening its first line) is refused
    once, whole, with ``raw_hint`` appended. ``stdin(n)`` reads at most n bytes.
    """
    limit = MAX_ENTRY_SIZE + 1 if raw else MAX_INPUT_FILE + 1
    out: list[Candidate | Outcome] = []
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            if path == "-":
                data = stdin(limit)
            else:
                with open(path, "rb") as f:
                    data = f.read(limit)
        except OSError as exc:
            out.append(Outcome(name, error=f"cannot read {path}: {exc.strerror or exc}"))
            continue
        if raw:
            out.append(Candidate(name, data))
        elif len(data) >= limit:
            out.append(Outcome(name, error=f"over {MAX_INPUT_FILE} bytes: split the batch"))
        elif not looks_like_json_lines(data):
            out.append(Outcome(name, error=NOT_JSON_LINES + raw_hint))
        else:
            for lineno, line in enumerate(data.splitlines(), 1):
                if line.strip():
                    out.append(Candidate(f"{name}:{lineno}", line.strip()))
    return out


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
