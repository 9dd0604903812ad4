"""Publisher command: upload — log one signed artifact, as ``rekor-cli upload`` does."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tlog import layout, merkle
from tlog.admission import Candidate, admit_rekor
from tlog.cli.app import MAX_ARTIFACT, main, one_line_errors, read_file
from tlog.cli.options import LOG_HELP, endpoint_option, format_option, timestamp_key_option
from tlog.cli.results import checkpoint_doc, print_checkpoint
from tlog.entries import MAX_INPUT_SIZE
from tlog.entries.algorithm import PKI_FORMATS
from tlog.entries.proposal import build_proposal
from tlog.errors import ConfigError
from tlog.queue import submit
from tlog.sequencer import Result, peek_origin, sequencer_for
from tlog.storage.locate import open_store

#: Key, certificate and signature files (and DSSE envelopes) are at most this big.
MAX_SMALL_FILE = MAX_INPUT_SIZE
#: rekor-cli's defaults: ``--type rekord``; ``--pki-format pgp`` (rekord only: the other
#: types always take x509 keys or certificates).
DEFAULT_TYPE = "rekord"
DEFAULT_REKORD_PKI = "pgp"
TYPES_HELP = "hashedrekord, hashedrekord:0.0.2, rekord, dsse, intoto"


def _key_paths(values: tuple[str, ...]) -> list[Path]:
    """Each --public-key is a file, or (as rekor-cli takes them) a comma-separated list."""
    out: list[Path] = []
    for value in values:
        if "," in value and not Path(value).exists():
            out.extend(Path(v) for v in value.split(",") if v)
        else:
            out.append(Path(value))
    return out


def _signature(path: Path | None, pki_format: str) -> bytes | None:
    """The --signature file's bytes; for ssh, refused unless it is an SSH signature."""
    if path is None:
        return None
    data = read_file(path, MAX_SMALL_FILE, "signature")
    if pki_format == "ssh" and b"-----BEGIN SSH SIGNATURE-----" not in data:
        binary = any(b > 0x7E or (b < 0x20 and b not in b"\t\r\n") for b in data[:512])
        what = "a binary signature (DER or raw?)" if binary else "not an SSH signature"
        raise ConfigError(
            f"--signature {path} is {what}: --pki-format ssh takes the armored "
            "'-----BEGIN SSH SIGNATURE-----' file that 'ssh-keygen -Y sign' writes "
            "(for an openssl or DER signature use --type hashedrekord with an x509 key)"
        )
    return data


def _proposal(
    entry_type: str,
    pki_format: str | None,
    artifact: Path | None,
    artifact_hash: str | None,
    signature: Path | None,
    public_keys: tuple[str, ...],
) -> bytes:
    """The proposed entry, as rekor-cli would send it."""
    kind = entry_type.partition(":")[0]
    if artifact is None and artifact_hash is None:
        raise ConfigError(
            "give the signed file with --artifact, or its digest with --artifact-hash"
        )
    if artifact is not None and artifact_hash is not None:
        raise ConfigError("give only one of --artifact and --artifact-hash")
    if artifact_hash is not None and kind in ("dsse", "intoto"):
        raise ConfigError(f"{kind} entries need the envelope file itself as --artifact")
    if not public_keys:
        raise ConfigError("give the signer's public key or certificate with --public-key")
    if pki_format is None:
        pki_format = DEFAULT_REKORD_PKI if kind == "rekord" else "x509"
    art_limit = MAX_SMALL_FILE if kind in ("dsse", "intoto") else MAX_ARTIFACT
    doc = build_proposal(
        entry_type,
        pki_format=pki_format,
        artifact=read_file(artifact, art_limit, "artifact") if artifact is not None else None,
        digest=artifact_hash,
        signature=_signature(signature, pki_format),
        public_keys=[read_file(p, MAX_SMALL_FILE, "public key") for p in _key_paths(public_keys)],
    )
    if len(doc) > MAX_INPUT_SIZE and kind == "rekord":
        raise ConfigError(
            f"a rekord entry carries the artifact itself and would be {len(doc)} bytes, over "
            f"the {MAX_INPUT_SIZE}-byte limit: use --type hashedrekord for large artifacts"
        )
    return doc


