"""The ``tlog`` click group and how every command fails: one line, never a traceback.

Command modules import :data:`main` from here and register themselves on it;
:mod:`tlog.cli` imports them all. Nothing here imports a command module, so the
commands and the group form no import cycle.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click

from tlog.errors import ConfigError, TlogError

P = ParamSpec("P")
R = TypeVar("R")

#: Artifacts are read whole: hashedrekord and ``verify --artifact`` hash them, rekord
#: entries carry them.
MAX_ARTIFACT = 1 << 30
#: Exit status of a command whose reader went away (``tlog get … | head -1``), as the
#: shell reports for a tool killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141
#: Exit status of a command stopped by Ctrl-C (128 + SIGINT), as the shell reports it.
EXIT_INTERRUPTED = 130


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn TlogError (and OSError) into ``tlog: error: <message>`` and exit status 1.

    A closed standard output (the reader of a pipe went away) ends the command quietly
    with :data:`EXIT_BROKEN_PIPE`, as Unix tools do; Ctrl-C says "interrupted" and exits
    with :data:`EXIT_INTERRUPTED`, so a script can tell it from a failure.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            _quiet_exit()
        except TlogError as exc:
            die(str(exc))
        except OSError as exc:
            die(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            click.echo("tlog: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def read_file(path: Path, limit: int, what: str) -> bytes:
    """A user-named file, at most ``limit`` bytes; ConfigError (one line) otherwise."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(f"{what} {path} is over {limit} bytes")
    return data


def printable(text: str) -> str:
    """``text`` made safe to print: no lone surrogates (from hostile input) left."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def die(message: str) -> NoReturn:
    """Print ``tlog: error: <message>`` as one line on stderr and exit with status 1."""
    first = " ".join(message.split("\n")).strip() or "unknown error"
    click.echo(printable(f"tlog: error: {first}"), err=True)
    sys.exit(1)


def _quiet_exit() -> NoReturn:
    """Stop writing to a pipe nobody reads: point stdout at /dev/null (so the flush at
    interpreter exit cannot fail again and print a second error) and exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass
    sys.exit(EXIT_BROKEN_PIPE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tlog")
def main() -> None:
    """tlog: a static, tiled transparency log for software-supply-chain signatures.

    A batch job ('tlog sequence') appends signed entries to a log kept as immutable
    C2SP tiles plus a signed checkpoint, in a local folder or an S3 bucket. Readers
    verify everything themselves from the tiles, trusting only the log's public key.

    LOG is a folder, s3://bucket/prefix (any S3-compatible endpoint: --endpoint-url or
    AWS_ENDPOINT_URL) or, for read commands, an http(s):// URL.
    """
