"""A :class:`~tlog.fetch.Fetcher` for a log published over ``http(s)://``.

C2SP tlog-tiles serves every object at ``<prefix>/<path>`` with plain GETs. This client
is deliberately conservative, because the server is not trusted:

* every request carries a ``tlog/<version>`` User-Agent and ``Accept-Encoding: gzip``;
* connect and read timeouts, plus an overall deadline per object that covers the
  whole request (connect, status line, headers, body, every retry), enforced while a
  read blocks: at the deadline the connection is shut down under the reader (a server
  trickling one byte at a time, in its headers or its body, cannot hold a reader);
* bodies are streamed and reading stops at the limit (a declared ``Content-Length``
  over the limit fails before any body byte is read); gzip is decoded incrementally,
  each read's output bounded by what the limit leaves, so a compression bomb is cut
  off at the limit too;
* 429 and 5xx answers and transport failures are retried a bounded number of times,
  with exponential backoff, honouring ``Retry-After`` up to a bound;
* redirects are followed here: at most :data:`MAX_REDIRECTS`, each
  3xx closed without reading its body, the target resolved against the URL that
  answered, http(s) only and never from https down to http;
* 404 and 410 are :class:`~tlog.errors.NotFoundError`; any other answer is a
  :class:`~tlog.errors.StorageError` naming the URL and status.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC
from importlib import metadata
from urllib.parse import urljoin, urlsplit

from tlog.errors import (
    ConfigError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
    TlogError,
    TransientError,
)
from tlog.fetch.connection import Connections, Expired
from tlog.fetch.watchdog import watchdog
from tlog.layout import check_public

MAX_REDIRECTS = 5
#: Most bytes read of an object whose server ignored a Range request.
MAX_RANGE_FALLBACK = 64 << 20
#: Defaults: seconds to connect, between reads, and for one object in all (every try).
CONNECT_TIMEOUT, READ_TIMEOUT, DEADLINE = 10.0, 30.0, 300.0
#: Backoff between tries: BACKOFF, doubling each time, at most MAX_BACKOFF seconds.
BACKOFF, MAX_BACKOFF = 0.5, 8.0
_CHUNK = 1 << 16
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
#: A header's decimal number (ASCII digits only: ``str.isdigit`` accepts "²").
_DECIMAL = re.compile(r"[0-9]{1,15}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def deadline_for(timeout: float, retries: int) -> float:
    """The deadline of one object when each try may take ``timeout`` seconds in all:
    every try, plus the backoff between them.
    """
    waits = sum(min(BACKOFF * (1 << attempt), MAX_BACKOFF) for attempt in range(retries))
    return timeout * (retries + 1) + waits


def user_agent() -> str:
    """``tlog/<version>`` from the installed distribution (``tlog/dev`` from a checkout)."""
    try:
        return f"tlog/{metadata.version('tlog')}"
    except metadata.PackageNotFoundError:
        return "tlog/dev"


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3), or None."""
    if not value:
        return None
    value = value.strip()
    if _DECIMAL.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now())
    except (TypeError, ValueError, OverflowError):
        return None


