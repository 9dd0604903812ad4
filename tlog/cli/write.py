"""Operator and publisher commands: init, sequence, submit, status."""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO

import click

from tlog.admission import (
    ADMIT_CHUNK,
    Admit,
    Candidate,
    Outcome,
    Refused,
    admit_all,
    admit_rekor,
    parallel_admission,
)
from tlog.cli.app import main, one_line_errors, printable, starting
from tlog.cli.inputs import input_paths, read_inputs
from tlog.cli.options import (
    LOG_HELP,
    endpoint_option,
    format_lines_option,
    format_option,
    key_option,
    timestamp_key_option,
    witness_policy_option,
)
from tlog.cli.results import print_checkpoint, print_outcome, print_outcomes
from tlog.cli.watch import Interrupted, RunWatcher, on_terminal
from tlog.errors import ConfigError, NothingAdmitted, TlogError
from tlog.keys import load_keys
from tlog.queue import pending_candidates, public_size, queued_uuids, status, submit
from tlog.sequencer import CHUNK_ENTRIES, Result, Sequencer, sequencer_for
from tlog.storage import Store
from tlog.storage.locate import open_store
from tlog.witness.client import DEFAULT_TIMEOUT, Witnessing

files_from_option = click.option(
    "--files-from",
    metavar="FILE|-",
    help="Read input paths from FILE (- : standard input), one per line, after the FILEs.",
)


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@click.option("--origin", required=True, help="The log's origin (must match the key's name).")
@key_option
@timestamp_key_option
@endpoint_option
@format_option
@one_line_errors
def init(
    location: str,
    origin: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
    fmt: str,
) -> None:
    """Create an empty log and publish its first checkpoint (size 0)."""
    store = open_store(location, endpoint_url)
    keys = load_keys(key_source, origin, timestamp_key=timestamp_key)
    signed = Sequencer(store, keys).init()
    note = signed.format()
    if fmt == "json":
        cp = signed.checkpoint
        doc = {"checkpoint": note.decode(), "origin": cp.origin, "size": 0, "root": cp.root.hex()}
        click.echo(json.dumps(doc, sort_keys=True))
    else:
        click.echo(note.decode(), nl=False)


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@key_option
@timestamp_key_option
@endpoint_option
@click.option("--pending", is_flag=True, help="Also sequence the queue filled by 'tlog submit'.")
@click.option("--max-pending", default=1_000_000, show_default=True, help="Queue items per run.")
@click.option("--raw", is_flag=True, help="Each FILE is one opaque entry (no Rekor validation).")
@witness_policy_option
@click.option(
    "--witness-mode",
    type=click.Choice(["fail-closed", "fail-open"]),
    help="fail-closed: publish only with the policy's quorum of cosignatures (the default "
    "when it has one; the next run retries); fail-open: publish what was gathered.",
)
@click.option(
    "--witness-timeout",
    type=click.FloatRange(min=0.01),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the witnesses (all are asked at once).",
)
@click.option(
    "--chunk-entries",
    type=click.IntRange(min=1),
    default=CHUNK_ENTRIES,
    show_default=True,
    help="Inputs per commit: a bigger batch is logged in chunks, each with its own "
    "checkpoint (memory is bounded by this, not by the batch).",
)
@files_from_option
@format_lines_option
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
    witness_policy: Path | None,
    witness_mode: str | None,
    witness_timeout: float,
    chunk_entries: int,
    files_from: str | None,
    fmt: str,
    files: tuple[str, ...],
) -> None:
    """Append a batch of entries to the log and publish a new checkpoint.

    Each FILE (or - for standard input) holds one JSON entry per line: a Rekor proposed
    entry {"kind","apiVersion","spec"} or a Rekor v2 request. With --raw each FILE is
    one entry as it is (at most 65,535 bytes: log a digest of anything bigger). A
    directory stands for every file under it. Prints one line per input (index and
    UUID, or why it was refused), then the new checkpoint. A batch of more than
    --chunk-entries inputs is committed in chunks, each published (and its lines
    printed) before the next: an interrupted run leaves those logged, and running the
    batch again reports them as already logged and logs the rest. Exits 0 when every input was
    admitted and the checkpoint covering them is published (or when --pending finds the
    queue empty); 1 if any input was refused; 130 if interrupted before the commit.

    Also completes a batch an earlier, interrupted run committed but did not publish.
    With --witness-policy, witnesses cosign each checkpoint first (docs/witness.md).
    """
    if not files and not pending and files_from is None:
        raise ConfigError("give FILEs (or -) to sequence, --files-from, or --pending")
    wit = _witnessing(witness_policy, witness_mode, witness_timeout)
    early = Early(fmt)
    with RunWatcher(on_terminal()) as watcher:
        with starting():
            store = open_store(location, endpoint_url)
            opts = {"watcher": watcher, "witnessing": wit, "chunk_entries": chunk_entries}
            seq = _sequencer(store, key_source, timestamp_key, **opts)
        paths = input_paths(files, files_from, _stdin)
        inputs: Iterator[Candidate | Outcome]
        inputs = read_inputs(paths, raw, _stdin, raw_hint="; did you mean --raw?")
        if pending:
            inputs = itertools.chain(inputs, pending_candidates(store, max_pending))
        cands = early.candidates(inputs)
        first = list(itertools.islice(cands, ADMIT_CHUNK + 1))
        if pending and not first and not early.seen:
            _idle(seq, watcher, fmt)
            return
        batch = itertools.chain(first, cands)
        admit = None if raw else admit_rekor
        result, refused = _run(seq, batch, len(first) > ADMIT_CHUNK, admit, watcher, fmt)
        print_checkpoint(result, fmt)
    _warn(result, wit)
    if early.refused or refused:
        sys.exit(1)


