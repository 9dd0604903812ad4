"""Click options more than one command shares, each defined once.

Writers: :data:`LOG_HELP`, :data:`key_option`, :data:`timestamp_key_option`,
:data:`endpoint_option`. Every command: :data:`format_option`,
:data:`format_lines_option` or :func:`choose_format` (``--format text|json``, with
what this command prints), :data:`witness_policy_option`. Readers: :data:`vkey_option`,
:func:`entry_options` and :func:`reader_options`, which gives a command one
:class:`ReaderOptions` value in place of the seven options every online read command
takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tlog.fetch.readahead import PARALLEL, PARALLEL_HTTP

if TYPE_CHECKING:
    from tlog.client import Client

R = TypeVar("R")
FC = TypeVar("FC", bound=Callable[..., Any])

LOG_HELP = "The log: a folder or s3://bucket/prefix."
READ_LOG_HELP = "The log: a folder, s3://bucket/prefix or an http(s):// URL."

key_option = click.option(
    "--key",
    "key_source",
    required=True,
    help="The log's private key: a PEM file, a file holding a PRIVATE+KEY+... note signer "
    "key, or awskms://<key id or ARN> (AWS credentials and region from the environment; "
    "AWS_ENDPOINT_URL_KMS for a non-AWS endpoint).",
)
timestamp_key_option = click.option(
    "--timestamp-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The log's Ed25519 key (it signs every checkpoint and its timestamp) when --key "
    "is an ECDSA or awskms:// key.",
)
endpoint_option = click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    help="S3-compatible endpoint for s3:// logs, as http(s)://host[:port] "
    "(default: AWS, or $AWS_ENDPOINT_URL).",
)


def choose_format(help: str) -> Callable[[FC], FC]:
    """``--format text|json`` (default text), with what it prints for one command."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help,
    )


#: For a command that prints one result.
format_option = choose_format("Output for people (text) or one JSON document for programs (json).")
#: For a command that prints a line per input: json is one object per line.
format_lines_option = choose_format("text for people, json (one object per line) for programs.")
vkey_option = click.option(
    "--vkey",
    "vkeys",
    multiple=True,
    required=True,
    help="The log's vkey, or a file of vkey lines such as log.vkey (repeatable; give the "
    "timestamp vkey too to check entry times).",
)

witness_policy_option = click.option(
    "--witness-policy",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A C2SP tlog-policy file: its witnesses and the quorum of their cosignatures a "
    "checkpoint needs (docs/witness.md).",
)

_ENTRY_OPTIONS = [
    click.option("--log-index", type=click.IntRange(min=0), help="The entry's index."),
    click.option(
        "--uuid",
        help="The entry's UUID (hex leaf hash, or Rekor's 80-digit form); found by "
        "scanning the log.",
    ),
]


def entry_options(fn: Callable[..., R]) -> Callable[..., R]:
    """--log-index and --uuid, for the commands that pick one entry."""
    for option in reversed(_ENTRY_OPTIONS):
        fn = option(fn)
    return fn


@dataclass(frozen=True)
class ReaderOptions:
    """Where a read command finds the log, what it trusts, and where it keeps state."""

    location: str
    vkeys: tuple[str, ...]
    endpoint_url: str | None
    state_dir: Path | None
    cache_dir: Path | None
    timeout: float | None
    retries: int
    witness_policy: Path | None = None
    #: None: :func:`tlog.fetch.readahead.default_parallel` (64 over HTTP, else 16).
    parallel: int | None = None

    def client(self, *, cache: bool = True) -> Client:
        """The verifying client of the log (:func:`tlog.client.open_log`); says on stderr,
        once, when the log's origin was read before with another key.
        """
        from tlog.client import load_policy, open_log  # readers only: writers start faster

        client = open_log(
            self.location,
            self.vkeys,
            endpoint_url=self.endpoint_url,
            state_dir=self.state_dir,
            cache_dir=self.cache_dir,
            timeout=self.timeout,
            retries=self.retries,
            cache=cache,
            policy=None if self.witness_policy is None else load_policy(self.witness_policy),
            parallel=self.parallel,
        )
        state = client.state
        if state is not None and state.load(client.origin, client.verifiers) is None:
            others = state.others(client.origin, client.verifiers)
            if others:
                click.echo(
                    f"tlog: note: {client.origin} was read before with another key "
                    f"(state {others[0]}); these keys start their own history. If this is "
                    "the same log, its key changed: check that with its operator, then "
                    "remove that file to forget the old key.",
                    err=True,
                )
        return client


_READER_OPTIONS = [
    click.option("--log", "location", required=True, help=READ_LOG_HELP),
    vkey_option,
    endpoint_option,
    click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the last verified checkpoint of each log is kept "
        "(default: $XDG_STATE_HOME/tlog).",
    ),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where verified tiles are cached (default: $XDG_CACHE_HOME/tlog).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0.01),
        default=None,
        help="Seconds an HTTP try may take, from connecting to the last byte (default: 10 "
        "to connect, 30 between reads, 300 per object).",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0, max=10),
        default=3,
        show_default=True,
        help="How often to retry an HTTP GET that failed (429, 5xx, network).",
    ),
    click.option(
        "--parallel",
        type=click.IntRange(min=1, max=256),
        default=None,
        help=(
            "Most objects fetched at once (scans and audits read ahead this many). "
            f"Default: {PARALLEL_HTTP} over HTTP(S), {PARALLEL} for a folder or S3."
        ),
    ),
    witness_policy_option,
]
_FIELDS = (
    "location",
    "vkeys",
    "endpoint_url",
    "state_dir",
    "cache_dir",
    "timeout",
    "retries",
    "witness_policy",
    "parallel",
)


def reader_options(fn: Callable[..., R]) -> Callable[..., R]:
    """--log, --vkey and the options every online read command shares, given to the
    command as its first argument, one :class:`ReaderOptions`.
    """

    @wraps(fn)
    def wrapper(**kwargs: Any) -> R:
        reader = ReaderOptions(**{name: kwargs.pop(name) for name in _FIELDS})
        return fn(reader, **kwargs)

    command: Callable[..., R] = wrapper
    for option in reversed(_READER_OPTIONS):
        command = option(command)
    return command
