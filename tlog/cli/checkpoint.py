"""Checkpoint commands: loginfo (the verified checkpoint) and logproof (consistency)."""

from __future__ import annotations

import click

from tlog.checkpoint import SignedCheckpoint
from tlog.cli.app import main, one_line_errors
from tlog.cli.options import ReaderOptions, format_option, reader_options
from tlog.cli.read import emit, evidence_kept, log_id_hex, rfc3339
from tlog.client import Client
from tlog.errors import NotFoundError
from tlog.frozen import FROZEN, check_final, open_frozen
from tlog.layout import MAX_CHECKPOINT_SIZE


@main.command()
@reader_options
@format_option
@one_line_errors
def loginfo(reader: ReaderOptions, fmt: str) -> None:
    """Verify the log's checkpoint (and its consistency with the last one seen)."""
    client = reader.client()
    with evidence_kept(client):
        signed = client.latest()
    cp = signed.checkpoint
    lid = log_id_hex(signed, client.verifiers)
    frozen = is_frozen(client, signed)  # a verified marker naming this checkpoint
    if fmt == "json":
        emit(
            {
                "origin": cp.origin,
                "treeSize": cp.size,
                "rootHash": cp.root.hex(),
                "timestamp": signed.timestamp,
                "logID": lid,
                "checkpoint": signed.format().decode(),
                "frozen": frozen,
            }
        )
        return
    click.echo("Verification Successful!")
    click.echo(f"Origin: {cp.origin}")
    click.echo(f"Tree Size: {cp.size}")
    click.echo(f"Root Hash: {cp.root.hex()}")
    click.echo(f"Timestamp: {rfc3339(signed.timestamp)}")
    click.echo(f"LogID: {lid}")
    if frozen:
        click.echo("Frozen: yes, this is the final checkpoint (the log takes no more entries)")


@main.command()
@reader_options
@click.option(
    "--first-size",
    type=click.IntRange(min=0),
    required=True,
    help="The smaller tree size (a checkpoint you saw earlier).",
)
@click.option(
    "--last-size",
    type=click.IntRange(min=0),
    required=True,
    help="The larger tree size, at most the log's current size.",
)
@format_option
@one_line_errors
def logproof(reader: ReaderOptions, first_size: int, last_size: int, fmt: str) -> None:
    """Print a verified consistency proof between two sizes of the log (RFC 6962 §2.1.2).

    Both roots are computed from tiles authenticated by the latest checkpoint.
    """
    client = reader.client()
    with evidence_kept(client):
        proof = client.consistency(first_size, last_size)
    if fmt == "json":
        emit(
            {
                "firstSize": proof.size1,
                "firstRootHash": proof.root1.hex(),
                "lastSize": proof.size2,
                "lastRootHash": proof.root2.hex(),
                "hashes": [h.hex() for h in proof.hashes],
                "checkpoint": proof.checkpoint.format().decode(),
            }
        )
        return
    click.echo("Verification Successful!")
    click.echo(f"First Size: {proof.size1}")
    click.echo(f"First Root Hash: {proof.root1.hex()}")
    click.echo(f"Last Size: {proof.size2}")
    click.echo(f"Last Root Hash: {proof.root2.hex()}")
    click.echo(f"Hashes: [{' '.join(h.hex() for h in proof.hashes)}]")


def is_frozen(client: Client, latest: SignedCheckpoint) -> bool:
    """Whether the log published a frozen marker; it must verify with the log's keys and
    name ``latest`` (else VerificationError / InconsistencyError, as for any lie)."""
    try:
        data = client.fetcher.fetch(FROZEN, MAX_CHECKPOINT_SIZE)
    except NotFoundError:
        return False
    check_final(open_frozen(data, client.verifiers, client.origin), latest)
    return True
