"""Reader and auditor commands: loginfo, get, prove, verify, logproof, audit.

Every command that reads a log (a folder, ``s3://bucket/prefix`` or ``http(s)://``)
verifies the checkpoint against ``--vkey``, proves it consistent with the last one this
user verified (``--state-dir``), and authenticates every tile it uses (cached in
``--cache-dir``). ``verify`` works offline on a proof file. Output follows rekor-cli's
habits; ``--format json`` is stable and machine-readable.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from tlog import merkle
from tlog.audit import AuditReport, audit
from tlog.checkpoint import SignedCheckpoint
from tlog.cli import endpoint_option, main, one_line_errors, read_file
from tlog.client import Client, log_origin
from tlog.entries.describe import describe
from tlog.errors import ConfigError, InconsistencyError, MalformedError, TlogError
from tlog.fetch import open_fetcher
from tlog.fetch.cache import DiskTileCache, default_cache_dir
from tlog.note import Verifier, parse_vkey
from tlog.proof import HEADER, TlogProof, VerifiedEntry, check_artifact
from tlog.sigstore import TransparencyLogEntry, log_id, log_signers
from tlog.state import CheckpointState, default_state_dir

P = ParamSpec("P")
R = TypeVar("R")

MAX_VKEY_FILE = 64 * 1024
MAX_ARTIFACT = 1 << 30


def load_vkeys(values: tuple[str, ...]) -> list[Verifier]:
    """Each ``--vkey`` is a vkey string or a file of vkey lines (blank, ``#`` ignored)."""
    if not values:
        raise ConfigError("give the log's vkey with --vkey (a vkey or a file of vkey lines)")
    out: list[Verifier] = []
    for value in values:
        path = Path(value).expanduser()
        if "+" in value and not path.exists():
            out.append(parse_vkey(value))
            continue
        try:
            with path.open("rb") as f:  # read bounded: st_size is 0 for /dev/zero
                data = f.read(MAX_VKEY_FILE + 1)
            if len(data) > MAX_VKEY_FILE:
                raise ConfigError(f"vkey file {path} is too large to be a vkey file")
            text = data.decode("utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"--vkey {value!r} is neither a vkey nor an existing file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read vkey file {path}: {exc}") from exc
        lines = [ln.strip() for ln in text.splitlines()]
        keys = [parse_vkey(ln) for ln in lines if ln and not ln.startswith("#")]
        if not keys:
            raise ConfigError(f"vkey file {path} holds no vkey")
        out.extend(keys)
    return out


def _rfc3339(ts: int | None) -> str:
    if ts is None:
        return "unknown (no verified timestamp: pass the log's timestamp vkey)"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # past 9999-12-31: a signed, odd time
        return f"{ts} (seconds since the epoch, past 9999-12-31)"


def _log_id_hex(signed: SignedCheckpoint, verifiers: list[Verifier]) -> str:
    keys = log_signers(signed, verifiers)
    return log_id(keys[0]).hex() if keys else ""


def _body_text(body: bytes) -> str:
    """rekor-cli's ``Body:``: the typed object of a Rekor entry, else the JSON or bytes."""
    try:
        return json.dumps(describe(body), indent=2, sort_keys=True)
    except (TlogError, RecursionError):
        pass
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "base64:" + base64.b64encode(body).decode()


# -- shared options --------------------------------------------------------------------

log_option = click.option(
    "--log",
    "location",
    required=True,
    help="The log: a folder, s3://bucket/prefix or an http(s):// URL.",
)
vkey_option = click.option(
    "--vkey",
    "vkeys",
    multiple=True,
    help="The log's vkey, or a file of vkey lines such as log.vkey (repeatable).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def reader_options(fn: Callable[P, R]) -> Callable[..., R]:
    """--log, --vkey and the options every online read command shares."""
    for option in reversed(
        [
            log_option,
            vkey_option,
            endpoint_option,
            click.option(
                "--state-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Where the last verified checkpoint of each log is kept "
                "(default: $XDG_STATE_HOME/tlog).",
            ),
            click.option(
                "--cache-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Where verified tiles are cached (default: $XDG_CACHE_HOME/tlog).",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0.01),
                default=None,
                help="Seconds to wait for an HTTP connection or read (default 10/30).",
            ),
            click.option(
                "--retries",
                type=click.IntRange(min=0, max=10),
                default=3,
                show_default=True,
                help="How often to retry an HTTP GET that failed (429, 5xx, network).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


class _Session:
    """The client of one command, and where to keep evidence if the log misbehaves."""

    def __init__(self, client: Client, state: CheckpointState) -> None:
        self.client = client
        self.state = state


def _session(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    *,
    use_cache: bool = True,
) -> _Session:
    verifiers = load_vkeys(vkeys)
    origin = log_origin(verifiers)
    fetcher = open_fetcher(location, endpoint_url, timeout=timeout, retries=retries)
    state = CheckpointState(state_dir if state_dir is not None else default_state_dir())
    cache = (
        DiskTileCache(cache_dir if cache_dir is not None else default_cache_dir(), origin)
        if use_cache
        else None
    )
    return _Session(Client(fetcher, verifiers, origin=origin, cache=cache, state=state), state)


@contextmanager
def _evidence_kept(session: _Session) -> Iterator[None]:
    """On an inconsistency, save its evidence next to the state and say where."""
    try:
        yield
    except InconsistencyError as exc:
        name = f"evidence-{int(time.time())}.json"
        try:
            path = session.state.save_evidence(
                session.client.origin, {"error": str(exc), **exc.evidence}, name
            )
        except TlogError:
            raise exc from None
        raise InconsistencyError(
            f"{exc} (evidence saved to {path})", evidence=exc.evidence
        ) from exc


def _index_of(client: Client, log_index: int | None, uuid: str | None) -> int:
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


def _emit(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


# -- commands --------------------------------------------------------------------------


@main.command()
@reader_options
@format_option
@one_line_errors
def loginfo(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    fmt: str,
) -> None:
    """Verify the log's checkpoint (and its consistency with the last one seen)."""
    session = _session(location, vkeys, endpoint_url, state_dir, cache_dir, timeout, retries)
    with _evidence_kept(session):
        signed = session.client.latest()
    cp = signed.checkpoint
    if fmt == "json":
        _emit(
            {
                "origin": cp.origin,
                "treeSize": cp.size,
                "rootHash": cp.root.hex(),
                "timestamp": signed.timestamp,
                "logID": _log_id_hex(signed, session.client.verifiers),
                "checkpoint": signed.format().decode(),
            }
        )
        return
    click.echo("Verification Successful!")
    click.echo(f"Origin: {cp.origin}")
    click.echo(f"Tree Size: {cp.size}")
    click.echo(f"Root Hash: {cp.root.hex()}")
    click.echo(f"Timestamp: {_rfc3339(signed.timestamp)}")
    click.echo(f"LogID: {_log_id_hex(signed, session.client.verifiers)}")


@main.command()
@reader_options
@click.option("--log-index", type=click.IntRange(min=0), help="The entry's index.")
@click.option("--uuid", help="The entry's UUID (hex leaf hash); found by scanning the log.")
@format_option
@one_line_errors
def get(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    log_index: int | None,
    uuid: str | None,
    fmt: str,
) -> None:
    """Fetch one entry, verified against the log's checkpoint, with its integrated time.

    --uuid scans the log's leaf hashes from the start (no search index yet).
    """
    session = _session(location, vkeys, endpoint_url, state_dir, cache_dir, timeout, retries)
    client = session.client
    with _evidence_kept(session):
        index = _index_of(client, log_index, uuid)
        proof, verified = client.prove(index)
    signed = verified.checkpoint
    lid = _log_id_hex(signed, client.verifiers)
    assert verified.entry is not None
    if fmt == "json":
        _emit(
            {
                "uuid": verified.uuid,
                "logIndex": index,
                "logID": lid,
                "integratedTime": verified.integrated_time,
                "body": base64.b64encode(verified.entry).decode(),
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
    click.echo(f"IntegratedTime: {_rfc3339(verified.integrated_time)}")
    click.echo(f"UUID: {verified.uuid}")
    click.echo(f"Body: {_body_text(verified.entry)}")


@main.command()
@reader_options
@click.option("--log-index", type=click.IntRange(min=0), help="The entry's index.")
@click.option("--uuid", help="The entry's UUID (hex leaf hash); found by scanning the log.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tlog-proof", "sigstore"]),
    default="tlog-proof",
    show_default=True,
    help="c2sp.org/tlog-proof@v1 text, or a Sigstore TransparencyLogEntry (JSON).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the proof here (default: standard output).",
)
@one_line_errors
def prove(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    log_index: int | None,
    uuid: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Write an offline proof that an entry is in the log.

    The proof holds the entry, its inclusion proof and the first checkpoint that covers
    it (whose cosignature time is the entry's integrated time). Check it anywhere, with
    no network, using `tlog verify`.
    """
    session = _session(location, vkeys, endpoint_url, state_dir, cache_dir, timeout, retries)
    client = session.client
    with _evidence_kept(session):
        index = _index_of(client, log_index, uuid)
        proof, verified = client.prove(index)
    if fmt == "sigstore":
        data = TransparencyLogEntry.from_verified(proof, verified, client.verifiers).format()
    else:
        data = proof.format()
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        click.echo(f"wrote proof of entry {index} ({verified.uuid}) to {out}", err=True)


def verify_proof_file(
    data: bytes, verifiers: list[Verifier], artifact: bytes | None
) -> tuple[str, VerifiedEntry, str | None]:
    """Verify a proof in either format; returns (format, result, how the artifact matched)."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        fmt = "sigstore"
        verified = TransparencyLogEntry.parse(data).verify(verifiers, log_origin(verifiers))
    elif data.startswith(HEADER.encode()):
        fmt = "tlog-proof"
        proof = TlogProof.parse(data)
        entry = artifact if proof.extra is None else None
        verified = proof.verify(verifiers, log_origin(verifiers), entry=entry)
    else:
        raise MalformedError("proof is neither c2sp.org/tlog-proof@v1 text nor Sigstore JSON")
    how = None
    if artifact is not None:
        assert verified.entry is not None
        how = check_artifact(verified.entry, artifact)
    return fmt, verified, how


@main.command()
@vkey_option
@click.option(
    "--proof",
    "proof_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A proof from `tlog prove` (tlog-proof text or Sigstore JSON).",
)
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check that the logged entry is about this file.",
)
@format_option
@one_line_errors
def verify(vkeys: tuple[str, ...], proof_path: Path, artifact: Path | None, fmt: str) -> None:
    """Check an offline proof, with no network: the checkpoint's signatures, the
    inclusion proof, the entry's bytes, and (with --artifact) that the entry is about
    that artifact: the artifact itself or its SHA-256 digest for raw entries, a digest
    recorded in the body for hashedrekord/rekord entries.
    """
    verifiers = load_vkeys(vkeys)
    data = read_file(proof_path, 4 << 20, "proof")
    art = read_file(artifact, MAX_ARTIFACT, "artifact") if artifact is not None else None
    kind, verified, how = verify_proof_file(data, verifiers, art)
    cp = verified.checkpoint.checkpoint
    if fmt == "json":
        _emit(
            {
                "verified": True,
                "format": kind,
                "origin": cp.origin,
                "logIndex": verified.index,
                "uuid": verified.uuid,
                "treeSize": cp.size,
                "rootHash": cp.root.hex(),
                "integratedTime": verified.integrated_time,
                "artifact": how,
            }
        )
        return
    click.echo("Verification Successful!")
    click.echo(f"Origin: {cp.origin}")
    click.echo(f"Index: {verified.index}")
    click.echo(f"UUID: {verified.uuid}")
    click.echo(f"Tree Size: {cp.size}")
    click.echo(f"IntegratedTime: {_rfc3339(verified.integrated_time)}")
    if how is not None:
        click.echo(f"Artifact: {how}")


@main.command()
@reader_options
@click.option("--first-size", type=click.IntRange(min=0), required=True)
@click.option("--last-size", type=click.IntRange(min=0), required=True)
@format_option
@one_line_errors
def logproof(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    first_size: int,
    last_size: int,
    fmt: str,
) -> None:
    """Print a verified consistency proof between two sizes of the log (RFC 6962 §2.1.2).

    Both roots are computed from tiles authenticated by the latest checkpoint.
    """
    session = _session(location, vkeys, endpoint_url, state_dir, cache_dir, timeout, retries)
    with _evidence_kept(session):
        proof = session.client.consistency(first_size, last_size)
    if fmt == "json":
        _emit(
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


def _audit_text(report: AuditReport) -> list[str]:
    rate = report.size / report.seconds if report.seconds > 0 else 0.0
    lines = [
        f"Audit passed: {report.origin} size {report.size} root {report.root.hex()}",
        f"Entries: {report.size} in {report.bundles} bundles; {report.hash_tiles} hash tiles",
        f"Checkpoints: {report.checkpoints} published checkpoints, all consistent",
        f"Time: {report.seconds:.2f}s ({rate:,.0f} entries/s)",
    ]
    if report.missing_covers:
        groups = ", ".join(str(g) for g in report.missing_covers[:10])
        lines.append(
            f"Warning: no checkpoints/covers object for leaf groups {groups}: "
            "their historical checkpoints were not checked"
        )
    return lines


@main.command(name="audit")
@reader_options
@format_option
@one_line_errors
def audit_command(
    location: str,
    vkeys: tuple[str, ...],
    endpoint_url: str | None,
    state_dir: Path | None,
    cache_dir: Path | None,
    timeout: float | None,
    retries: int,
    fmt: str,
) -> None:
    """Re-derive the whole log from its entries: every bundle, hash tile and root, and
    every published checkpoint; stops at the first inconsistency.
    """
    session = _session(
        location, vkeys, endpoint_url, state_dir, cache_dir, timeout, retries, use_cache=False
    )
    client = session.client
    with _evidence_kept(session):
        latest = client.latest()
        size = latest.checkpoint.size
        if sys.stderr.isatty() and size:
            with click.progressbar(length=size, label="auditing", file=sys.stderr) as bar:
                done = [0]

                def advance(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                report = audit(client.fetcher, latest, client.verifiers, progress=advance)
        else:
            report = audit(client.fetcher, latest, client.verifiers)
    if fmt == "json":
        _emit(
            {
                "ok": True,
                "origin": report.origin,
                "treeSize": report.size,
                "rootHash": report.root.hex(),
                "bundles": report.bundles,
                "hashTiles": report.hash_tiles,
                "checkpoints": report.checkpoints,
                "missingCovers": report.missing_covers,
                "seconds": round(report.seconds, 3),
            }
        )
        return
    for line in _audit_text(report):
        click.echo(line)
