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
:class:`~tlog.storage.Store`, which has no symlinks. A single ``Range: bytes=a-b``
request (readers fetch index segments so) reads only those bytes, so ranges of an object
too big to serve whole are still served.
"""

from __future__ import annotations

import http.server
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from tlog import layout
from tlog.errors import MalformedError, NotFoundError, StorageError
from tlog.storage import Store

_T = TypeVar("_T")

#: Largest object served whole, and largest single range served (a full entry bundle
#: is at most ~16 MiB). A range of a bigger object (an index segment of a log of a few
#: million entries) is served by reading only that range.
MAX_SERVED = 32 << 20

#: Seconds a kept-alive connection may idle (or a request trickle) before the server
#: closes it. Connections are kept alive, as a CDN keeps them: a reader's next GET
#: reuses its connection (no new TCP connection, nor thread here, per object). Answers
#: are sent with TCP_NODELAY: the headers and the body are two writes, and without it
#: the body waits for the client's delayed ACK of the headers (40 ms) on a kept-alive
#: connection.
IDLE_TIMEOUT = 30.0

#: The bytes of one public object, by key; NotFoundError (or MalformedError,
#: OversizeError) when there is none to serve, StorageError when the backend fails.
Whole = Callable[[str], bytes]


class Reader(Protocol):
    """The public objects of one log: whole (``reader(key)``), or a range of one."""

    def __call__(self, key: str) -> bytes: ...

    def span(self, key: str, start: int, length: int) -> tuple[bytes, int | None]:
        """Bytes ``start .. start + length`` of the object, cut at its end, and its size
        (None if the backend does not say it); NotFoundError as for whole reads."""
        ...


class StoreReader:
    """Public objects read through a :class:`~tlog.storage.Store` (S3, in-memory)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, key: str) -> bytes:
        return self.store.read(key, MAX_SERVED)

    def span(self, key: str, start: int, length: int) -> tuple[bytes, int | None]:
        try:
            return self.store.read_range(key, start, length), None
        except MalformedError:  # the range runs past the end: cut the whole object
            data = self(key)
            return data[start : start + length], len(data)


def store_reader(store: Store) -> Reader:
    """Public objects read through ``store`` (for S3 and in-memory logs)."""
    return StoreReader(store)


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


class FolderReader:
    """Public objects of the folder log at ``root``: regular files only, whose real path
    stays inside the public part of the log (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)

    def __call__(self, key: str) -> bytes:
        return self._with(key, lambda fd, size: _read_whole(fd, size, key))

    def span(self, key: str, start: int, length: int) -> tuple[bytes, int | None]:
        def part(fd: int, size: int) -> tuple[bytes, int | None]:
            want = max(0, min(length, size - start))
            return (os.pread(fd, want, start) if want else b""), size

        return self._with(key, part)

    def _with(self, key: str, use: Callable[[int, int], _T]) -> _T:
        """``use(fd, size)`` on the object's file, opened and checked as public."""
        path = os.path.join(self.root, layout.check_key(key))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            raise NotFoundError(f"no object {key!r}") from None
        try:
            real = _opened_path(fd, path)
            rel = os.path.relpath(real, self.root).replace(os.sep, "/")
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode) or not layout.is_public(rel):
                raise NotFoundError(f"{key!r} is not a public object of the log")
            return use(fd, found.st_size)
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)


def _read_whole(fd: int, size: int, key: str) -> bytes:
    if size > MAX_SERVED:
        raise NotFoundError(f"{key} is over {MAX_SERVED} bytes: served by ranges only")
    chunks: list[bytes] = []
    got = 0
    while got <= MAX_SERVED and (chunk := os.read(fd, min(1 << 20, MAX_SERVED + 1 - got))):
        chunks.append(chunk)
        got += len(chunk)
    if got > MAX_SERVED:
        raise NotFoundError(f"{key} is over {MAX_SERVED} bytes: served by ranges only")
    return b"".join(chunks)


def folder_reader(root: Path) -> Reader:
    """Public objects of the folder log at ``root`` (see :class:`FolderReader`)."""
    return FolderReader(root)


def make_server(
    read: Reader, host: str = "127.0.0.1", port: int = 0
) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the public objects ``read`` gives (not yet serving; call
    serve_forever). GET and HEAD; 404 for anything not public, 503 for a storage error."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "tlog-serve"
        # Keep-alive (docstring of IDLE_TIMEOUT): every answer has a Content-Length.
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return

        def _object(self) -> tuple[int, str, bytes, dict[str, str]]:
            key = unquote(urlsplit(self.path).path).lstrip("/")
            if not layout.is_public(key):
                return 404, key, b"not found\n", {}
            wanted = _wanted(self.headers.get("Range"))
            try:
                if wanted is None:
                    return 200, key, read(key), {}
                first, last = wanted
                data, size = read.span(key, first, last - first + 1)
            except (NotFoundError, MalformedError):  # OversizeError included
                return 404, key, b"not found\n", {}
            except StorageError:
                return 503, key, b"storage error\n", {}
            if not data:
                return 416, key, b"", {"Content-Range": f"bytes */{size}"}
            total = "*" if size is None else str(size)
            last = first + len(data) - 1
            return 206, key, data, {"Content-Range": f"bytes {first}-{last}/{total}"}

        def _send(self, body: bool) -> None:
            status, key, data, extra = self._object()
            if status in (200, 206):
                ctype, cache = layout.headers(key)
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

    return _Server((host, port), Handler)


class _Server(http.server.ThreadingHTTPServer):
    """Quiet when a client drops its kept-alive connection (a reset, a timeout): that
    is how connections end, not an error to print a traceback for."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})")


def _wanted(header: str | None) -> tuple[int, int] | None:
    """The one range of a ``Range: bytes=a-b`` header (RFC 9110 §14.2; index segments
    are read so), answered 206 with those bytes cut at the object's end, or 416 past it.
    Anything else, or a range over :data:`MAX_SERVED` bytes, gets the whole object."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    if last < first or last - first >= MAX_SERVED:
        return None
    return first, last


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
