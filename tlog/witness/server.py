"""The witness over HTTP: a Starlette (ASGI) app served by uvicorn.

Routes (C2SP tlog-witness "HTTP Interface"; one prefix for submission and monitoring):

* ``POST /add-checkpoint``: :meth:`tlog.witness.service.Witness.add_checkpoint`, the
  body read up to :data:`~tlog.witness.protocol.MAX_REQUEST_SIZE` (413 beyond, before
  reading the rest);
* ``GET /<hex SHA-256(origin)>/checkpoint``: the latest checkpoint the witness
  cosigned for that origin, for monitors (404 if none).

The crypto and the state's file or S3 IO run in a worker thread, so one slow state
write never stalls the event loop. :func:`serve` binds, says ``listening on
http://H:P`` once the app is ready, and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tlog.errors import TlogError
from tlog.witness.protocol import MAX_REQUEST_SIZE, TEXT_CONTENT_TYPE
from tlog.witness.service import Reply, Witness


def _response(reply: Reply) -> Response:
    # The content type is set as a header, not media_type: Starlette would append a
    # charset to text/x.tlog.size, which the spec gives exactly.
    return Response(reply.body, reply.status, headers={"content-type": reply.content_type})


def _text(status: int, message: str) -> Response:
    return _response(Reply(status, (message + "\n").encode("utf-8"), TEXT_CONTENT_TYPE))


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(witness: Witness, on_ready: Callable[[], None] | None = None) -> Starlette:
    """The witness app; ``on_ready`` runs once, when the app has started."""

    async def add_checkpoint(request: Request) -> Response:
        body = await _body(request, MAX_REQUEST_SIZE)
        if body is None:
            return _text(413, f"request body over {MAX_REQUEST_SIZE} bytes")
        try:
            reply = await run_in_threadpool(witness.add_checkpoint, body)
        except TlogError as exc:
            return _text(503, f"witness state unavailable: {exc}")
        return _response(reply)

    async def checkpoint(request: Request) -> Response:
        origin_hex = str(request.path_params["origin"])
        try:
            data = await run_in_threadpool(witness.checkpoint, origin_hex)
        except TlogError as exc:
            return _text(503, f"witness state unavailable: {exc}")
        if data is None:
            return _text(404, "no checkpoint cosigned for this origin")
        return _response(Reply(200, data))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield

    routes = [
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/{origin}/checkpoint", checkpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it (Linux): a response's head and body go out at once,
    # not 40 ms apart (Nagle against the client's delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(witness: Witness, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve ``witness`` on the bound ``sock`` until SIGINT or SIGTERM; ``announce``
    hears ``listening on <url>`` once the app is ready."""
    import uvicorn  # the server extra; imported by those who serve only

    app = create_app(witness, lambda: announce(f"listening on {url_of(sock)}"))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
