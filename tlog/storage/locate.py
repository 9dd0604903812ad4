"""From a ``--log`` location to the :class:`~tlog.storage.Store` that writes it.

``s3://bucket/prefix`` is an :class:`~tlog.storage.s3.S3Store`; ``file:///path`` or any
plain path is a :class:`~tlog.storage.folder.FolderStore`. An ``http(s)://`` URL is a
read-only published log: readers fetch it, but nothing can write through it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tlog.errors import ConfigError
from tlog.storage import Store
from tlog.storage.folder import FolderStore


def open_store(location: str, endpoint_url: str | None = None) -> Store:
    """The store at ``location``; ConfigError for a location nothing can write to.

    ``endpoint_url`` (else ``AWS_ENDPOINT_URL``) selects an S3-compatible endpoint and
    matters only for ``s3://`` locations. No IO happens here: a folder is created, and a
    bucket first contacted, by the first call on the store.
    """
    if not location:
        raise ConfigError("empty log location")
    if "://" not in location:
        return FolderStore(Path(location).expanduser())
    try:
        parts = urlsplit(location)
    except ValueError as exc:  # "http://[::1": an unclosed IPv6 bracket
        raise ConfigError(f"not a usable log location {location[:200]!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "s3":
        check_endpoint(endpoint_url)
        check_endpoint(os.environ.get("AWS_ENDPOINT_URL_S3"), "AWS_ENDPOINT_URL_S3")
        # boto3 is imported only by those who use it.
        from tlog.storage.s3 import S3Store

        return S3Store.from_url(location, endpoint_url=endpoint_url)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ConfigError(f"unsupported file URL {location!r}: use file:///absolute/path")
        if not parts.path:
            raise ConfigError(f"no path in {location!r}")
        return FolderStore(Path(unquote(parts.path)))
    if scheme in ("http", "https"):
        raise ConfigError(
            f"{location!r} is read-only over HTTP: writing needs a folder or s3://bucket/prefix"
        )
    raise ConfigError(
        f"unknown log location scheme {parts.scheme!r} in {location!r}:"
        " use a folder path, file://, s3:// or, for reading, http(s)://"
    )


def check_endpoint(url: str | None, what: str = "--endpoint-url") -> None:
    """ConfigError unless ``url`` (when given) is an http(s)://host[:port] URL: boto3
    would otherwise fail later with a traceback (``127.0.0.1:5055`` has no scheme).
    """
    if not url:
        return
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError when not a number in range
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        hint = f": did you mean http://{url}?" if "://" not in url else ""
        raise ConfigError(f"{what} {url[:200]!r} is not an http(s)://host[:port] URL{hint}")
