"""Witness commands: ``tlog witness keygen`` and ``tlog witness serve`` (docs/witness.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import choose_format, endpoint_option
from tlog.client import load_policy
from tlog.codec import encode_pem
from tlog.errors import ConfigError
from tlog.keys import read_key_file, write_new_files
from tlog.note import CosignatureSigner, check_key_name
from tlog.storage.locate import open_store

KEY_FILE, VKEY_FILE = "witness.key", "witness.vkey"


def _now() -> int:
    return int(time.time())


@main.group()
def witness() -> None:
    """Run a C2SP tlog-witness: cosign the checkpoints of the logs in a policy."""


@witness.command()
@click.option(
    "--name",
    required=True,
    help="The witness's key name, a schema-less URL such as witness.example.com/w1.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Folder to write {KEY_FILE} (0600) and {VKEY_FILE} into.",
)
@choose_format("text: the vkey line; json: {vkey, key} (the key file's path)")
@one_line_errors
def keygen(name: str, out: Path, fmt: str) -> None:
    """Generate a witness's Ed25519 key and print its cosignature/v1 (type 0x04) vkey,
    which logs and readers list in their policies. Nothing is overwritten."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    check_key_name(name)
    key = ed25519.Ed25519PrivateKey.generate()
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    vkey = CosignatureSigner(name, key, _now).verifier().vkey()
    files = {
        out / KEY_FILE: (f"Origin: {name}\n".encode() + encode_pem("PRIVATE KEY", der), 0o600),
        out / VKEY_FILE: (vkey.encode() + b"\n", 0o644),
    }
    write_new_files(out, files)
    if fmt == "json":
        click.echo(json.dumps({"vkey": vkey, "key": str(out / KEY_FILE)}))
    else:
        click.echo(vkey)


def load_signer(path: Path) -> CosignatureSigner:
    """The cosigning key in a file made by ``tlog witness keygen``."""
    f = read_key_file(path)
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if f.origin is None or len(f.keys) != 1:
        raise ConfigError(f"{path} is not a witness key file (one named Ed25519 key)")
    key = f.keys[0]
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path} does not hold an Ed25519 key")
    return CosignatureSigner(f.origin, key, _now)


@witness.command()
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The witness's key ({KEY_FILE} from 'tlog witness keygen').",
)
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A tlog-policy file whose 'log' lines are the logs to witness.",
)
@click.option(
    "--state",
    required=True,
    help="Where the latest cosigned checkpoint of each log is kept: a folder or "
    "s3://bucket/prefix (updated by compare-and-swap).",
)
@endpoint_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=7380,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@choose_format(
    "How to announce the URL once listening (text: 'listening on URL'; json: {\"url\"})."
)
@one_line_errors
def serve(
    key_path: Path,
    policy_path: Path,
    state: str,
    endpoint_url: str | None,
    host: str,
    port: int,
    fmt: str,
) -> None:
    """Serve POST /add-checkpoint and GET /<hex sha256(origin)>/checkpoint. Prints
    'listening on http://H:P' once ready; stops on SIGINT or SIGTERM."""
    try:
        from tlog.witness import server
    except ImportError as exc:
        raise ConfigError(f"the witness server needs tlog[server] ({exc})") from None
    from tlog.witness.service import Witness

    service = Witness(
        load_signer(key_path), load_policy(policy_path), open_store(state, endpoint_url)
    )
    try:
        sock = server.bind(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def announce(line: str) -> None:
        url = line.removeprefix("listening on ")
        click.echo(json.dumps({"url": url}) if fmt == "json" else line)

    server.serve(service, sock, announce)
