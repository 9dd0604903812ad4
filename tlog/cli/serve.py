"""``tlog serve``: a local, read-only HTTP preview of a folder or S3 log."""

from __future__ import annotations

import json

import click

from tlog import layout
from tlog.cli.app import main, one_line_errors
from tlog.cli.options import choose_format, endpoint_option
from tlog.errors import ConfigError, NotFoundError
from tlog.storage.folder import FolderStore
from tlog.storage.locate import open_store


@main.command()
@click.option(
    "--log",
    "location",
    required=True,
    help="The log to serve: a folder or s3://bucket/prefix.",
)
@endpoint_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (keep it local: this is a preview, not a production server).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port (0: any free port).",
)
@choose_format('How to announce the URL once listening (json: one line {"url", "log"}).')
@one_line_errors
def serve(location: str, endpoint_url: str | None, host: str, port: int, fmt: str) -> None:
    """Serve a log over HTTP, read-only, as a CDN would, until Ctrl-C.

    A local preview for trying a log out and for tests (http.server, 127.0.0.1 by
    default): in production a CDN or web server serves the folder or bucket. Only the
    public objects (checkpoint, tile/..., checkpoints/...) are served, with the
    Content-Type and Cache-Control of docs/design.md; the private lock, staging and
    queue never are, nor is any file reached through a symlink leaving the public part.
    """
    from tlog.serve import (
        base_url,
        folder_reader,
        make_server,
        serve_until_interrupted,
        store_reader,
    )

    store = open_store(location, endpoint_url)
    if isinstance(store, FolderStore):
        if not store.root.is_dir():
            raise ConfigError(f"no log folder at {location}")
        reader = folder_reader(store.root)
    else:
        reader = store_reader(store)
    try:
        reader(layout.CHECKPOINT)  # fail now, in one line, rather than on every request
    except NotFoundError:
        raise ConfigError(f"no log at {location}: it has no checkpoint") from None
    server = make_server(reader, host, port)
    url = base_url(server)
    if fmt == "json":
        click.echo(json.dumps({"url": url, "log": location}, sort_keys=True))
    else:
        click.echo(f"serving {location} read-only at {url} (local preview; Ctrl-C stops)")
    serve_until_interrupted(server)
