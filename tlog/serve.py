"""``tlog serve``: a read-only HTTP view of a log, with the headers a CDN would send.

A local preview, for trying a log out and for tests: it binds 127.0.0.1 by default and
runs on :mod:`http.server`. Published logs are served by a CDN or web server in front of
the bucket or folder (docs/design.md).

Only the public objects of :mod:`tlog.layout` (``checkpoint``, ``tile/...``,
``checkpoints/...``) are served, with their Content-Type and Cache-Control; anything
else, including the private lock, staging bundles and queue, is 404. From a folder,
an object is served only if it is a regular file whose real path (every symlink
resolved) is itself a public object of the same log: a symlink into ``private/`` or out
of the folder is 404. From S3 the objects are read through the
:class:`~tlog.storage.Store`, which has no symlinks.
"""

from __future__ import annotations

import http.server
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tlog import layout
from tlog.errors import MalformedError, NotFoundError, StorageError
from tlog.storage import Store

#: Largest object served (a full entry bundle is at most ~16 MiB).
MAX_SERVED = 32 << 20

#: The bytes of one public object, by key; NotFoundError (or MalformedError,
#: OversizeError) when there is none to serve, StorageError when the backend fails.
Reader = Callable[[str], bytes]


def store_reader(store: Store) -> Reader:
    """Public objects read through ``store`` (for S3 and in-memory logs)."""

    def read(key: str) -> bytes:
        return store.read(key, MAX_SERVED)

    return read


def _opened_path(fd: int, path: str) -> str:
    """The real path of the file open at ``fd`` (from /proc on Linux, so no symlink
    swapped in after the open can mislead it; elsewhere resolved and compared)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    real = os.path.realpath(path)
    opened, found = os.fstat(fd), os.stat(real)
    if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino):
        raise NotFoundError(f"{path} changed while it was opened")
    return real


def _read_fd(fd: int, key: str) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got <= MAX_SERVED and (chunk := os.read(fd, min(1 << 20, MAX_SERVED + 1 - got))):
        chunks.append(chunk)
        got += len(chunk)
    if got > MAX_SERVED:
        raise NotFoundError(f"{key} is over {MAX_SERVED} bytes: not served")
    return b"".join(chunks)


def folder_reader(root: Path) -> Reader:
    """Public objects of the folder log at ``root``: regular files only, whose real path
    stays inside the public part of the log (see the module docstring)."""
    real_root = os.path.realpath(root)

    def read(key: str) -> bytes:
        path = os.path.join(real_root, layout.check_key(key))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            raise NotFoundError(f"no object {key!r}") from None
        try:
            real = _opened_path(fd, path)
            rel = os.path.relpath(real, real_root).replace(os.sep, "/")
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not layout.is_public(rel):
                raise NotFoundError(f"{key!r} is not a public object of the log")
            return _read_fd(fd, key)
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    return read


def make_server(
    read: Reader, host: str = "127.0.0.1", port: int = 0
) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the public objects ``read`` gives (not yet serving; call
    serve_forever). GET and HEAD; 404 for anything not public, 503 for a storage error."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "tlog-serve"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _object(self) -> tuple[int, str, bytes]:
            key = unquote(urlsplit(self.path).path).lstrip("/")
            if not layout.is_public(key):
                return 404, key, b"not found\n"
            try:
                return 200, key, read(key)
            except (NotFoundError, MalformedError):  # OversizeError included
                return 404, key, b"not found\n"
            except StorageError:
                return 503, key, b"storage error\n"

        def _send(self, body: bool) -> None:
            status, key, data = self._object()
            extra: dict[str, str] = {}
            if status == 200:
                ctype, cache = layout.headers(key)
                status, data, extra = _range(self.headers.get("Range"), data)
            else:
                ctype, cache = layout.CONTENT_TEXT, layout.CACHE_PRIVATE
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Cache-Control", cache)
            self.send_header("Accept-Ranges", "bytes")
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(True)

        def do_HEAD(self) -> None:
            self._send(False)

    return http.server.ThreadingHTTPServer((host, port), Handler)


_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})")


def _range(header: str | None, data: bytes) -> tuple[int, bytes, dict[str, str]]:
    """A single ``Range: bytes=a-b`` (RFC 9110 §14.2; index segments are read so):
    206 with those bytes, 416 past the end; anything else gets the whole object."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return 200, data, {}
    first, last = int(match[1]), int(match[2])
    if first >= len(data) or last < first:
        return 416, b"", {"Content-Range": f"bytes */{len(data)}"}
    last = min(last, len(data) - 1)
    return 206, data[first : last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"}


def base_url(server: http.server.ThreadingHTTPServer) -> str:
    """The ``http://host:port/`` the server listens on."""
    host, port = server.server_address[:2]
    shown = host.decode() if isinstance(host, bytes) else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve_until_interrupted(server: http.server.ThreadingHTTPServer) -> None:
    """Serve until Ctrl-C, then close the socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
