"""A published log served over HTTP on 127.0.0.1, with faults injected per path.

``LogServer(store)`` serves the public objects of a :class:`~tlog.storage.Store` the
way a CDN would. ``server.faults[path]`` (or ``"*"`` for every path) replaces the
answer with one of the fault functions below; ``server.requests`` records every path
asked for. Hanging handlers wait on an event that :meth:`LogServer.close` sets, so
nothing depends on sleeping.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

from tlog import layout
from tlog.errors import NotFoundError
from tlog.storage import Store

#: Answer for one request: (handler, the genuine bytes or None if absent).
Fault = Callable[["_Handler", bytes | None], None]

_CHUNK = 1 << 16


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path.lstrip("/")
        with owner.lock:
            owner.requests.append(path)
            owner.headers_seen.append(dict(self.headers))
        genuine = owner.genuine(path)
        fault = owner.faults.get(path) or owner.faults.get("*")
        if fault is not None:
            fault(self, genuine)
        elif genuine is None:
            send(self, 404, b"not found\n")
        else:
            send(self, 200, genuine)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: LogServer


def send(h: _Handler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        h.wfile.write(body)


class LogServer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.faults: dict[str, Fault] = {}
        self.requests: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def genuine(self, path: str) -> bytes | None:
        try:
            layout.check_key(path)
        except Exception:
            return None
        if not layout.is_public(path):
            return None
        try:
            return self.store.read(path, 64 << 20)
        except NotFoundError:
            return None

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.headers_seen.clear()

    def tile_requests(self) -> list[str]:
        return [p for p in self.requests if p.startswith("tile/")]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)


# -- faults ----------------------------------------------------------------------------


def replace(data: bytes) -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        send(h, 200, data)

    return fault


def mutate(fn: Callable[[bytes], bytes]) -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        assert genuine is not None, f"no genuine object at {h.path}"
        send(h, 200, fn(genuine))

    return fault


def flip(offset: int, bit: int = 0) -> Fault:
    def fn(data: bytes) -> bytes:
        b = bytearray(data)
        b[offset % len(b)] ^= 1 << bit
        return bytes(b)

    return mutate(fn)


def status(code: int, retry_after: str | None = None) -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        send(h, code, b"nope\n", {"Retry-After": retry_after} if retry_after is not None else {})

    return fault


def failing(times: int, code: int = 503, retry_after: str | None = "0") -> Fault:
    """``code`` for the first ``times`` requests, then the genuine object."""
    left = [times]

    def fault(h: _Handler, genuine: bytes | None) -> None:
        if left[0] > 0:
            left[0] -= 1
            status(code, retry_after)(h, genuine)
        elif genuine is None:
            send(h, 404, b"")
        else:
            send(h, 200, genuine)

    return fault


def hang(server: LogServer) -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        server.stop.wait(60)

    return fault


def huge(size: int, declare: bool) -> Fault:
    """A ``size``-byte body, with or without a Content-Length; records bytes sent."""

    def fault(h: _Handler, genuine: bytes | None) -> None:
        h.send_response(200)
        if declare:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        chunk = b"\0" * _CHUNK
        sent = 0
        try:
            while sent < size:
                h.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.sent = sent  # type: ignore[attr-defined]
        h.close_connection = True

    return fault


def gzip_bomb(size: int) -> Fault:
    """``size`` zero bytes, gzip-compressed (a few hundred KiB on the wire)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    body = b"".join(parts) + comp.flush()

    def fault(h: _Handler, genuine: bytes | None) -> None:
        send(h, 200, body, {"Content-Encoding": "gzip"})

    return fault


def gzipped() -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        assert genuine is not None
        send(h, 200, gzip.compress(genuine), {"Content-Encoding": "gzip"})

    return fault


def redirect_loop() -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        send(h, 302, b"", {"Location": h.path})

    return fault


def redirect(location: str) -> Fault:
    def fault(h: _Handler, genuine: bytes | None) -> None:
        send(h, 302, b"", {"Location": location})

    return fault


class RedirectWithBody:
    """A 302 to ``location`` whose chunked body runs on for ``size`` bytes unless the
    client hangs up: ``sent`` is how much went out, known once ``done`` is set."""

    def __init__(self, location: str, size: int) -> None:
        self.location = location
        self.size = size
        self.sent = 0
        self.done = threading.Event()

    def __call__(self, h: _Handler, genuine: bytes | None) -> None:
        h.send_response(302)
        h.send_header("Location", self.location)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"%x\r\n" % _CHUNK + b"\0" * _CHUNK + b"\r\n"
        try:
            while self.sent < self.size:
                h.wfile.write(chunk)
                self.sent += _CHUNK
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            h.close_connection = True
            self.done.set()


def trickle(
    server: LogServer, every: float, count: int, status: int = 200, length: int = 8192
) -> Fault:
    """Answers ``status`` declaring a body of ``length`` bytes, then sends one byte per
    ``every`` seconds, ``count`` times (each read the client makes returns in time: only
    a deadline stops it)."""

    def fault(h: _Handler, genuine: bytes | None) -> None:
        h.send_response(status)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        try:
            for _ in range(count):
                h.wfile.write(b"\1")
                h.wfile.flush()
                if server.stop.wait(every):
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    return fault


def raw_header(code: int, name: str, value: str) -> Fault:
    """An answer with one header of any (latin-1) value, e.g. a Content-Length of "²"."""

    def fault(h: _Handler, genuine: bytes | None) -> None:
        h.send_response(code)
        h.send_header(name, value)
        h.send_header("Connection", "close")
        h.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(genuine or b"")
        h.close_connection = True

    return fault


class TrickleHeaders:
    """Sends the status line, then a header one byte per ``every`` seconds, ``count``
    times, then the genuine object: each read the client makes of the headers returns
    in time, so only a deadline stops it. ``sent`` counts the bytes trickled and
    ``done`` is set when the answer ended (sent in full, or cut by the client).
    """

    def __init__(self, server: LogServer, every: float, count: int) -> None:
        self.server, self.every, self.count = server, every, count
        self.sent = 0
        self.done = threading.Event()

    def __call__(self, h: _Handler, genuine: bytes | None) -> None:
        body = genuine or b""
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(self.count):
                h.wfile.write(b"a")
                h.wfile.flush()
                self.sent += 1
                if self.server.stop.wait(self.every):
                    return
            h.wfile.write(b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            h.close_connection = True
            self.done.set()
