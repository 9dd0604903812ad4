"""Entry command: get — one entry, verified, with its integrated time (rekor-cli get)."""

from __future__ import annotations

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import ReaderOptions, entry_options, format_option, reader_options
from tlog.cli.read import body_text, emit, evidence_kept, index_of, log_id_hex, rfc3339
from tlog.codec import b64encode


@main.command()
@reader_options
@entry_options
@format_option
@one_line_errors
def get(reader: ReaderOptions, log_index: int | None, uuid: str | None, fmt: str) -> None:
    """Fetch one entry, verified against the log's checkpoint, with its integrated time.

    --uuid finds the entry through the log's index (docs/index.md), its hit checked
    against the authenticated leaf hash; a log without an index is scanned.
    """
    client = reader.client()
    with evidence_kept(client):
        index = index_of(client, log_index, uuid)
        proof, verified = client.prove(index)
    signed = verified.checkpoint
    lid = log_id_hex(signed, client.verifiers)
    assert verified.entry is not None
    if fmt == "json":
        emit(
            {
                "uuid": verified.uuid,
                "logIndex": index,
                "logID": lid,
                "integratedTime": verified.integrated_time,
                "body": b64encode(verified.entry),
                "verification": {
                    "inclusionProof": {
                        "logIndex": index,
                        "treeSize": signed.checkpoint.size,
                        "rootHash": signed.checkpoint.root.hex(),
                        "hashes": [h.hex() for h in proof.hashes],
                        "checkpoint": signed.format().decode(),
                    }
                },
            }
        )
        return
    click.echo(f"LogID: {lid}")
    click.echo(f"Index: {index}")
    click.echo(f"IntegratedTime: {rfc3339(verified.integrated_time)}")
    click.echo(f"UUID: {verified.uuid}")
    click.echo(f"Body: {body_text(verified.entry)}")
