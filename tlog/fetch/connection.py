"""Kept-alive HTTP connections for :class:`tlog.fetch.http.HTTPFetcher`, one per thread
and origin, on :mod:`http.client`.

A reader walking a log makes thousands of GETs, ``--parallel`` at a time, and all its
threads share one GIL: the CPU of a GET bounds the walk. Over a kept-alive connection
http.client costs about 0.23 ms of CPU per GET, urllib3 0.6 and requests 1.4 (measured
on a 16 KiB tile against ``tlog serve``). So each thread keeps its own connection to
each origin (scheme, host, port) and reuses it while the server keeps it open; nothing
is shared between threads but the settings read once from the environment.

Contract of :meth:`Connections.open`: it sends ``GET`` and returns the response with its
status line and headers read, within ``deadline`` (a :func:`time.monotonic` time: the
socket is shut down under a blocked connect-then-read when it passes, so a server
trickling its headers cannot hold a reader). A connection the server closed while it
was idle is replaced once, at once (a GET may be sent again). The caller reads the body
and then calls :meth:`Connections.done` with whether it read the body whole (the
connection is kept) or not (it is closed: nothing unread is ever skipped).

Proxies and CA bundle are those requests would use, read once from the environment:
``http_proxy``, ``https_proxy`` and ``no_proxy`` (an ``https://`` URL through a CONNECT
tunnel), and ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or certifi's bundle.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import ssl
import threading
import urllib.request
from functools import partial
from typing import cast
from urllib.parse import unquote, urlsplit

from tlog.fetch.watchdog import watchdog

__all__ = ["Connections", "Expired"]

#: Errors meaning a kept-alive connection was closed by the server before this GET.
_STALE = (ConnectionError, http.client.BadStatusLine, http.client.CannotSendRequest)


class Expired(Exception):
    """The deadline passed while connecting or reading the status line and headers."""


class _Held:
    """One thread's connections by origin; closed when the thread ends."""

    def __init__(self) -> None:
        self.conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def __del__(self) -> None:
        for conn in self.conns.values():
            with contextlib.suppress(Exception):
                conn.close()


class Connections:
    """Every thread's kept-alive connections (module docstring)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self._local = threading.local()
        self._lock = threading.Lock()
        self._env: tuple[dict[str, str], ssl.SSLContext | None] | None = None
        self._proxy: dict[tuple[str, str], str] = {}

    def open(
        self,
        url: str,
        extra: dict[str, str] | None,
        connect_timeout: float,
        read_timeout: float,
        deadline: float,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket]:
        """Send ``GET url`` and read the answer's status line and headers (see the
        module docstring); the connection, the response, and the socket it is read
        from (to shut down at a deadline). Raises OSError or http.client.HTTPException from the
        transport, :class:`Expired` at the deadline, ValueError for an unusable URL."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = _usable_host(parts.hostname or "")
        port = parts.port or (443 if scheme == "https" else 80)
        headers = self.headers if extra is None else {**self.headers, **extra}
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        held = self._held()
        key = (scheme, host, port)
        for _ in range(2):
            conn = held.conns.get(key)
            reused = conn is not None
            if conn is None:
                conn = held.conns[key] = self._connection(scheme, host, port, connect_timeout)
            via_proxy = isinstance(conn, _ProxiedHTTP)
            expired = threading.Event()
            alarm = watchdog.call_at(deadline, partial(_cut, conn, expired))
            try:
                if conn.sock is None:
                    conn.timeout = connect_timeout
                    conn.connect()
                    cast(socket.socket, conn.sock).settimeout(read_timeout)
                sock = cast(socket.socket, conn.sock)
                conn.putrequest("GET", url if via_proxy else target, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                if via_proxy:
                    for name, value in conn.proxy_headers.items():  # type: ignore[attr-defined]
                        conn.putheader(name, value)
                conn.endheaders()
                return conn, conn.getresponse(), sock
            except (OSError, http.client.HTTPException) as exc:
                self.done(conn, False)
                if expired.is_set():
                    raise Expired from exc
                if not (reused and isinstance(exc, _STALE)):
                    raise
            finally:
                alarm.cancel()
        raise AssertionError("unreachable: a fresh connection is never stale")

    def done(self, conn: http.client.HTTPConnection, whole: bool) -> None:
        """The response was read ``whole`` (keep the connection) or not (close it)."""
        if whole and conn.sock is not None:
            return
        conn.close()
        held = self._held()
        for key, kept in list(held.conns.items()):
            if kept is conn:
                del held.conns[key]

    def close(self) -> None:
        """Close this thread's connections (other threads' close when they end)."""
        held = self._held()
        for conn in held.conns.values():
            conn.close()
        held.conns.clear()

    def _held(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held()
        return held

    def _settings(self) -> tuple[dict[str, str], ssl.SSLContext | None]:
        with self._lock:
            if self._env is None:
                proxies = urllib.request.getproxies_environment()
                self._env = (proxies, None)
            return self._env

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            assert self._env is not None
            proxies, context = self._env
            if context is None:
                ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if not ca:
                    with contextlib.suppress(ImportError):
                        import certifi

                        ca = certifi.where()
                context = ssl.create_default_context(cafile=ca or None)
                self._env = (proxies, context)
            return context

    def _proxy_for(self, scheme: str, host: str) -> str:
        """The proxy URL for ``host`` ("" for none), decided once per scheme and host."""
        proxies, _ = self._settings()
        with self._lock:
            proxy = self._proxy.get((scheme, host))
            if proxy is None:
                proxy = proxies.get(scheme, "")
                bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
                if proxy and bypass(host, proxies):
                    proxy = ""
                self._proxy[(scheme, host)] = proxy
            return proxy

    def _connection(
        self, scheme: str, host: str, port: int, timeout: float
    ) -> http.client.HTTPConnection:
        proxy = self._proxy_for(scheme, host)
        if not proxy:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
            return http.client.HTTPConnection(host, port, timeout=timeout)
        p = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        auth = {}
        if p.username:
            token = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            auth["Proxy-Authorization"] = "Basic " + base64.b64encode(token).decode()
        if scheme == "https":  # a CONNECT tunnel, TLS to the origin through it
            conn = http.client.HTTPSConnection(
                p.hostname or "", p.port or 80, timeout=timeout, context=self._tls()
            )
            conn.set_tunnel(host, port, headers=auth)
            return conn
        return _ProxiedHTTP(p.hostname or "", p.port or 80, timeout=timeout, auth=auth)


class _ProxiedHTTP(http.client.HTTPConnection):
    """A plain-HTTP connection to a proxy, asked for absolute URLs."""

    def __init__(self, host: str, port: int, *, timeout: float, auth: dict[str, str]) -> None:
        super().__init__(host, port, timeout=timeout)
        self.proxy_headers = auth


def _usable_host(host: str) -> str:
    """``host`` if a connection can be made to it; ValueError if not (an empty label,
    one over 63 bytes, a character no host name has)."""
    if not host:
        raise ValueError("no host")
    if ":" in host:  # an IPv6 literal, already checked by urlsplit
        return host
    host.encode("idna")  # UnicodeError (a ValueError) for empty or long labels
    if any(c in host for c in "%/\\@ \t") or host.startswith("."):
        raise ValueError(f"bad host {host[:100]!r}")
    return host


def _cut(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    """The deadline passed: shut the socket down, waking a read blocked on it."""
    expired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
