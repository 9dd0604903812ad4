"""``tlog freeze``: make the log's last checkpoint final (docs/server.md "Freezing")."""

from __future__ import annotations

import json
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
from tlog.freeze import freeze as freeze_log
from tlog.sequencer import sequencer_for
from tlog.storage.locate import open_store


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@key_option
@timestamp_key_option
@endpoint_option
@choose_format("text: a line and the final checkpoint; json: {origin, size, root, ...}")
@one_line_errors
def freeze(
    location: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
    fmt: str,
) -> None:
    """Freeze the log: publish its final checkpoint and a signed 'frozen' marker.

    Sequencers and 'tlog server' then refuse to append; 'loginfo' says the log is
    frozen. Point writers at the next shard (docs/server.md "Shard rotation").
    """
    store = open_store(location, endpoint_url)
    seq = sequencer_for(store, key_source, timestamp_key)
    final, already = freeze_log(store, seq.keys, seq.recover)
    cp = final.checkpoint
    if fmt == "json":
        doc = {
            "origin": cp.origin,
            "size": cp.size,
            "root": cp.root.hex(),
            "alreadyFrozen": already,
            "checkpoint": final.format().decode(),
        }
        click.echo(json.dumps(doc, sort_keys=True))
        return
    state = "was already frozen" if already else "is now frozen"
    click.echo(f"{cp.origin} {state} at size {cp.size}, root {cp.root.hex()}")
    click.echo(final.format().decode(), nl=False)
