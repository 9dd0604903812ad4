"""Fetching a published log's objects: one small protocol, one module per transport.

A reader trusts nothing it fetches: every object is bounded in size here and
authenticated by :mod:`tlog.fetch.tiles` (tiles, bundles) or
:func:`tlog.checkpoint.open_checkpoint` (checkpoints) before use.

Transports: :mod:`tlog.fetch.store` (a folder or ``s3://`` log through the
:class:`~tlog.storage.Store` protocol) and :mod:`tlog.fetch.http` (a log served over
``http(s)://``, as C2SP tlog-tiles publishes it, on urllib3's kept-alive connection
pools). :mod:`tlog.fetch.cache` keeps
authenticated tiles on disk; :mod:`tlog.fetch.tiles` is the authenticating tile reader.

Bounds (docs/design.md "Read side": every read is bounded)::

    checkpoint, checkpoints/<size>   MAX_CHECKPOINT_SIZE (1 MiB, as signed-note parsing)
    tile/<L>/<N>[.p/<W>]             exactly W × 32 bytes
    tile/entries/<N>[.p/<W>]         W × (2 + 65,535) bytes
    checkpoints/covers/<N>[.p/<W>]   layout.MAX_COVER_SIZE
"""

from __future__ import annotations

from typing import Protocol

from tlog.errors import ConfigError


class Fetcher(Protocol):
    """Reads public objects of one log, by their tlog-tiles path relative to its prefix.

    Contract: returns the object's complete bytes; raises
    :class:`~tlog.errors.NotFoundError` if it does not exist,
    :class:`~tlog.errors.OversizeError` as soon as it is known to exceed ``limit`` bytes
    (never buffering past the limit), :class:`~tlog.errors.StorageError` when the
    transport fails for good. It never requests a path for which
    :func:`tlog.layout.is_public` is false (:func:`tlog.layout.check_public`).
    """

    def fetch(self, path: str, limit: int) -> bytes: ...

    def fetch_range(self, path: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start + length`` of a public object (an HTTP Range read,
        RFC 9110 §14): exactly ``length`` bytes, MalformedError if the object is
        shorter, NotFoundError if absent. Reads one block run of an index segment."""
        ...


def open_fetcher(
    location: str,
    endpoint_url: str | None = None,
    *,
    timeout: float | None = None,
    retries: int | None = None,
) -> Fetcher:
    """The fetcher for a ``--log`` location: a folder, ``s3://bucket/prefix``, or an
    ``http(s)://`` URL of a published log. ``timeout`` (seconds) bounds each HTTP try
    as a whole (connect, status line, headers, body), so one object takes at most every
    try and the backoff between them (:func:`tlog.fetch.http.deadline_for`); ``retries``
    is how often a failed HTTP GET is tried again. No IO happens here.
    """
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if scheme in ("http", "https"):
        from tlog.fetch.http import HTTPFetcher, deadline_for

        tries = 3 if retries is None else retries
        if timeout is None:
            return HTTPFetcher(location, retries=tries)
        return HTTPFetcher(
            location,
            connect_timeout=timeout,
            read_timeout=timeout,
            deadline=deadline_for(timeout, tries),
            retries=tries,
        )
    if not location:
        raise ConfigError("empty log location")
    from tlog.fetch.store import StoreFetcher
    from tlog.storage.locate import open_store

    return StoreFetcher(open_store(location, endpoint_url))
