"""Run moto's S3 emulator on 127.0.0.1 for the tests, one request at a time.

Usage::

    python tools/moto_server.py [--port N] [--latency SECONDS] [--verbose]

``--port 0`` (the default) picks a free port. Prints ``READY http://127.0.0.1:<port>``
on stdout once listening, then serves until SIGTERM/SIGINT or until stdin is closed (so
the server cannot outlive a test run that dies without cleaning up).

Why every request is serialised: moto evaluates a conditional PUT (``If-None-Match: *``,
``If-Match``) and then stores the object as two separate steps with no lock, so two
racing conditional writers can both succeed. Real S3 decides each conditional write
atomically. One lock around the whole WSGI application restores that atomicity, so the
storage contract tests can keep asserting exactly what S3 guarantees. The lock costs no
parallelism the emulator had: moto's work is Python under one interpreter lock anyway.
So a round of k parallel requests takes the delay plus k times the emulator's CPU per
request (about 1 ms; tools/bench_small_batch.py prints it), where S3 would serve the k
in parallel: the benchmark errs on the slow side there.

``--latency`` delays every request by that many seconds *before* it takes the lock (in
front of the emulator, as the network would): concurrent requests wait together, so a
client's parallel requests cost one delay and its sequential ones one each (the round
trips of docs/design.md "Round trips", measured by tools/bench_small_batch.py).

S3 requests skip moto's Flask layer (:class:`S3App`): moto's own S3 handlers and backend
answer them, as in moto's server, without Flask's routing, request context, debug mode
and CORS headers around each, which cost about as much CPU as the handler itself and
which S3 has no counterpart of (it sends CORS headers only for a bucket with a CORS
configuration). The other services (KMS for the tests) are moto's Flask apps as usual.

Connections are kept alive (HTTP/1.1), as S3 keeps them: werkzeug's own handler closes
every connection after one response and lingers 10 ms draining it, so a client paid a
TCP connect and the server a new thread for every request, which S3 never charges
(:class:`KeepAlive`).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.responses import S3Response
from moto.settings import MAX_FORM_MEMORY_SIZE
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Serialised:
    """WSGI middleware: one request at a time, response body included."""

    def __init__(self, app: WSGIApp, latency: float = 0.0) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.latency = latency

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if self.latency:
            time.sleep(self.latency)  # the network, before the (serialised) server
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which service answers each host.

    moto finds a request's service (S3, KMS, ...) from its Host header, or from the
    signature's credential scope, by matching every backend's URL patterns and looking
    for the host among its backend modules on disk: about 1 ms of CPU (and a hundred
    ``stat`` calls) on every request, a cost of the emulator that S3 never has. The
    answer depends only on the host, so it is looked up once per host.
    """

    def __init__(self, create_app: Callable[[Any], Any]) -> None:
        super().__init__(create_app)
        self._hosts: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._hosts:
            self._hosts[host] = super().get_backend_for_host(host)
        return self._hosts[host]


class S3App:
    """moto's S3 as a plain WSGI application: each request goes to the handler moto's
    Flask app would route it to (``moto/s3/urls.py``: the bucket, a bucket or key named
    by one path segment, or a key), called as moto's ``convert_to_flask_response``
    calls it, and its answer sent as that wrapper sends it (module docstring)."""

    ROUTES = (
        (re.compile(r"/"), S3Response.bucket_dispatch),
        (re.compile(r"/[^/]+/?"), S3Response.ambiguous_dispatch),
        (re.compile(r"/[^/]+/.+"), S3Response.key_dispatch),
        (re.compile(r"//.*"), S3Response.key_dispatch),
    )

    class Request(Request):
        max_form_memory_size = MAX_FORM_MEMORY_SIZE  # moto's Flask app's setting

    class Response(Response):
        default_mimetype = "text/html"  # as Flask's

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = self.Request(environ)
        path = request.path
        handler = next((h for p, h in self.ROUTES if p.fullmatch(path)), None)
        if handler is None:
            return self.Response(status=404)(environ, start_response)
        result = handler(request, request.url, dict(request.headers))
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = self.Response(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        return response(environ, start_response)


def create_app(service: Any) -> WSGIApp:
    """The application for one moto service: :class:`S3App` for S3, else moto's own."""
    return S3App() if service == "s3" else create_backend_app(service)


class KeepAlive(WSGIRequestHandler):
    """werkzeug's request handler, keeping the connection for the next request.

    The request body is read whole before the application runs (so the next request
    starts where this one ends, whatever the application read) and the response is sent
    with its Content-Length.

    ``Expect: 100-continue`` (the client sends the body only once the server says
    "100 Continue") is one more exchange over the network before the request proper: it
    costs the ``--latency`` too.
    """

    protocol_version = "HTTP/1.1"
    #: Headers and body go out in two writes: with Nagle's algorithm the body would wait
    #: for the client's delayed ACK of the headers (40 ms on Linux).
    disable_nagle_algorithm = True

    def handle_expect_100(self) -> bool:
        time.sleep(getattr(self.server.app, "latency", 0.0))  # the interim answer's trip
        return super().handle_expect_100()

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        if environ.pop("wsgi.input_terminated", False):  # chunked: werkzeug decodes it
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            started[:] = [(status, headers)]
            return lambda data: None

        try:
            data = b"".join(self.server.app(environ, start_response))
            status, headers = started[0]
        except Exception:
            logging.getLogger("werkzeug").exception("error on %s %s", self.command, self.path)
            data, status, headers = b"", "500 Internal Server Error", []
            self.close_connection = True
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if self.command == "HEAD":  # the length of the body a GET would have
            length = next((v for n, v in headers if n.lower() == "content-length"), "0")
            self.send_header("Content-Length", length)
        elif int(code) not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and int(code) not in (204, 304):
            self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds of delay added to every request"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = Serialised(Dispatcher(create_app), args.latency)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=KeepAlive)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    def watch_stdin() -> None:
        # os.read, not sys.stdin: a daemon thread blocked in a buffered read holds the
        # buffer's lock, and the interpreter, finalizing after SIGTERM, then dies with
        # "Fatal Python error: _enter_buffered_busy" trying to take it.
        while os.read(stdin, 4096):
            pass
        stop.set()

    stdin = sys.stdin.fileno()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=watch_stdin, daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"READY http://127.0.0.1:{server.server_port}", flush=True)
    stop.wait()
    server.shutdown()
    serving.join()


if __name__ == "__main__":
    main()
