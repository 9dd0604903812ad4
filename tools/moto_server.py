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
storage contract tests can keep asserting exactly what S3 guarantees.

``--latency`` delays every request by that many seconds *before* it takes the lock (in
front of the emulator, as the network would): concurrent requests wait together, so a
client's parallel requests cost one delay and its sequential ones one each (the round
trips of docs/design.md "Round trips", measured by tools/bench_small_batch.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

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

    app = Serialised(DomainDispatcherApplication(create_backend_app), args.latency)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
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
