"""``tlog serve``: a read-only HTTP view of a folder log, with a CDN's headers.

Serves only the public objects of :mod:`tlog.layout` (``checkpoint``, ``tile/...``,
``checkpoints/...``) with their Content-Type and Cache-Control; everything else,
including the private lock, staging bundles and queue, is 404. Binds 127.0.0.1 by
default: for local use and tests, not for production traffic.
"""

from __future__ import annotations

import http.server
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tlog import layout
from tlog.errors import MalformedError, NotFoundError, StorageError
from tlog.storage.folder import FolderStore

#: Largest object served (a full entry bundle is at most ~16 MiB).
MAX_SERVED = 32 << 20


def make_server(
    root: Path, host: str = "127.0.0.1", port: int = 0
) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the folder log at ``root`` (not yet serving; call serve_forever)."""
    store = FolderStore(root)

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "tlog-serve"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _object(self) -> tuple[str, bytes] | None:
            key = unquote(urlsplit(self.path).path).lstrip("/")
            try:
                layout.check_key(key)
            except MalformedError:
                return None
            if not layout.is_public(key):
                return None
            try:
                return key, store.read(key, MAX_SERVED)
            except (NotFoundError, MalformedError, StorageError):
                return None

        def _send(self, body: bool) -> None:
            found = self._object()
            if found is None:
                self.send_response(404)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", "10")
                self.end_headers()
                if body:
                    self.wfile.write(b"not found\n")
                return
            key, data = found
            ctype, cache = layout.headers(key)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Cache-Control", cache)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(True)

        def do_HEAD(self) -> None:
            self._send(False)

    return http.server.ThreadingHTTPServer((host, port), Handler)


def serve_folder(root: Path, host: str, port: int) -> None:
    """Serve until interrupted, printing the base URL first."""
    server = make_server(root, host, port)
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
    print(f"serving {root} at http://{shown}:{bound_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
