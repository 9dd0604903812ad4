"""``tlog monitor``: follow a log, scan its entries against a watch list, check its
promises, and report (docs/monitor.md)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from tlog.cli.app import main, one_line_errors, read_file
from tlog.cli.options import ReaderOptions, reader_options
from tlog.client import Client
from tlog.errors import ConfigError
from tlog.fetch import open_fetcher
from tlog.monitor.config import MAX_CONFIG_SIZE, MonitorConfig
from tlog.monitor.delivery import Delivery
from tlog.monitor.finding import Finding
from tlog.monitor.match import Roots
from tlog.monitor.run import Monitor, RunResult
from tlog.state import default_state_dir

#: Exit status of a run that reported findings (errors exit 1).
EXIT_FINDINGS = 2
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``30s``, ``5m``, ``1h``, ``1d`` or plain seconds."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or float(m.group(1)) <= 0:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 5m or 1h")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _printer(fmt: str, delivery: Delivery) -> Callable[[Finding], None]:
    def emit(finding: Finding) -> None:
        click.echo(finding.to_json() if fmt == "json" else finding.text())
        delivery.deliver(finding)

    return emit


def _progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(1e-9, time.monotonic() - start)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\rscanning: {done:,} of {total:,} entries ({rate:,.0f}/s)\x1b[K{end}")
        sys.stderr.flush()

    return show


def _other(reader: ReaderOptions, client: Client) -> Callable[[str], Client]:
    def open_other(location: str) -> Client:
        fetcher = open_fetcher(
            location, reader.endpoint_url, timeout=reader.timeout, retries=reader.retries
        )
        return Client(fetcher, client.verifiers, origin=client.origin)

    return open_other


@main.command(name="monitor")
@reader_options
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The watch list: rekor-monitor's YAML (monitoredValues, startIndex, endIndex).",
)
@click.option("--once", is_flag=True, help="Run once and exit (the default without --interval).")
@click.option("--interval", help="Run again after this long, until interrupted (30s, 5m, 1h).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One readable line per finding, or one JSON object per line.",
)
@click.option(
    "--also",
    multiple=True,
    help="Another view of the same log to compare checkpoints with, for a split view: a "
    "folder, URL or s3:// location, or a file holding a signed checkpoint (repeatable).",
)
@click.option("--exec", "command", help="Run this command per finding, its JSON on stdin.")
@click.option("--webhook", help="POST each finding's JSON to this URL.")
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Prometheus text file here after each run.",
)
@click.option(
    "--ca-roots",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA certificates: identities in certificates they do not vouch for are "
    "reported as unverified-identity, not as matches.",
)
@click.option(
    "--rekor", is_flag=True, help="The log holds Rekor entries only: a raw one is invalid."
)
@click.option(
    "--no-validate", is_flag=True, help="Do not re-admit each Rekor entry (faster; less checked)."
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Entry bundles scanned and recorded per step (findings are delivered per window).",
)
@one_line_errors
def monitor_command(
    reader: ReaderOptions,
    config_path: Path,
    once: bool,
    interval: str | None,
    fmt: str,
    also: tuple[str, ...],
    command: str | None,
    webhook: str | None,
    metrics: Path | None,
    ca_roots: Path | None,
    rekor: bool,
    no_validate: bool,
    window: int,
) -> None:
    """Watch a log: prove each new checkpoint consistent with the last, scan every new
    entry for the watched identities, keys and digests, check that each entry is valid
    and logged once and that the published index lists exactly the entries' keys.

    Each finding is one line (--format json: one JSON object) and goes to the hooks;
    the monitor records its progress only after the hooks took every finding, so a
    failed hook or a killed run delivers again next time. Exit status: 0 nothing found,
    2 findings reported, 1 an error (a hook failed, the log could not be read).
    """
    if once and interval:
        raise ConfigError("give --once or --interval, not both")
    seconds = parse_interval(interval) if interval else None
    text = read_file(config_path, MAX_CONFIG_SIZE, "config").decode("utf-8", "replace")
    config = MonitorConfig.parse(text, str(config_path))
    roots = Roots.parse(read_file(ca_roots, 1 << 22, "CA roots")) if ca_roots else None
    client_of = reader.client
    first = client_of(cache=False)
    mon = Monitor(
        open_client=lambda: client_of(cache=False),
        config=config,
        config_text=text,
        state_root=reader.state_dir or default_state_dir(),
        emit=_printer(fmt, Delivery(command, webhook)),
        roots=roots,
        also=also,
        open_other=_other(reader, first),
        validate=not no_validate,
        rekor_only=rekor,
        progress=_progress(),
        note=lambda m: click.echo(f"tlog: note: {m}", err=True),
        metrics=metrics,
        window=window,
    )
    if seconds is None:
        result = mon.run_once()
        _summary(fmt, result)
        sys.exit(EXIT_FINDINGS if result.findings else 0)
    for result in mon.loop(seconds):
        _summary(fmt, result)


def _summary(fmt: str, result: RunResult) -> None:
    if fmt == "text":
        click.echo(
            f"tlog: checked size {result.size}, scanned {result.scanned}: "
            f"{len(result.findings)} finding(s)",
            err=True,
        )
