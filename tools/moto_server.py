"""Run moto's S3 emulator on 127.0.0.1 for the tests, one request at a time.

Usage::

    python tools/moto_server.py [--port N] [--verbose]

``--port 0`` (the default) picks a free port. Prints ``READY http://127.0.0.1:<port>``
on stdout once listening, then serves until SIGTERM/SIGINT or until stdin is closed (so
the server cannot outlive a test run that dies without cleaning up).

Why every request is serialised: moto evaluates a conditional PUT (``If-None-Match: *``,
``If-Match``) and then stores the object as two separate steps with no lock, so two
racing conditional writers can both succeed. Real S3 decides each conditional write
atomically. One lock around the whole WSGI application restores that atomicity, so the
storage contract tests can keep asserting exactly what S3 guarantees.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Serialised:
    """WSGI middleware: one request at a time, response body included."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
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
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = Serialised(DomainDispatcherApplication(create_backend_app))
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