def _print_created(result: Result, fmt: str) -> None:
    (outcome,) = result.outcomes
    if fmt == "json":
        entry = {"index": outcome.log_index, "uuid": outcome.uuid, "duplicate": outcome.duplicate}
        click.echo(json.dumps({**entry, **checkpoint_doc(result)}, sort_keys=True))
        return
    if outcome.duplicate:
        where = f"index {outcome.log_index}" if outcome.log_index is not None else "the log"
        click.echo(f"Entry already exists at {where}; available at: {outcome.uuid}")
    else:
        click.echo(f"Created entry at index {outcome.log_index}, available at: {outcome.uuid}")
    print_checkpoint(result, fmt)


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@click.option(
    "--key",
    "key_source",
    help="The log's private key (a PEM file, a file holding a PRIVATE+KEY+... note signer "
    "key, or awskms://...): sequence the entry now. Not with --submit.",
)
@timestamp_key_option
@click.option(
    "--submit",
    "queue",
    is_flag=True,
    help="Queue the entry for the next 'tlog sequence --pending' instead (no log key needed).",
)
@endpoint_option
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The signed file (for dsse and intoto: the DSSE envelope file).",
)
@click.option(
    "--artifact-hash",
    help="The signed file's digest instead of the file: sha256:<hex> or <hex> "
    "(hashedrekord also takes sha384:/sha512:).",
)
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The detached signature file (not for dsse and intoto).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="The public key or certificate that verifies the signature (repeatable, or "
    "comma-separated; dsse and intoto take one per envelope signature).",
)
@click.option(
    "--pki-format",
    type=click.Choice(PKI_FORMATS),
    help=f"Format of the signature and key, for rekord entries (default {DEFAULT_REKORD_PKI}, "
    "as rekor-cli); hashedrekord, dsse and intoto always take x509 keys or certificates.",
)
@click.option(
    "--type",
    "entry_type",
    default=DEFAULT_TYPE,
    show_default=True,
    help=f"Entry type as type[:version]: {TYPES_HELP} (rekor-cli's default is rekord).",
)
@format_option
@one_line_errors
def upload(
    location: str,
    key_source: str | None,
    timestamp_key: Path | None,
    queue: bool,
    endpoint_url: str | None,
    artifact: Path | None,
    artifact_hash: str | None,
    signature: Path | None,
    public_keys: tuple[str, ...],
    pki_format: str | None,
    entry_type: str,
    fmt: str,
) -> None:
    """Log one signed artifact: build its Rekor entry, verify it, then sequence it.

    Builds the entry rekor-cli would (from --artifact or --artifact-hash, --signature,
    --public-key), admits it as the sequencer does — a bad signature, key or digest is
    refused here, with the reason, before anything is written — then, with --key, appends
    it in a one-entry batch and prints "Created entry at index N, available at: <UUID>"
    and the new checkpoint; or, with --submit, queues it for the operator's next
    'tlog sequence --pending' and prints the queue key and the UUID it will have.
    """
    if queue and key_source is not None:
        raise ConfigError(
            "--key and --submit are mutually exclusive: --key sequences the entry now, "
            "--submit queues it for the operator's next 'tlog sequence --pending'"
        )
    if not queue and key_source is None:
        raise ConfigError("give --key to sequence the entry now, or --submit to queue it")
    if queue and timestamp_key is not None:
        raise ConfigError("--timestamp-key is for sequencing with --key, not with --submit")
    store = open_store(location, endpoint_url)
    seq = None
    if key_source is not None:
        seq = sequencer_for(store, key_source, timestamp_key)
    else:
        peek_origin(store)
    doc = _proposal(entry_type, pki_format, artifact, artifact_hash, signature, public_keys)
    leaf = admit_rekor(doc)
    if seq is None:
        key = submit(store, doc)[len(layout.PENDING_PREFIX) :]
        uuid = merkle.leaf_hash(leaf).hex()
        if fmt == "json":
            click.echo(json.dumps({"queued": key, "uuid": uuid}, sort_keys=True))
        else:
            click.echo(f"Queued entry {key} for the next 'tlog sequence --pending'")
            click.echo(f"UUID: {uuid}")
        return
    result = seq.sequence([Candidate("upload", doc)], admit_rekor)
    _print_created(result, fmt)
