"""``tlog server``: the Rekor v2 write API of a log (docs/server.md)."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tlog.cli.app import main, one_line_errors
from tlog.cli.options import (
    LOG_HELP,
    choose_format,
    endpoint_option,
    key_option,
    timestamp_key_option,
)
from tlog.errors import ConfigError

if TYPE_CHECKING:
    from tlog.sequencer import Sequencer
    from tlog.storage import Store


def _duration(value: str) -> float:
    """Seconds from ``250ms``, ``1.5s`` or a plain number of milliseconds."""
    text = value.strip().lower()
    try:
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        if text.endswith("s"):
            return float(text[:-1])
        return float(text) / 1000
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration such as 250ms or 1s") from None


def _admission_pool(workers: int | None) -> ProcessPoolExecutor | None:
    """The admission workers (none with ``--workers 0``), started now, before the
    server's threads exist (forking a process that runs threads is unsafe)."""
    from tlog.admission import parallel_admission

    if workers == 0:
        return None
    executor = parallel_admission(workers)
    for started in [executor.submit(os.getpid) for _ in range(workers or os.cpu_count() or 1)]:
        started.result()
    return executor


def _sequencer(store: Store, key_source: str, timestamp_key: Path | None) -> Sequencer:
    """The log's sequencer, recovered. Batches re-read what earlier ones wrote: it
    keeps the immutable objects in memory, and the index segments' authenticated rows
    for dedup."""
    from tlog.sequencer import sequencer_for
    from tlog.server.cache import CachingStore
    from tlog.server.dedup import SegmentRows

    seq = sequencer_for(CachingStore(store), key_source, timestamp_key, known=SegmentRows().known)
    seq.recover()
    return seq


@main.command()
@click.option("--log", "location", required=True, help=LOG_HELP)
@key_option
@timestamp_key_option
@endpoint_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=3000,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 65536),
    default=256,
    show_default=True,
    help="Entries per sequencer batch at most.",
)
@click.option(
    "--pool-wait",
    default="250ms",
    show_default=True,
    help="How long the first request of a batch waits for others (e.g. 250ms).",
)
@click.option(
    "--max-pending",
    type=click.IntRange(1),
    default=None,
    help="Requests waiting for a batch past which new ones get 503 (default: 4 x --pool-size).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=None,
    help="Admission processes (default: one per core; 0: admit in the server).",
)
@click.option(
    "--read-url",
    default=None,
    help="Redirect GET /api/v2/checkpoint and /api/v2/tile/... to this base URL "
    "(the CDN in front of the log) instead of serving them.",
)
@choose_format(
    "How to announce the URL once listening (text: 'listening on URL'; json: {\"url\"})."
)
@one_line_errors
def server(
    location: str,
    key_source: str,
    timestamp_key: Path | None,
    endpoint_url: str | None,
    host: str,
    port: int,
    pool_size: int,
    pool_wait: str,
    max_pending: int | None,
    workers: int | None,
    read_url: str | None,
    fmt: str,
) -> None:
    """Serve the Rekor v2 write API (POST /api/v2/log/entries) for the log.

    Requests are pooled into one batch (up to --pool-size entries or --pool-wait), and
    each is answered once the checkpoint holding its entry is published. SIGTERM drains.
    Needs the 'server' extra: pip install 'tlog[server]'.
    """
    try:
        from tlog.server.app import make_app, run
    except ImportError as exc:
        raise ConfigError(f"tlog server needs the 'server' extra ({exc.name} is missing)") from None
    from tlog.admission import rekor_admission
    from tlog.entries.policy import DEFAULT_POLICY
    from tlog.freeze import frozen_marker
    from tlog.serve import folder_reader, store_reader
    from tlog.server.pool import RequestPool
    from tlog.storage.folder import FolderStore
    from tlog.storage.locate import open_store

    store = open_store(location, endpoint_url)
    seq = _sequencer(store, key_source, timestamp_key)
    executor = _admission_pool(workers)
    pool = RequestPool(
        seq,
        rekor_admission(DEFAULT_POLICY),
        executor,
        workers=workers or os.cpu_count() or 1,
        size=pool_size,
        wait=_duration(pool_wait),
        max_pending=max_pending,
    )
    pool.frozen = frozen_marker(store, seq.keys) is not None
    reader = folder_reader(store.root) if isinstance(store, FolderStore) else store_reader(store)
    app = make_app(pool, reader, read_url)

    def ready(url: str) -> None:
        click.echo(json.dumps({"url": url}) if fmt == "json" else f"listening on {url}")
        sys.stdout.flush()

    try:
        run(app, host, port, pool, ready)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
