"""``tlog index rebuild``: build the search and dedup index of a log that predates it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import (
    LOG_HELP,
    choose_format,
    endpoint_option,
    key_option,
    timestamp_key_option,
)
from tlog.index.rebuild import rebuild
from tlog.sequencer import sequencer_for
from tlog.storage.locate import open_store


@main.group()
def index() -> None:
    """The log's search and deduplication index (docs/index.md)."""


@index.command(name="rebuild")
@click.option("--log", "location", required=True, help=LOG_HELP)
@key_option
@timestamp_key_option
@endpoint_option
@choose_format("text: one line; json: {size, segments, resumedFrom, already}")
@one_line_errors
def rebuild_command(
    location: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
    fmt: str,
) -> None:
    """Index every entry of the log and publish the signed index head.

    Resumable: a run that is stopped or crashes continues where it left off. Progress
    is shown on a terminal.
    """
    store = open_store(location, endpoint_url)
    keys = sequencer_for(store, key_source, timestamp_key).keys  # loaded for the log's origin
    tty = sys.stderr.isatty()

    def shown(done: int, total: int) -> None:
        if tty:
            click.echo(f"\rindexed {done:,} of {total:,} entries", nl=False, err=True)

    result = rebuild(store, keys, progress=shown)
    if tty and not result.already:
        click.echo("", err=True)
    if fmt == "json":
        doc = {
            "size": result.size,
            "segments": result.segments,
            "resumedFrom": result.resumed_from,
            "already": result.already,
        }
        click.echo(json.dumps(doc, sort_keys=True))
        return
    if result.already:
        click.echo(f"the index already covers size {result.size}: nothing to do")
        return
    resumed = f" (resumed at {result.resumed_from})" if result.resumed_from else ""
    click.echo(f"indexed {result.size} entries in {result.segments} segments{resumed}")