class Early:
    """Passes the candidates on, printing the inputs refused before admission (files
    that cannot be read) as they are met."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.seen = False
        self.refused = False

    def candidates(self, inputs: Iterable[Candidate | Outcome]) -> Iterator[Candidate]:
        for item in inputs:
            self.seen = True
            if isinstance(item, Outcome):
                self.refused = True
                print_outcome(item, self.fmt)
            else:
                yield item


def _sequencer(store: Store, key_source: str, timestamp_key: Path | None, **opts: Any) -> Sequencer:
    """A sequencer with the log's keys: read from key files that record their origin
    (``tlog keygen`` writes it) without reading the log first, since the load step
    checks them against the lock anyway (one round trip less); else as
    :func:`tlog.sequencer.sequencer_for` loads them, for the origin the lock names."""
    try:
        keys = load_keys(key_source, None, timestamp_key=timestamp_key)
    except ConfigError:
        return sequencer_for(store, key_source, timestamp_key, **opts)
    return Sequencer(store, keys, **opts)


def _witnessing(policy: Path | None, mode: str | None, timeout: float) -> Witnessing | None:
    """The witness client of ``--witness-policy``, if given."""
    if policy is None:
        if mode is not None:
            raise ConfigError("--witness-mode needs --witness-policy")
        return None
    from tlog.client import load_policy  # only a run with witnesses needs the reader

    fail_closed = None if mode is None else mode == "fail-closed"
    return Witnessing(load_policy(policy), fail_closed=fail_closed, timeout=timeout)


def _warn(result: Result, witnessing: Witnessing | None) -> None:
    """What a successful run says on stderr: witnesses that did not cosign (fail-open),
    and a clean-up that failed after publishing."""
    if witnessing is not None and witnessing.shortfall:
        click.echo(printable(f"tlog: warning: published {witnessing.shortfall}"), err=True)
    if result.cleanup_error:
        click.echo(
            printable(
                f"tlog: warning: the batch is published, but cleaning up after it failed "
                f"({result.cleanup_error}); the next run finishes the clean-up"
            ),
            err=True,
        )


def _run(
    seq: Sequencer,
    cands: Iterable[Candidate],
    big: bool,
    admit: Admit | None,
    watcher: RunWatcher,
    fmt: str,
) -> tuple[Result, bool]:
    """The sequencer's run, each chunk's outcomes printed once it is published, with
    what an error or interrupt means for the batch: the run's result (the last
    checkpoint), and whether an input was refused."""
    result: Result | None = None
    refused = False
    try:
        with parallel_admission() if admit is not None and big else nullcontext() as pool:
            for chunk in seq.stream(cands, admit, executor=pool):
                watcher.clear()
                outcomes = list(chunk.outcomes)
                print_outcomes(outcomes, fmt)
                refused = refused or not all(o.ok for o in outcomes)
                result = _merged(result, chunk)
    except NothingAdmitted as exc:
        watcher.clear()
        for item in exc.outcomes:
            if isinstance(item, Outcome):
                print_outcome(item, fmt)
        raise
    except (Interrupted, TlogError, OSError) as exc:
        watcher.fail(exc)
    finally:
        watcher.clear()
    assert result is not None
    return result, refused


def _merged(before: Result | None, chunk: Result) -> Result:
    """The run so far: the last chunk's checkpoint, the first recovery, every write."""
    if before is None:
        return dataclasses.replace(chunk, placements=())
    return dataclasses.replace(
        chunk,
        recovered=before.recovered if before.recovered is not None else chunk.recovered,
        writes=before.writes + chunk.writes,
        placements=(),
        cleanup_error=before.cleanup_error or chunk.cleanup_error,
    )