def redirect_target(url: str, location: str | None) -> str:
    """The absolute URL that a redirect answering ``url`` points at (RFC 9110 §10.2.2:
    resolved against ``url``). StorageError unless it parses, is http(s) with a host,
    and does not go from https down to http.
    """
    if not location:
        raise StorageError(f"GET {url}: redirect without a Location")
    shown = repr(location[:200])
    try:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        host, _ = parts.hostname, parts.port  # both raise ValueError when malformed
    except ValueError as exc:
        raise StorageError(f"GET {url}: bad redirect target {shown} ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or _CONTROL.search(target):
        raise StorageError(f"GET {url}: redirect to {shown} is not an http(s) URL")
    if scheme == "http" and urlsplit(url).scheme.lower() == "https":
        raise StorageError(f"GET {url}: refusing a redirect from https down to {shown}")
    return target


class HTTPFetcher:
    """GETs ``<base_url>/<path>`` for public log objects.

    ``sleep`` and ``clock`` are injected so tests can check backoff without waiting.
    Safe to share between threads: each keeps its own connection to each host, alive
    between GETs (:mod:`tlog.fetch.connection`: the CPU of a GET bounds a reader's
    walk). Proxies and CA bundle as requests reads them from the environment.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        deadline: float = DEADLINE,
        retries: int = 3,
        backoff: float = BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            parts = urlsplit(base_url)
            _ = parts.port  # ValueError when out of range
        except ValueError as exc:
            raise ConfigError(f"not a usable http(s) URL: {base_url!r} ({exc})") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"not an http(s) URL: {base_url!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"log URL must not have a query or fragment: {base_url!r}")
        if retries < 0 or connect_timeout <= 0 or read_timeout <= 0 or deadline <= 0:
            raise ConfigError("HTTP retries must be >= 0 and timeouts positive")
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._clock = clock
        self._conns = Connections({"User-Agent": user_agent(), "Accept-Encoding": "gzip"})

    def __repr__(self) -> str:
        return f"HTTPFetcher({self.base_url!r})"

    def __getstate__(self) -> dict[str, object]:
        """Its settings (for a worker process); the connections stay here."""
        state = self.__dict__.copy()
        del state["_conns"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._conns = Connections({"User-Agent": user_agent(), "Accept-Encoding": "gzip"})

    def close(self) -> None:
        """Close this thread's connections (the others' close as their threads end)."""
        self._conns.close()

    def fetch(self, path: str, limit: int) -> bytes:
        return self._fetch(self.base_url + check_public(path), limit, None)

    def fetch_range(self, path: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start + length`` of a public object: ``Range: bytes=a-b``
        (RFC 9110 §14.2), answered by 206 with exactly those bytes. A server that
        ignores the Range and answers 200 is read to at most :data:`MAX_RANGE_FALLBACK`
        bytes and cut. MalformedError if the object is shorter than the range."""
        if length == 0:
            return b""
        url = self.base_url + check_public(path)
        rng = (start, length)
        data = self._fetch(url, length, rng)
        if len(data) != length:
            raise MalformedError(f"{url}: range {start}+{length} gave {len(data)} bytes")
        return data

    def _fetch(self, url: str, limit: int, rng: tuple[int, int] | None) -> bytes:
        start = self._clock()
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                return self._get(url, limit, start, rng)
            except TransientError as exc:
                failure, retry_after = exc.reason, exc.retry_after
            if attempt >= self.retries:
                tries = f"{attempt + 1} tries" if attempt else "1 try"
                raise StorageError(f"GET {url}: {failure} (gave up after {tries})")
            delay = min(self.backoff * (2**attempt), self.max_backoff)
            if retry_after is not None:
                delay = min(retry_after, self.max_retry_after)
            if self._clock() + delay - start > self.deadline:
                raise StorageError(f"GET {url}: {failure} (deadline of {self.deadline:g}s)")
            self._sleep(delay)
            attempt += 1

    def _get(self, url: str, limit: int, start: float, rng: tuple[int, int] | None = None) -> bytes:
        """One try: GET ``url``, following redirects (see the module docstring)."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            conn, resp, sock = self._open(target, start, rng)
            whole = False
            try:
                if resp.status not in _REDIRECT_STATUS:
                    if rng is None:
                        body = self._body(target, resp, sock, limit, start)
                    else:
                        body = self._ranged(target, resp, sock, rng, start)
                    whole = True
                    return body
                target = redirect_target(target, resp.getheader("Location"))
            except TlogError:
                whole = resp.status >= 400 and _drain(resp)
                raise
            finally:  # an unread body is never skipped: its connection is closed
                self._conns.done(conn, whole)
        raise StorageError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _ranged(
        self, url: str, resp: _Response, sock: socket.socket, rng: tuple[int, int], start: float
    ) -> bytes:
        """The body of a ranged GET: 206 is the range; 200 is the whole object, cut."""
        first, length = rng
        if resp.status == 416:
            raise MalformedError(f"{url}: object ends before byte {first}")
        if resp.status == 206:
            return self._body(url, resp, sock, length, start, ok=206)
        whole = self._body(url, resp, sock, MAX_RANGE_FALLBACK, start)
        return whole[first : first + length]

    def _open(
        self, url: str, start: float, rng: tuple[int, int] | None = None
    ) -> tuple[http.client.HTTPConnection, _Response, socket.socket]:
        """Send the GET and read the status line and headers, within the deadline."""
        left = self.deadline - (self._clock() - start)
        if left <= 0:
            raise StorageError(f"GET {url}: timed out (deadline of {self.deadline:g}s passed)")
        headers = None
        if rng is not None:
            last = rng[0] + rng[1] - 1
            headers = {"Range": f"bytes={rng[0]}-{last}", "Accept-Encoding": "identity"}
        try:
            return self._conns.open(
                url,
                headers,
                min(self.timeout[0], left),
                self.timeout[1],
                time.monotonic() + left,
            )
        except Expired as exc:
            raise StorageError(
                f"GET {url}: timed out (deadline of {self.deadline:g}s passed)"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(_describe(exc)) from exc
        except ValueError as exc:  # IDNA's, http.client's InvalidURL
            raise StorageError(f"GET {url}: not a usable URL ({exc})") from exc

    def _body(
        self,
        url: str,
        resp: _Response,
        sock: socket.socket,
        limit: int,
        start: float,
        ok: int = 200,
    ) -> bytes:
        status = resp.status
        if status in (404, 410):
            raise NotFoundError(f"no object at {url} (HTTP {status})")
        if status in _RETRY_STATUS:
            after = parse_retry_after(resp.getheader("Retry-After"))
            raise TransientError(f"HTTP {status}", after)
        if status != ok:
            raise StorageError(f"GET {url}: unexpected HTTP {status}")
        encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        declared = (resp.getheader("Content-Length") or "").strip()
        if encoding == "identity" and _DECIMAL.fullmatch(declared) and int(declared) > limit:
            raise OversizeError(f"{url} is {declared} bytes, over the {limit}-byte limit")
        left = self.deadline - (self._clock() - start)
        expired = threading.Event()
        alarm = watchdog.call_at(time.monotonic() + max(left, 0.0), lambda: _cut(sock, expired))
        try:
            body = self._read(url, resp, encoding, limit, start, expired)
        except (OSError, http.client.HTTPException, zlib.error) as exc:
            if not expired.is_set():
                raise TransientError(_describe(exc)) from exc
            body = b""
        finally:
            alarm.cancel()
        # Past the deadline even a body that looks whole may have been cut short.
        if expired.is_set() or self._clock() - start > self.deadline:
            raise StorageError(f"GET {url}: timed out (deadline of {self.deadline:g}s passed)")
        return body

    def _read(
        self,
        url: str,
        resp: _Response,
        encoding: str,
        limit: int,
        start: float,
        expired: threading.Event,
    ) -> bytes:
        """The body, decoded (gzip and deflate, each read's output bounded by what the
        limit leaves, so a compression bomb stops at the limit), at most ``limit`` bytes."""
        decoder = zlib.decompressobj(47) if encoding in _ZIPPED else None  # gzip or zlib
        body = bytearray()
        while chunk := resp.read(_CHUNK):
            if decoder is not None:
                chunk = decoder.decompress(chunk, limit + 1 - len(body))
            body += chunk
            if len(body) > limit or (decoder is not None and decoder.unconsumed_tail):
                raise OversizeError(f"{url} is over the {limit}-byte limit")
            if expired.is_set() or self._clock() - start > self.deadline:
                return bytes(body)
        if decoder is not None:
            if not decoder.eof:
                raise zlib.error("truncated")
            body += decoder.flush()
        return bytes(body)


_Response = http.client.HTTPResponse
_ZIPPED = frozenset({"gzip", "x-gzip", "deflate"})
#: Most bytes of an error answer read to keep its connection (a 404's few bytes);
#: a longer one closes the connection instead.
_DRAIN = 1 << 12


def _drain(resp: _Response) -> bool:
    """Read a short error body, so its connection can serve the next GET (most 404s);
    False, to close it, when it is not short or not read whole."""
    declared = (resp.getheader("Content-Length") or "").strip()
    if not _DECIMAL.fullmatch(declared) or int(declared) > _DRAIN:
        return False
    with contextlib.suppress(OSError, http.client.HTTPException):
        resp.read(_DRAIN + 1)
        return resp.isclosed()
    return False


def _cut(sock: socket.socket, expired: threading.Event) -> None:
    """The deadline passed: shut the socket down, waking a read blocked on it."""
    expired.set()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _describe(exc: Exception) -> str:
    if isinstance(exc, zlib.error):
        return "bad gzip encoding"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return "timed out"
    if isinstance(exc, OSError | http.client.HTTPException):
        return "connection failed"
    return type(exc).__name__
