"""``tlog sigstore-config``: the trust-config entries that point Sigstore clients at a log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import choose_format, vkey_option
from tlog.client import load_vkeys
from tlog.errors import ConfigError
from tlog.trust import rekor_service, tlog_instance


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not an RFC 3339 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@main.command("sigstore-config")
@click.option(
    "--log",
    "url",
    required=True,
    help="The log's Rekor v2 URL (where 'tlog server' answers), https://...",
)
@vkey_option
@click.option("--valid-from", help="RFC 3339 time the log starts (default: now).")
@click.option("--valid-to", help="RFC 3339 time the log stops taking entries (a frozen shard).")
@click.option("--operator", help="Who runs the log (default: the URL's host).")
@choose_format("text: the JSON object indented for people; json: the same on one line")
@one_line_errors
def sigstore_config(
    url: str,
    vkeys: tuple[str, ...],
    valid_from: str | None,
    valid_to: str | None,
    operator: str | None,
    fmt: str,
) -> None:
    """Print the TrustedRoot 'tlogs' entry and the SigningConfig 'rekorTlogUrls' entry
    of the log, as one JSON object: {"tlogs": [...], "rekorTlogUrls": [...]}.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--log {url!r} is not an http(s):// URL")
    base = url.rstrip("/")
    start = _when(valid_from, "--valid-from") or datetime.now(UTC).replace(microsecond=0)
    end = _when(valid_to, "--valid-to")
    op = operator or parts.hostname
    doc = {
        "tlogs": [tlog_instance(base, load_vkeys(list(vkeys)), start, end, op)],
        "rekorTlogUrls": [rekor_service(base, start, end, op)],
    }
    click.echo(json.dumps(doc, indent=None if fmt == "json" else 2))