def _idle(seq: Sequencer, watcher: RunWatcher, fmt: str) -> None:
    """``--pending`` with an empty queue: finish any committed batch; not an error."""
    try:
        result = seq.recover()
    except (Interrupted, TlogError, OSError) as exc:
        watcher.fail(exc)
    watcher.clear()
    if result.recovered is not None:
        print_checkpoint(result, fmt)
    click.echo("tlog: nothing to sequence: the queue is empty", err=True)


@main.command(name="submit")
@click.option("--log", "location", required=True, help=LOG_HELP)
@endpoint_option
@files_from_option
@format_lines_option
@click.argument("files", nargs=-1)
@one_line_errors
def submit_cmd(
    location: str,
    endpoint_url: str | None,
    files_from: str | None,
    fmt: str,
    files: tuple[str, ...],
) -> None:
    """Queue entries (one JSON document per line) for the next 'sequence --pending'.

    Each document is admitted first, as 'sequence' would: one that would be refused is
    refused now, with the reason, and not queued. Prints the queue key of each (take it
    to 'tlog status'); an entry already waiting in the queue keeps its key. Exits 1 if
    any input was refused.
    """
    if not files and files_from is None:
        raise ConfigError("give FILEs (or -) to submit, or --files-from")
    store = open_store(location, endpoint_url)
    public_size(store)  # a log is here (what a submitter may read: not the lock)
    inputs = list(read_inputs(input_paths(files, files_from, _stdin), False, _stdin))
    cands = [c for c in inputs if isinstance(c, Candidate)]
    leaves = iter(admit_all(cands, admit_rekor))
    queued = queued_uuids(store)
    failed = False
    for item in inputs:
        if isinstance(item, Outcome):
            failed = True
            print_outcome(item, fmt)
            continue
        leaf = next(leaves)
        if isinstance(leaf, Refused):
            failed = True
            print_outcome(Outcome(item.source, error=leaf.reason), fmt)
            continue
        name = submit(store, item.data, leaf=leaf, queued=queued).rsplit("/", 1)[-1]
        if fmt == "json":
            click.echo(printable(json.dumps({"source": item.source, "queued": name})))
        else:
            click.echo(printable(f"{item.source}: queued {name}"))
    if failed:
        sys.exit(1)


@main.command(name="status")
@click.option("--log", "location", required=True, help=LOG_HELP)
@endpoint_option
@format_option
@click.argument("ref", metavar="QUEUE-KEY|UUID")
@one_line_errors
def status_cmd(location: str, endpoint_url: str | None, fmt: str, ref: str) -> None:
    """What became of a submission: queued, logged (index and UUID), or refused (why).

    QUEUE-KEY is what 'tlog submit' printed; a UUID is an entry's leaf hash. Needs only
    a submitter's access: read on private/pending/, private/refused/ and the public
    log. The log is scanned for a UUID (newest first) and its checkpoint is not
    verified here: 'tlog prove' verifies. Exits 1 if the submission is not found.
    """
    st = status(open_store(location, endpoint_url), ref)
    if fmt == "json":
        doc = {k: v for k, v in st._asdict().items() if v is not None}
        click.echo(printable(json.dumps(doc, sort_keys=True)))
    elif st.state == "queued":
        click.echo(f"queued: {st.name} (uuid {st.uuid})")
    elif st.state == "logged":
        click.echo(f"logged at index {st.log_index} with UUID {st.uuid}")
    elif st.state == "refused":
        click.echo(printable(f"refused: {st.reason}"))
    else:
        click.echo(f"not found: {ref} is neither queued, refused nor in the log")
    if st.state == "unknown":
        sys.exit(1)
