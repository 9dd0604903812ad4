"""The Rekor v2 HTTP API of a tlog log, as an ASGI app (Starlette) served by uvicorn.

Routes (rekor-tiles' ``/api/v2``)::

    POST /api/v2/log/entries          one CreateEntryRequest (JSON) → 201 TransparencyLogEntry
    GET  /api/v2/checkpoint           the public checkpoint
    GET  /api/v2/tile/<L>/<N>[.p/<W>] hash tiles; /api/v2/tile/entries/... entry bundles

POST bodies are read to at most :data:`MAX_BODY` bytes (413 past it, before parsing)
and answered by the :class:`~tlog.server.pool.RequestPool`, in a plain ASGI handler in
front of Starlette (the hot path: Starlette's routing and middleware cost as much per
request as the rest of the event loop's work); Starlette serves the rest. GETs serve the public
objects with the headers of :mod:`tlog.layout`, or redirect (302) to ``read_url`` — the
CDN in front of the bucket — when one is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tlog import layout
from tlog.errors import MalformedError, NotFoundError, TlogError
from tlog.serve import Reader
from tlog.server.answer import INVALID_ARGUMENT, Answer, error
from tlog.server.pool import RequestPool

#: Largest request body (rekor-tiles' default).
MAX_BODY = 4 << 20

TOO_LARGE = error(413, INVALID_ARGUMENT, "http: request body too large")
ENTRIES = "/api/v2/log/entries"


def _respond(answer: Answer) -> Response:
    return Response(
        answer.body,
        status_code=answer.status,
        headers=dict(answer.headers),
        media_type=answer.content_type,
    )


def _head(answer: Answer) -> list[tuple[bytes, bytes]]:
    """The headers :func:`_respond`'s Response would send."""
    content_type = answer.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    return [
        *extra,
        (b"content-length", str(len(answer.body)).encode()),
        (b"content-type", content_type.encode()),
    ]


def _too_large(scope: Scope) -> bool:
    """Whether the request declares a body over :data:`MAX_BODY`."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) > MAX_BODY
    return False


class _Gone(Exception):
    """The client disconnected before its request body was in."""


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None once it passes :data:`MAX_BODY`."""
    chunks: list[bytes] = []
    got = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Gone
        chunk = message.get("body", b"")
        got += len(chunk)
        if got > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Entries:
    """ASGI: ``POST /api/v2/log/entries`` answered straight from the pool (the hot path:
    no routing or middleware per request); everything else goes to ``other``."""

    def __init__(self, pool: RequestPool, other: ASGIApp) -> None:
        self.pool = pool
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != ENTRIES or scope["method"] != "POST":
            await self.other(scope, receive, send)
            return
        try:
            data = None if _too_large(scope) else await _body(receive)
        except _Gone:
            return  # nothing was submitted, and there is no one to answer
        answer = TOO_LARGE if data is None else await self._submit(data)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": _head(answer)}
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def _submit(self, data: bytes) -> Answer:
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Answer] = loop.create_future()

        def done(answer: Answer) -> None:
            loop.call_soon_threadsafe(_settle, answered, answer)

        return self.pool.submit(data, done) or await answered


def make_app(pool: RequestPool, reader: Reader, read_url: str | None = None) -> ASGIApp:
    """The ASGI app: writes through ``pool``, reads through ``reader`` (or ``read_url``).

    The pool's thread is started and stopped with the app (ASGI lifespan): stopping
    drains it, so every pooled request is answered before the app ends.
    """

    async def create_entry(request: Request) -> Response:
        # Never called (_Entries answers POST); the route makes other methods 405.
        return Response(status_code=405)

    def serve(key: str) -> Callable[[], Response]:
        def read() -> Response:
            if read_url is not None:
                return RedirectResponse(f"{read_url.rstrip('/')}/{key}", status_code=302)
            try:
                data = reader(layout.check_public(key))
            except (NotFoundError, MalformedError, TlogError):
                return Response(b"not found\n", 404, media_type="text/plain")
            content_type, cache = layout.headers(key)
            return Response(data, headers={"Cache-Control": cache}, media_type=content_type)

        return read

    async def checkpoint(request: Request) -> Response:
        return await run_in_threadpool(serve(layout.CHECKPOINT))

    async def tile(request: Request) -> Response:
        return await run_in_threadpool(serve(f"{layout.TILE_PREFIX}{request.path_params['path']}"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool.start()
        try:
            yield
        finally:
            await run_in_threadpool(pool.close)

    routes = [
        Route(ENTRIES, create_entry, methods=["POST"]),
        Route("/api/v2/checkpoint", checkpoint, methods=["GET"]),
        Route("/api/v2/tile/{path:path}", tile, methods=["GET"]),
    ]
    return _Entries(pool, Starlette(routes=routes, lifespan=lifespan))


def _settle(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():
        future.set_result(answer)


def run(app: Any, host: str, port: int, pool: RequestPool, ready: Callable[[str], None]) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM; ``ready(url)`` once listening.

    The first signal drains: no new connection, new requests get 503, every pooled
    request is sequenced and answered, then the server stops.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.servers and self.servers[0].sockets:
                bound = self.servers[0].sockets[0].getsockname()
                ready(f"http://{host}:{bound[1]}")

        def handle_exit(self, sig: int, frame: Any) -> None:
            # Drain, and exit 0 once drained (uvicorn would re-raise the signal); a
            # second signal stops at once.
            pool.drain()
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    Server(config).run()
