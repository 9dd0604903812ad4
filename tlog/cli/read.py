"""What the read commands share: evidence kept on an inconsistency, entry selection
(--log-index or --uuid), and rekor-cli's ways of printing times, log IDs and bodies.

Every command that reads a log (a folder, ``s3://bucket/prefix`` or ``http(s)://``)
verifies the checkpoint against ``--vkey``, proves it consistent with the last one this
user verified (``--state-dir``), and authenticates every tile it uses (cached in
``--cache-dir``). Output follows rekor-cli's habits; ``--format json`` is stable and
machine-readable. The commands, one module per noun: :mod:`tlog.cli.checkpoint`
(loginfo, logproof), :mod:`tlog.cli.entry` (get), :mod:`tlog.cli.proof` (prove,
verify) and :mod:`tlog.cli.audit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from tlog import merkle
from tlog.checkpoint import SignedCheckpoint
from tlog.client import Client
from tlog.codec import b64encode, load_json
from tlog.entries.describe import describe
from tlog.errors import ConfigError, InconsistencyError, MalformedError, TlogError
from tlog.note import Verifier
from tlog.sigstore import log_id, log_signers


@contextmanager
def evidence_kept(client: Client) -> Iterator[None]:
    """On an inconsistency, save its evidence next to the log's state and say where."""
    try:
        yield
    except InconsistencyError as exc:
        if client.state is None:
            raise
        report = {"error": str(exc), **exc.evidence}
        try:
            path = client.state.save_evidence(client.origin, client.verifiers, report)
        except TlogError:
            raise exc from None
        raise InconsistencyError(
            f"{exc} (evidence saved to {path})", evidence=exc.evidence
        ) from exc


def index_of(client: Client, log_index: int | None, uuid: str | None) -> int:
    """The index named by exactly one of --log-index and --uuid."""
    if (log_index is None) == (uuid is None):
        raise ConfigError("give exactly one of --log-index and --uuid")
    if log_index is not None:
        return log_index
    assert uuid is not None
    text = uuid.strip().lower()
    if len(text) == 80:  # Rekor's <16 hex tree ID><64 hex leaf hash> form
        text = text[16:]
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise MalformedError(f"--uuid {uuid[:100]!r} is not 64 hex digits (a leaf hash)")
    return client.find(raw)


def emit(doc: dict[str, Any]) -> None:
    """One JSON document on stdout (``--format json``)."""
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


def rfc3339(ts: int | None) -> str:
    """A signed time as rekor-cli prints it, or why there is none."""
    if ts is None:
        return "unknown (no verified timestamp: pass the log's timestamp vkey)"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # past 9999-12-31: a signed, odd time
        return f"{ts} (seconds since the epoch, past 9999-12-31)"


def log_id_hex(signed: SignedCheckpoint, verifiers: list[Verifier]) -> str:
    """The full key ID of the first log key that signed ``signed`` (Rekor's LogID)."""
    keys = log_signers(signed, verifiers)
    return log_id(keys[0]).hex() if keys else ""


def body_text(body: bytes) -> str:
    """rekor-cli's ``Body:``: the typed object of a Rekor entry, else the JSON or bytes."""
    try:
        doc = load_json(body, "entry")
    except MalformedError:
        return "base64:" + b64encode(body)
    try:
        return json.dumps(describe(body), indent=2, sort_keys=True)
    except TlogError:
        return json.dumps(doc, indent=2, sort_keys=True)
