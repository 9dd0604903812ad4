"""``tlog search``: entries by artifact, public key, identity or UUID, proven complete.

As ``rekor-cli search``: criteria combined with ``--operator and|or``, matching UUIDs
printed one per line. Every answer comes from the log's index (docs/index.md) and is
proven complete against the signed index head of the verified checkpoint — an empty
answer included. ``--verify-hits`` (default: when there are fewer than 100 hits) also
fetches each hit, proves its inclusion and checks that it really matches the query.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from tlog.cli.app import MAX_ARTIFACT, main, one_line_errors, read_file
from tlog.cli.options import ReaderOptions, format_option, reader_options
from tlog.cli.read import emit, evidence_kept
from tlog.client import Client
from tlog.errors import ConfigError, MalformedError, VerificationError
from tlog.index.keys import index_keys, normalize, public_key_fingerprint

#: Hits re-checked by default (``--verify-hits`` unset) when there are fewer.
VERIFY_BELOW = 100
_ALGS = {64: "sha256", 96: "sha384", 128: "sha512"}


def sha_key(value: str) -> tuple[str, str]:
    """``[ALG:]HEX`` as an index key; the algorithm follows from the length if absent."""
    alg, _, hexpart = value.strip().lower().rpartition(":")
    hexpart = hexpart.strip()
    try:
        bytes.fromhex(hexpart)
    except ValueError:
        raise MalformedError(f"--sha {value[:80]!r} is not [ALG:]HEX") from None
    alg = alg or _ALGS.get(len(hexpart), "")
    if _ALGS.get(len(hexpart)) != alg:
        raise MalformedError(f"--sha {value[:80]!r}: not a sha256, sha384 or sha512 digest")
    return alg, hexpart


def criteria(
    sha: str | None,
    artifact: Path | None,
    public_key: Path | None,
    pki_format: str,
    email: str | None,
    uri: str | None,
    issuer: str | None,
    uuid: str | None,
) -> list[tuple[str, str]]:
    """The index keys of the query (at least one)."""
    keys: list[tuple[str, str]] = []
    if sha:
        keys.append(sha_key(sha))
    if artifact:
        digest = hashlib.sha256(read_file(artifact, MAX_ARTIFACT, "artifact")).hexdigest()
        keys.append(("sha256", digest))
    if public_key:
        content = read_file(public_key, 1 << 20, "public key")
        keys.append(("key", public_key_fingerprint(pki_format, content)))
    for kind, value in (("email", email), ("uri", uri)):
        if value:
            keys.append((f"{kind}+issuer", f"{value}\n{issuer}") if issuer else (kind, value))
    if issuer and not (email or uri):
        raise ConfigError("--issuer narrows --email or --uri: give one of them")
    if uuid:
        text = uuid.strip().lower()
        keys.append(("uuid", text[16:] if len(text) == 80 else text))
    if not keys:
        raise ConfigError(
            "give at least one of --sha, --artifact, --public-key, --email, --uri, --uuid"
        )
    return [(k, normalize(k, v)) for k, v in keys]


def verify_hit(client: Client, index: int, keys: list[tuple[str, str]]) -> str:
    """Prove hit ``index`` included and check it matches one of ``keys``; its UUID."""
    _, verified = client.prove(index, latest=True)
    assert verified.entry is not None
    if not set(keys) & set(index_keys(verified.entry)):
        raise VerificationError(f"index lists entry {index}, which does not match the query")
    return verified.uuid


@main.command()
@reader_options
@click.option("--sha", help="Artifact digest, [sha256:|sha384:|sha512:]HEX.")
@click.option(
    "--artifact",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Artifact file (its SHA-256).",
)
@click.option(
    "--public-key", type=click.Path(path_type=Path, dir_okay=False), help="Public key file."
)
@click.option(
    "--pki-format",
    type=click.Choice(["x509", "ssh", "pgp", "minisign"]),
    default="x509",
    show_default=True,
    help="Format of --public-key.",
)
@click.option("--email", help="Signer email (certificate SAN or PGP user ID).")
@click.option("--uri", help="Signer URI (certificate SAN).")
@click.option("--issuer", help="OIDC issuer of the --email or --uri identity (Fulcio).")
@click.option("--uuid", help="Entry UUID (64 hex, or Rekor's 80).")
@click.option(
    "--operator",
    type=click.Choice(["and", "or"]),
    default="and",
    show_default=True,
    help="How several criteria combine (as rekor-cli).",
)
@click.option(
    "--verify-hits/--no-verify-hits",
    default=None,
    help=f"Prove and re-check every hit (default: when fewer than {VERIFY_BELOW}).",
)
@format_option
@one_line_errors
def search(
    reader: ReaderOptions,
    sha: str | None,
    artifact: Path | None,
    public_key: Path | None,
    pki_format: str,
    email: str | None,
    uri: str | None,
    issuer: str | None,
    uuid: str | None,
    operator: str,
    verify_hits: bool | None,
    fmt: str,
) -> None:
    """Find entries by artifact, public key, identity or UUID, proven complete."""
    keys = criteria(sha, artifact, public_key, pki_format, email, uri, issuer, uuid)
    client = reader.client()
    with evidence_kept(client):
        found = client.search(keys)
        sets = [set(found[k]) for k in keys]
        hits = sorted(set.intersection(*sets) if operator == "and" else set.union(*sets))
        check = verify_hits if verify_hits is not None else len(hits) < VERIFY_BELOW
        if check:
            uuids = [verify_hit(client, i, keys) for i in hits]
        else:
            uuids = [client.leaf_hash(i).hex() for i in hits]
    cp = client.latest().checkpoint
    if fmt == "json":
        emit(
            {
                "treeSize": cp.size,
                "rootHash": cp.root.hex(),
                "query": [{"kind": k, "value": v} for k, v in keys],
                "operator": operator,
                "verifiedHits": check,
                "hits": [{"logIndex": i, "uuid": u} for i, u in zip(hits, uuids, strict=True)],
            }
        )
        return
    if not hits:
        click.echo(f"no matching entries (proven complete at tree size {cp.size})", err=True)
    for u in uuids:
        click.echo(u)
