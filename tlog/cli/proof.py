"""Proof commands: prove (write an offline proof) and verify (check one, offline)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from tlog import merkle
from tlog.admission import admit_rekor
from tlog.cli.app import MAX_ARTIFACT, main, one_line_errors, read_file
from tlog.cli.options import (
    ReaderOptions,
    endpoint_option,
    entry_options,
    format_option,
    reader_options,
    vkey_option,
    witness_policy_option,
)
from tlog.cli.read import emit, evidence_kept, index_of, rfc3339
from tlog.client import load_policy, load_vkeys
from tlog.entries.algorithm import PKI_FORMATS
from tlog.entries.proposal import build_proposal
from tlog.errors import ConfigError
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
    type=click.Path(dir_okay=False, path_type=Path),
    help="Offline: a proof from 'tlog prove' (tlog-proof text or Sigstore JSON).",
)
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check that the logged entry is about this file (online: the signed file).",
)
@click.option("--log", "location", help="Online, as rekor-cli verify: the log to look in.")
@click.option(
    "--signature", type=click.Path(dir_okay=False, path_type=Path), help="Online: the signature."
)
@click.option("--public-key", "public_keys", multiple=True, help="Online: key or certificate.")
@click.option(
    "--type",
    "entry_type",
    default="hashedrekord",
    show_default=True,
    help="Online: the entry type as type[:version], as 'tlog upload' takes it.",
)
@click.option(
    "--pki-format",
    type=click.Choice(PKI_FORMATS),
    help="Online: format of the signature and key (rekord; default pgp, else x509).",
)
@endpoint_option
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Online: where the last verified checkpoint is kept (default $XDG_STATE_HOME/tlog).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Online: where verified tiles are cached (default $XDG_CACHE_HOME/tlog).",
)
@witness_policy_option
@format_option
@one_line_errors
def verify(
    vkeys: tuple[str, ...],
    proof_path: Path | None,
    artifact: Path | None,
    location: str | None,
    signature: Path | None,
    public_keys: tuple[str, ...],
    entry_type: str,
    pki_format: str | None,
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    witness_policy: Path | None,
    fmt: str,
) -> None:
    """Check an offline proof (--proof), with no network: the checkpoint's signatures,
    the inclusion proof, the entry's bytes, and (with --artifact) that the entry is about
    that artifact: the artifact itself or its SHA-256 digest for raw entries, a digest
    recorded in the body for hashedrekord/rekord entries. With --witness-policy, the
    checkpoint must carry the policy's quorum of witness cosignatures.

    Online (--log, as rekor-cli verify): rebuild the entry from --artifact, --signature
    and --public-key as 'tlog upload' would, find it by its UUID through the log's index,
    and prove its inclusion in the verified checkpoint.
    """
    if proof_path is None:
        if location is None or artifact is None:
            raise ConfigError("give --proof FILE, or --log with --artifact (online verify)")
        reader = ReaderOptions(
            location, vkeys, endpoint_url, state_dir, cache_dir, None, 3, witness_policy
        )
        doc = build_proposal(
            entry_type,
            pki_format=pki_format or ("pgp" if entry_type.startswith("rekord") else "x509"),
            artifact=read_file(artifact, MAX_ARTIFACT, "artifact"),
            signature=read_file(signature, 1 << 20, "signature") if signature else None,
            public_keys=[read_file(Path(p), 1 << 20, "public key") for p in public_keys],
        )
        verify_online(reader, admit_rekor(doc), fmt)
        return
    verify_offline(vkeys, proof_path, artifact, witness_policy, fmt)


def verify_offline(
    vkeys: tuple[str, ...],
    proof_path: Path,
    artifact: Path | None,
    witness_policy: Path | None,
    fmt: str,
) -> None:
    """tlog verify --proof: check an offline proof file and print what it proves."""
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


def verify_online(reader: ReaderOptions, entry: bytes, fmt: str) -> None:
    """rekor-cli verify: find ``entry`` by UUID, prove it in the latest checkpoint."""
    client = reader.client()
    uuid = merkle.leaf_hash(entry)
    with evidence_kept(client):
        index = client.find(uuid)
        hashes = client.inclusion(index)
    cp = client.latest()
    size, root = cp.checkpoint.size, cp.checkpoint.root
    if fmt == "json":
        emit(
            {
                "verified": True,
                "logIndex": index,
                "uuid": uuid.hex(),
                "treeSize": size,
                "rootHash": root.hex(),
                "hashes": [h.hex() for h in hashes],
                "checkpoint": cp.format().decode(),
            }
        )
        return
    click.echo(f"Current Root Hash: {root.hex()}")
    click.echo(f"Entry Hash: {uuid.hex()}")
    click.echo(f"Entry Index: {index}")
    click.echo(f"Current Tree Size: {size}")
    click.echo("Checkpoint:")
    click.echo(cp.format().decode().rstrip("\n"))
    click.echo("Inclusion Proof:")
    for h in hashes:
        click.echo(h.hex())
    click.echo("Verification Successful!")
