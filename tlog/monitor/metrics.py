"""The monitor's Prometheus text file (docs/monitor.md "Metrics"), written atomically
so a node exporter's textfile collector never reads half of it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tlog.errors import ConfigError
from tlog.monitor.finding import KINDS
from tlog.xdg import atomic_write

__all__ = ["format_metrics", "write_metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_metrics(
    origin: str,
    verified_size: int,
    scanned: int,
    lag_seconds: float | None,
    findings: Mapping[str, int],
    now: float,
) -> str:
    """The exposition text: verified size, entries not yet scanned, seconds since the
    verified checkpoint was signed, findings by kind (since the state began), run time."""
    o = f'origin="{_label(origin)}"'
    lines = [
        "# HELP tlog_monitor_verified_size Size of the latest checkpoint the monitor verified.",
        "# TYPE tlog_monitor_verified_size gauge",
        f"tlog_monitor_verified_size{{{o}}} {verified_size}",
        "# HELP tlog_monitor_scanned_size Entries scanned and delivered so far.",
        "# TYPE tlog_monitor_scanned_size gauge",
        f"tlog_monitor_scanned_size{{{o}}} {scanned}",
        "# HELP tlog_monitor_lag_entries Entries in the verified tree not yet scanned.",
        "# TYPE tlog_monitor_lag_entries gauge",
        f"tlog_monitor_lag_entries{{{o}}} {max(0, verified_size - scanned)}",
    ]
    if lag_seconds is not None:
        lines += [
            "# HELP tlog_monitor_lag_seconds Age of the verified checkpoint's timestamp.",
            "# TYPE tlog_monitor_lag_seconds gauge",
            f"tlog_monitor_lag_seconds{{{o}}} {lag_seconds:.3f}",
        ]
    lines += [
        "# HELP tlog_monitor_findings_total Findings reported, by kind.",
        "# TYPE tlog_monitor_findings_total counter",
    ]
    lines += [f'tlog_monitor_findings_total{{{o},kind="{k}"}} {findings.get(k, 0)}' for k in KINDS]
    lines += [
        "# HELP tlog_monitor_last_run_timestamp_seconds When the last run finished.",
        "# TYPE tlog_monitor_last_run_timestamp_seconds gauge",
        f"tlog_monitor_last_run_timestamp_seconds{{{o}}} {now:.3f}",
    ]
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, text: str) -> None:
    try:
        atomic_write(path, text.encode(), durable=False)
    except OSError as exc:
        raise ConfigError(f"cannot write metrics file {path}: {exc}") from exc
