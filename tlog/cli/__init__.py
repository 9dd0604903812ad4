"""The ``tlog`` command line (click). Errors: one line on stderr, non-zero exit.

Commands live in one module per role: :mod:`tlog.cli.write` (keygen, init, sequence,
submit, serve), :mod:`tlog.cli.read` (loginfo, get, search, prove, verify, logproof,
audit) and :mod:`tlog.cli.upload`. Each registers itself on :data:`main`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click

from tlog.errors import ConfigError, TlogError

P = ParamSpec("P")
R = TypeVar("R")


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn TlogError (and OSError) into ``tlog: error: <message>`` and exit status 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TlogError as exc:
            _die(str(exc))
        except OSError as exc:
            _die(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            _die("interrupted")

    return wrapper


endpoint_option = click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    help="S3-compatible endpoint for s3:// logs (default: AWS, or $AWS_ENDPOINT_URL).",
)


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


def _die(message: str) -> NoReturn:
    first = " ".join(message.split("\n")).strip() or "unknown error"
    click.echo(printable(f"tlog: error: {first}"), err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tlog")
def main() -> None:
    """tlog: a static, tiled transparency log for software-supply-chain signatures.

    A batch job (``tlog sequence``) appends signed entries to a log kept as immutable
    C2SP tiles plus a signed checkpoint, in a local folder or an S3 bucket. Readers
    verify everything themselves from the tiles, trusting only the log's public key.

    LOG is a folder, s3://bucket/prefix (any S3-compatible endpoint: --endpoint-url or
    AWS_ENDPOINT_URL) or, for read commands, an http(s):// URL.
    """


# The command modules register themselves on ``main`` when imported.
from tlog.cli import keys, read, serve, upload, write  # noqa: E402, F401
