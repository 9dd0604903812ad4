"""Key commands: ``keygen`` makes a log's keys, ``key show`` prints what readers need.

Both print the log's vkeys labelled by role (see :data:`tlog.keys.ROLES`): as ``#``
comment lines above each vkey, so the text is itself a vkey file for ``--vkey``, or
with ``--format json`` as one object. Private key material is never printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import choose_format, timestamp_key_option
from tlog.keys import LogKeys, generate, load_keys, write_new_files

#: ``--format`` of both commands.
format_option = choose_format("text: the labelled vkeys (a vkey file); json: one object.")


def vkeys_doc(keys: LogKeys) -> dict[str, object]:
    """The JSON form: origin, each vkey by role (``ecdsa_vkey`` null without one), and
    ``vkeys``, every line a reader passes with --vkey."""
    roles = keys.roles()
    return {
        "origin": keys.origin,
        "log_vkey": roles["log"],
        "timestamp_vkey": roles["timestamp"],
        "ecdsa_vkey": roles.get("ecdsa"),
        "vkeys": keys.vkeys(),
    }


@main.command()
@click.option("--origin", required=True, help="The log's origin line, e.g. example.com/log.")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "ecdsa-p256"]),
    default="ed25519",
    show_default=True,
    help="Log signature algorithm.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write log.key (0600), log.vkey and log.pub.pem into.",
)
@format_option
@one_line_errors
def keygen(origin: str, key_type: str, out: Path, fmt: str) -> None:
    """Generate a log's signing keys and print its labelled vkeys.

    log.key (mode 0600) records the origin it is for, and tlog refuses it for any
    other. log.vkey holds the vkeys readers need (give it to them for --vkey); the
    private key is never printed. No file is overwritten, and no symlink followed.
    """
    generated = generate(origin, key_type)
    files = {
        out / "log.key": (generated.private_pem, 0o600),
        out / "log.vkey": (generated.keys.labelled().encode(), 0o644),
        out / "log.pub.pem": (generated.public_pem, 0o644),
    }
    write_new_files(out, files)
    if fmt == "json":
        doc = vkeys_doc(generated.keys)
        names = ("private_key", "vkeys", "public_pem")
        doc["files"] = {name: str(path) for name, path in zip(names, files, strict=True)}
        click.echo(json.dumps(doc, sort_keys=True))
    else:
        click.echo(generated.keys.labelled(), nl=False)


@main.group()
def key() -> None:
    """Inspect a log's keys."""


@key.command()
@click.option(
    "--key",
    "key_source",
    required=True,
    help="The log's private key: a PEM file, a PRIVATE+KEY+... note signer key file, or "
    "awskms://<key id or ARN> (with --timestamp-key).",
)
@timestamp_key_option
@click.option(
    "--origin",
    help="The log's origin, for a key that records none (a PEM key not made by keygen, "
    "or awskms:// with such a --timestamp-key). Must match the key's if it records one.",
)
@format_option
@one_line_errors
def show(key_source: str, timestamp_key: Path | None, origin: str | None, fmt: str) -> None:
    """Print the vkeys a reader needs for the log this key signs, labelled by role.

    Every key source gives all of them: the Ed25519 log key, the timestamp key
    (cosignature/v1, which carries integrated times) and, for ECDSA and KMS logs, the
    ECDSA key. The text output is a vkey file: save it and pass it to --vkey.
    """
    keys = load_keys(key_source, origin, timestamp_key=timestamp_key)
    if fmt == "json":
        click.echo(json.dumps(vkeys_doc(keys), sort_keys=True))
    else:
        click.echo(keys.labelled(), nl=False)
