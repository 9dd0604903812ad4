"""Operator and publisher commands: init, sequence, submit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tlog import layout
from tlog.cli.app import main, one_line_errors, printable
from tlog.cli.options import LOG_HELP, endpoint_option, key_option, timestamp_key_option
from tlog.errors import ConfigError, OversizeError
from tlog.keys import load_keys
from tlog.sequencer import (
    Admit,
    Candidate,
    NothingAdmitted,
    Outcome,
    Result,
    Sequencer,
    admit_rekor,
    parallel_admission,
    peek_origin,
    pending_candidates,
    read_inputs,
    submit,
)
from tlog.storage import Store
from tlog.storage.locate import open_store


def sequencer_for(store: Store, key_source: str, ts_key: Path | None) -> Sequencer:
    """A Sequencer for the log in ``store``, with its keys loaded for the log's origin."""
    origin = peek_origin(store)
    # KMS is found from the AWS environment (AWS_ENDPOINT_URL_KMS for a custom one), never
    # from --endpoint-url, which names the S3-compatible store: the two often differ.
    keys = load_keys(key_source, origin, timestamp_key=ts_key)
    return Sequencer(store, keys)


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@click.option("--origin", required=True, help="The log's origin (must match the key's name).")
@key_option
@timestamp_key_option
@endpoint_option
@one_line_errors
def init(
    location: str,
    origin: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
) -> None:
    """Create an empty log and publish its first checkpoint (size 0)."""
    store = open_store(location, endpoint_url)
    keys = load_keys(key_source, origin, timestamp_key=timestamp_key)
    signed = Sequencer(store, keys).init()
    click.echo(signed.format().decode(), nl=False)


def _print(outcome: Outcome, fmt: str) -> None:
    """One line for one input; reasons may quote hostile input, so print them safely."""
    if fmt == "json":
        doc: dict[str, object] = {"source": outcome.source}
        if outcome.ok:
            doc.update(index=outcome.log_index, uuid=outcome.uuid, duplicate=outcome.duplicate)
        else:
            doc["error"] = outcome.error
        click.echo(json.dumps(doc, sort_keys=True))
    elif outcome.ok and outcome.log_index is None:
        click.echo(f"{outcome.source}: already logged by another run, uuid {outcome.uuid}")
    elif outcome.ok:
        dup = " (duplicate: already at that index)" if outcome.duplicate else ""
        click.echo(f"{outcome.source}: index {outcome.log_index} uuid {outcome.uuid}{dup}")
    else:
        click.echo(printable(f"{outcome.source}: refused: {outcome.error}"))


def print_checkpoint(result: Result, fmt: str) -> None:
    """The published checkpoint (text: the signed note; json: one object)."""
    cp = result.checkpoint.checkpoint
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "checkpoint": result.note.decode(),
                    "size": cp.size,
                    "root": cp.root.hex(),
                    "timestamp": result.checkpoint.timestamp,
                    "recovered": result.recovered,
                },
                sort_keys=True,
            )
        )
    else:
        if result.recovered is not None:
            click.echo(f"recovered: rolled forward an interrupted batch to size {result.recovered}")
        click.echo(result.note.decode(), nl=False)


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@key_option
@timestamp_key_option
@endpoint_option
@click.option("--pending", is_flag=True, help="Also sequence the queue filled by 'tlog submit'.")
@click.option("--max-pending", default=1_000_000, show_default=True, help="Queue items per run.")
@click.option("--raw", is_flag=True, help="Each FILE is one opaque entry (no Rekor validation).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.argument("files", nargs=-1)
@one_line_errors
def sequence(
    location: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
    pending: bool,
    max_pending: int,
    raw: bool,
    fmt: str,
    files: tuple[str, ...],
) -> None:
    """Append a batch of entries to the log and publish a new checkpoint.

    Each FILE (or - for standard input) holds one JSON entry per line: a Rekor proposed
    entry {"kind","apiVersion","spec"} or a Rekor v2 request. With --raw each FILE is
    one entry as it is. Prints one line per input (index and UUID, or why it was
    refused), then the new checkpoint. Exits 0 only when every input was admitted and
    the checkpoint covering them is published; 1 if any input was refused.

    Also completes a batch an earlier, interrupted run committed but did not publish.
    """
    if not files and not pending:
        raise ConfigError("give FILEs (or -) to sequence, or --pending")
    store = open_store(location, endpoint_url)
    seq = sequencer_for(store, key_source, timestamp_key)
    inputs = read_inputs(files, raw, sys.stdin.buffer.read)
    if pending:
        inputs.extend(pending_candidates(store, max_pending))
    early = [o for o in inputs if isinstance(o, Outcome)]
    cands = [c for c in inputs if isinstance(c, Candidate)]
    admit: Admit | None = None if raw else admit_rekor
    for o in early:
        _print(o, fmt)
    try:
        if admit is not None and len(cands) > 512:
            with parallel_admission() as pool:
                result = seq.sequence(cands, admit, executor=pool)
        else:
            result = seq.sequence(cands, admit)
    except NothingAdmitted as exc:
        for o in exc.outcomes:
            _print(o, fmt)
        raise
    refused = bool(early)
    for o in result.outcomes:
        _print(o, fmt)
        refused = refused or not o.ok
    print_checkpoint(result, fmt)
    if refused:
        sys.exit(1)


@main.command(name="submit")
@click.option("--log", "location", required=True, help=LOG_HELP)
@endpoint_option
@click.argument("files", nargs=-1, required=True)
@one_line_errors
def submit_cmd(location: str, endpoint_url: str | None, files: tuple[str, ...]) -> None:
    """Queue entries (one JSON document per line) for the next 'sequence --pending'.

    Queued items are content-addressed: submitting the same document twice queues it
    once. Prints the queue key of each.
    """
    store = open_store(location, endpoint_url)
    peek_origin(store)
    failed = False
    for item in read_inputs(files, False, sys.stdin.buffer.read):
        if isinstance(item, Outcome):
            click.echo(f"{item.source}: refused: {item.error}")
            failed = True
            continue
        try:
            key = submit(store, item.data)
        except OversizeError as exc:
            click.echo(f"{item.source}: refused: {exc}")
            failed = True
            continue
        click.echo(f"{item.source}: queued {key[len(layout.PENDING_PREFIX) :]}")
    if failed:
        sys.exit(1)
