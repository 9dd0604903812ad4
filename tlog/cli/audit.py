"""Audit command: re-derive the whole log from its entries."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from tlog.audit import AuditReport, audit
from tlog.checkpoint import SignedCheckpoint
from tlog.cli.app import main, one_line_errors
from tlog.cli.options import ReaderOptions, format_option, reader_options
from tlog.cli.read import emit, evidence_kept
from tlog.client import Client


def _audit_text(report: AuditReport) -> list[str]:
    rate = report.size / report.seconds if report.seconds > 0 else 0.0
    lines = [
        f"Audit passed: {report.origin} size {report.size} root {report.root.hex()}",
        f"Entries: {report.size} in {report.bundles} bundles; {report.hash_tiles} hash tiles",
        f"Checkpoints: {report.checkpoints} published checkpoints, all consistent",
        (
            f"Index: {report.index_rows} rows, equal to the entries'; "
            f"{report.index_heads} index heads, each of its checkpoint"
            if report.index_rows is not None
            else "Index: none for the latest checkpoint (run 'tlog index rebuild')"
        ),
        f"Time: {report.seconds:.2f}s ({rate:,.0f} entries/s)",
    ]
    if report.missing_covers:
        missing = ", ".join(report.missing_covers[:10])
        lines.append(
            f"Warning: missing covers objects {missing}: "
            "the historical checkpoints they list were not checked"
        )
    return lines


def run_audit(client: Client, latest: SignedCheckpoint, progress: TextIO | None) -> AuditReport:
    """The audit, with a progress bar on ``progress`` (the command gives stderr when it
    is a terminal, None otherwise: quiet in pipes, logs and cron mail).
    """
    size = latest.checkpoint.size
    if progress is None or not size:
        return audit(client.fetcher, latest, client.verifiers, parallel=client.parallel)
    with click.progressbar(length=size, label="auditing", file=progress) as bar:
        done = [0]

        def advance(n: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        return audit(
            client.fetcher, latest, client.verifiers, progress=advance, parallel=client.parallel
        )


@main.command(name="audit")
@reader_options
@format_option
@one_line_errors
def audit_command(reader: ReaderOptions, fmt: str) -> None:
    """Re-derive the whole log from its entries: every bundle, hash tile and root, and
    every published checkpoint; stops at the first inconsistency.
    """
    client = reader.client(cache=False)
    with evidence_kept(client):
        tty = sys.stderr if sys.stderr.isatty() else None
        report = run_audit(client, client.latest(), tty)
    if fmt == "json":
        emit(
            {
                "ok": True,
                "origin": report.origin,
                "treeSize": report.size,
                "rootHash": report.root.hex(),
                "bundles": report.bundles,
                "hashTiles": report.hash_tiles,
                "checkpoints": report.checkpoints,
                "missingCovers": report.missing_covers,
                "indexRows": report.index_rows,
                "indexHeads": report.index_heads,
                "seconds": round(report.seconds, 3),
            }
        )
        return
    for line in _audit_text(report):
        click.echo(line)
