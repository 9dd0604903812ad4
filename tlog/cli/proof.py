"""Proof commands: prove (write an offline proof) and verify (check one, offline)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from tlog.cli.app import MAX_ARTIFACT, main, one_line_errors, read_file
from tlog.cli.options import (
    ReaderOptions,
    entry_options,
    format_option,
    reader_options,
    vkey_option,
    witness_policy_option,
)
from tlog.cli.read import emit, evidence_kept, index_of, rfc3339
from tlog.client import load_policy, load_vkeys
from tlog.note import Verifier
from tlog.offline import verify_proof
from tlog.proof import MAX_PROOF_SIZE, TlogProof, VerifiedEntry
from tlog.sigstore import TransparencyLogEntry


@main.command()
@reader_options
@entry_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tlog-proof", "sigstore", "json"]),
    default="tlog-proof",
    show_default=True,
    help="c2sp.org/tlog-proof@v1 text; a Sigstore TransparencyLogEntry (JSON); or json: "
    "one document holding the entry's index, UUID, time and the proof in both forms.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the proof here (default: standard output).",
)
@one_line_errors
def prove(
    reader: ReaderOptions, log_index: int | None, uuid: str | None, fmt: str, out: Path | None
) -> None:
    """Write an offline proof that an entry is in the log.

    The proof holds the entry, its inclusion proof and the first checkpoint that covers
    it (whose cosignature time is the entry's integrated time). Check it anywhere, with
    no network, using 'tlog verify'.
    """
    client = reader.client()
    with evidence_kept(client):
        index = index_of(client, log_index, uuid)
        proof, verified = client.prove(index)
    data = _proof_bytes(proof, verified, client.verifiers, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        click.echo(f"wrote proof of entry {index} ({verified.uuid}) to {out}", err=True)


def _proof_bytes(
    proof: TlogProof, verified: VerifiedEntry, verifiers: list[Verifier], fmt: str
) -> bytes:
    """The proof as ``--format`` asks."""
    sigstore = TransparencyLogEntry.from_verified(proof, verified, verifiers)
    if fmt == "sigstore":
        return sigstore.format()
    if fmt == "tlog-proof":
        return proof.format()
    doc = {
        "logIndex": verified.index,
        "uuid": verified.uuid,
        "integratedTime": verified.integrated_time,
        "tlogProof": proof.format().decode("utf-8"),
        "transparencyLogEntry": sigstore.to_dict(),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


@main.command()
@vkey_option
@click.option(
    "--proof",
    "proof_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A proof from 'tlog prove' (tlog-proof text or Sigstore JSON).",
)
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check that the logged entry is about this file.",
)
@witness_policy_option
@format_option
@one_line_errors
def verify(
    vkeys: tuple[str, ...],
    proof_path: Path,
    artifact: Path | None,
    witness_policy: Path | None,
    fmt: str,
) -> None:
    """Check an offline proof, with no network: the checkpoint's signatures, the
    inclusion proof, the entry's bytes, and (with --artifact) that the entry is about
    that artifact: the artifact itself or its SHA-256 digest for raw entries, a digest
    recorded in the body for hashedrekord/rekord entries. With --witness-policy, the
    checkpoint must carry the policy's quorum of witness cosignatures.
    """
    verifiers = load_vkeys(vkeys)
    data = read_file(proof_path, 2 * MAX_PROOF_SIZE, "proof")
    art = read_file(artifact, MAX_ARTIFACT, "artifact") if artifact is not None else None
    policy = load_policy(witness_policy) if witness_policy is not None else None
    result = verify_proof(data, verifiers, art, policy=policy, now=int(time.time()))
    verified = result.entry
    cp = verified.checkpoint.checkpoint
    if fmt == "json":
        emit(
            {
                "verified": True,
                "format": result.format,
                "origin": cp.origin,
                "logIndex": verified.index,
                "uuid": verified.uuid,
                "treeSize": cp.size,
                "rootHash": cp.root.hex(),
                "integratedTime": verified.integrated_time,
                "artifact": result.artifact,
            }
        )
        return
    click.echo("Verification Successful!")
    click.echo(f"Origin: {cp.origin}")
    click.echo(f"Index: {verified.index}")
    click.echo(f"UUID: {verified.uuid}")
    click.echo(f"Tree Size: {cp.size}")
    click.echo(f"IntegratedTime: {rfc3339(verified.integrated_time)}")
    if result.artifact is not None:
        click.echo(f"Artifact: {result.artifact}")
