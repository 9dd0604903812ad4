"""The ``tlog`` click group and how every command fails: one line, never a traceback.

Command modules import :data:`main` from here and register themselves on it. The
group imports a command's module only when that command runs (or its help is asked
for): :data:`COMMANDS` names each command's module and summary, so ``tlog --help``
lists every command without importing any (start-up stays a few tens of milliseconds,
and a folder log never loads boto3). Nothing here imports a command module at import
time, so the commands and the group form no import cycle.

Garbage collection: a ``tlog`` process makes tens of thousands of long-lived objects
as it starts (modules; botocore's S3 model for an S3 log) and little garbage, so
Python's cyclic collector, which runs whenever allocations pile up, spent tens of
milliseconds in full collections traversing them all, and a full collection at exit
traversed everything again (about 90 ms for an S3 batch). As the process's command
line, the group pauses the collector until the command's module is imported, commands
pause it again around their own set-up (:func:`starting`), and each pause ends by
freezing what was made (:func:`gc.freeze`: later collections skip it, so memory is
still collected from what the command does); when the command ends, everything is
frozen, so the exit's collections have nothing to traverse. Called with its arguments
(``main(args)``, as the tests do) the group leaves the collector alone.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

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

#: Every top-level command: (its module under ``tlog.cli``, the first paragraph of its
#: help, which ``tlog --help`` shows cut to fit). tests/test_cli_app.py checks both
#: against the commands the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": (
        "audit",
        "Re-derive the whole log from its entries: every bundle, hash tile and root, and "
        "every published checkpoint; stops at the first inconsistency.",
    ),
    "freeze": (
        "freeze",
        "Freeze the log: publish its final checkpoint and a signed 'frozen' marker.",
    ),
    "get": (
        "entry",
        "Fetch one entry, verified against the log's checkpoint, with its integrated time.",
    ),
    "index": ("index", "The log's search and deduplication index (docs/index.md)."),
    "init": ("write", "Create an empty log and publish its first checkpoint (size 0)."),
    "key": ("keys", "Inspect a log's keys."),
    "keygen": ("keys", "Generate a log's signing keys and print its labelled vkeys."),
    "loginfo": (
        "checkpoint",
        "Verify the log's checkpoint (and its consistency with the last one seen).",
    ),
    "logproof": (
        "checkpoint",
        "Print a verified consistency proof between two sizes of the log (RFC 6962 §2.1.2).",
    ),
    "monitor": (
        "monitor",
        "Watch a log: prove each new checkpoint consistent with the last, scan every new "
        "entry for the watched identities, keys and digests, check that each entry is "
        "valid and logged once and that the published index lists exactly the entries' keys.",
    ),
    "prove": ("proof", "Write an offline proof that an entry is in the log."),
    "search": (
        "search",
        "Find entries by artifact, public key, identity or UUID, proven complete.",
    ),
    "sequence": (
        "write",
        "Append a batch of entries to the log and publish a new checkpoint.",
    ),
    "serve": ("serve", "Serve a log over HTTP, read-only, as a CDN would, until Ctrl-C."),
    "server": (
        "server",
        "Serve the Rekor v2 write API (POST /api/v2/log/entries) for the log.",
    ),
    "sigstore-config": (
        "sigstore_config",
        "Print the TrustedRoot 'tlogs' entry and the SigningConfig 'rekorTlogUrls' entry "
        'of the log, as one JSON object: {"tlogs": [...], "rekorTlogUrls": [...]}.',
    ),
    "status": (
        "write",
        "What became of a submission: queued, logged (index and UUID), or refused (why).",
    ),
    "submit": (
        "write",
        "Queue entries (one JSON document per line) for the next 'sequence --pending'.",
    ),
    "upload": (
        "upload",
        "Log one signed artifact: build its Rekor entry, verify it, then sequence it.",
    ),
    "verify": (
        "proof",
        "Check an offline proof (--proof), with no network: the checkpoint's signatures, "
        "the inclusion proof, the entry's bytes, and (with --artifact) that the entry is "
        "about that artifact: the artifact itself or its SHA-256 digest for raw entries, "
        "a digest recorded in the body for hashedrekord/rekord entries.",
    ),
    "witness": (
        "witness",
        "Run a C2SP tlog-witness: cosign the checkpoints of the logs in a policy.",
    ),
}


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


#: Set when the group runs as the process's command line (``_LazyGroup.main``).
_PROCESS: list[bool] = []


@contextmanager
def starting() -> Iterator[None]:
    """Set-up that makes long-lived objects and little garbage (opening an S3 store
    imports botocore and loads its models; loading keys): in a ``tlog`` process, the
    cyclic garbage collector is paused meanwhile, and what it made is frozen after
    (:func:`gc.freeze`: never traversed again). Module docstring, "Garbage collection"."""
    if not _PROCESS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def load(module: str) -> None:
    """Import command module ``tlog.cli.<module>``: its commands register on :data:`main`."""
    importlib.import_module(f"tlog.cli.{module}")


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands, imported on first use: looking one up imports its module,
    listing them all (``main.commands.items()``) imports every command module."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded and name in COMMANDS:
            load(COMMANDS[name][0])
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        for module, _ in COMMANDS.values():
            load(module)
        return iter(dict(self._loaded))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _LazyGroup(click.Group):
    """A group whose commands' modules are imported only when needed (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def main(self, args: Sequence[str] | None = None, *more: Any, **kwargs: Any) -> Any:
        """click's ``main``; as the process's own command line (``args`` from
        ``sys.argv``), with the cyclic garbage collector paused while it starts (module
        docstring, "Garbage collection")."""
        if args is not None:  # called with its arguments (tests): not a process of its own
            return super().main(args, *more, **kwargs)
        _PROCESS.append(True)
        gc.disable()
        try:
            return super().main(args, *more, **kwargs)
        finally:
            gc.freeze()  # about to exit: the collections at exit skip everything
            gc.enable()
            _PROCESS.clear()

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's lookup of the command, which imports its module; then the collector
        resumes (:func:`starting`)."""
        found = super().resolve_command(ctx, args)
        if _PROCESS and not gc.isenabled():
            gc.freeze()
            gc.enable()
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``tlog --help``, from :data:`COMMANDS` (nothing imported)."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, click.utils.make_default_short_help(summary, limit))
            for name, (_, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: what click's ``version_option`` prints, worked out only when asked
    (click's decorator translates its message at import, which loads ``locale``, and
    looks the version up in the installed metadata when the flag is given)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    click.echo(f"{ctx.find_root().info_name}, version {version('tlog')}", color=ctx.color)
    ctx.exit()


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
def main() -> None:
    """tlog: a static, tiled transparency log for software-supply-chain signatures.

    A batch job ('tlog sequence') appends signed entries to a log kept as immutable
    C2SP tiles plus a signed checkpoint, in a local folder or an S3 bucket. Readers
    verify everything themselves from the tiles, trusting only the log's public key.

    LOG is a folder, s3://bucket/prefix (any S3-compatible endpoint: --endpoint-url or
    AWS_ENDPOINT_URL) or, for read commands, an http(s):// URL.
    """
