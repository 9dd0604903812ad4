"""The connection pools of :class:`tlog.fetch.http.HTTPFetcher`: urllib3's kept-alive
pools, one per host (its log's, and those redirects lead to), direct or through the
environment's proxy, whose connections connect and read their status line and headers
within the request's deadline (held by :data:`tlog.fetch.watchdog.watchdog`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3

from tlog.errors import ConfigError
from tlog.fetch.watchdog import watchdog

#: Connections kept alive per host (the most GETs a reader has in flight: --parallel).
POOL_SIZE = 256
_DECIMAL = re.compile(r"[0-9]{1,15}")

Response = urllib3.response.HTTPResponse
#: Most bytes of an error answer read to keep its connection (a 404's few bytes);
#: a longer one closes the connection instead.
_DRAIN = 1 << 12
#: Most seconds spent reading it (a server sends a 404's few bytes with its headers).
DRAIN_WAIT = 1.0


def shown(url: str) -> str:
    """``url`` without the user and password it may hold (for messages)."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}{sep}{host}" if sep else host


def release(resp: Response) -> bool:
    """Hand the connection of a response read whole back to the pool."""
    if resp.closed or not resp.isclosed():
        return False
    resp.release_conn()
    return True


def drain(resp: Response, until: float) -> bool:
    """Read a short error body, so its connection can serve the next GET (most 404s:
    a covers object a bundle has none of), by ``until`` (a :func:`time.monotonic` time:
    the socket is shut down under a server trickling it); False, to close it, when it is
    not short or not read in time."""
    declared = resp.headers.get("Content-Length", "").strip()
    if not _DECIMAL.fullmatch(declared) or int(declared) > _DRAIN:
        return False
    if resp.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return False
    expired = threading.Event()
    alarm = watchdog.call_at(until, lambda: cut(resp, expired))
    try:
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
            resp.read(_DRAIN + 1, decode_content=False)
            return not expired.is_set() and release(resp)
        return False
    finally:
        alarm.cancel()


def cut(resp: Response, expired: threading.Event) -> None:
    """The deadline passed: shut the socket down, waking a read blocked on it
    (urllib3's ``HTTPResponse.shutdown``, made for this; it refuses once the connection
    went back to the pool, that is once the body was read).
    """
    expired.set()
    with contextlib.suppress(ValueError, RuntimeError, OSError):
        resp.shutdown()


class Budget:
    """The deadline of the request this thread is making (monotonic clock)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = threading.Event()

    def cut(self, sock: socket.socket | None) -> None:
        """The deadline passed: shut the socket down, waking a blocked connect or read."""
        self.expired.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


#: Set by :meth:`HTTPFetcher._open` around the request it makes on this thread.
current = threading.local()


@contextlib.contextmanager
def _watched(conn: urllib3.connection.HTTPConnection) -> Iterator[None]:
    """Hold ``conn`` to this thread's request deadline while the block runs."""
    budget: Budget | None = getattr(current, "budget", None)
    if budget is None:
        yield
        return
    alarm = watchdog.call_at(budget.deadline, lambda: budget.cut(conn.sock))
    try:
        yield
    finally:
        alarm.cancel()


class _DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    """Connects and reads the status line and headers within the request's deadline
    (socket timeouts alone restart with every byte a trickling server sends).
    """

    def connect(self) -> None:
        with _watched(self):
            super().connect()

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        with _watched(self):
            return super().getresponse()


class _DeadlineHTTPSConnection(_DeadlineHTTPConnection, urllib3.connection.HTTPSConnection):
    """:class:`_DeadlineHTTPConnection` over TLS (the handshake is held to it too): its
    methods wrap HTTPSConnection's, which come next in the method resolution order.
    """


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class Pools:
    """Keep-alive connection pools for every host a fetcher reaches (its log's, and
    those redirects lead to), direct or through the environment's proxy for that host;
    created on first use, shared by every thread."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self._lock = threading.Lock()
        self._managers: dict[str, urllib3.PoolManager] = {}
        self._proxies: dict[str, str] | None = None
        self._bypass: dict[str, str] = {}
        self._ca: str | None = None

    def get(self, url: str, extra: dict[str, str] | None, timeout: urllib3.Timeout) -> Response:
        """GET ``url`` and read its status line and headers (the body not yet)."""
        headers = self.headers if extra is None else {**self.headers, **extra}
        resp = self._manager(url).urlopen(
            "GET",
            url,
            headers=headers,
            timeout=timeout,
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=True,
        )
        assert isinstance(resp, Response)
        return resp

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        with self._lock:
            if self._proxies is None:  # the environment, read once
                self._proxies = urllib.request.getproxies_environment()
                self._ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if not self._ca:
                    with contextlib.suppress(ImportError):
                        import certifi

                        self._ca = certifi.where()
            proxy = self._proxy_for(parts.scheme.lower(), parts.hostname or "")
            manager = self._managers.get(proxy)
            if manager is None:
                manager = self._managers[proxy] = self._make(proxy)
            return manager

    def _proxy_for(self, scheme: str, host: str) -> str:
        """The proxy URL for ``host`` ("" for none), decided once per scheme and host:
        ``<scheme>_proxy``, else ``all_proxy``, unless ``no_proxy`` names the host."""
        assert self._proxies is not None
        key = f"{scheme}://{host}"
        proxy = self._bypass.get(key)
        if proxy is None:
            proxy = self._proxies.get(scheme, "")
            fallback = self._proxies.get("all", "")
            if not proxy and urlsplit(fallback).scheme.lower() in ("http", "https"):
                proxy = fallback  # a SOCKS all_proxy (curl's, git's) is not for us: direct
            bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
            if proxy and bypass(host, self._proxies):
                proxy = ""
            self._bypass[key] = proxy
        return proxy

    def _make(self, proxy: str) -> urllib3.PoolManager:
        kw: dict[str, Any] = {"num_pools": 16, "maxsize": POOL_SIZE, "block": False}
        if self._ca:
            kw["ca_certs"] = self._ca
        if not proxy:
            manager = urllib3.PoolManager(**kw)
        else:  # user:password@ in the proxy's URL is sent as Basic auth, as requests does
            try:
                auth = urlsplit(proxy)
                if auth.username is not None:
                    creds = f"{unquote(auth.username)}:{unquote(auth.password or '')}"
                    kw["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=creds)
                manager = urllib3.ProxyManager(proxy, **kw)
            except ValueError:  # urllib3's LocationValueError too; its text holds the URL
                raise ConfigError(f"the environment's proxy {shown(proxy)} is not usable") from None
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager

    def close(self) -> None:
        with self._lock:
            for manager in self._managers.values():
                manager.clear()
            self._managers.clear()
