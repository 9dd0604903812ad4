"""A :class:`~tlog.fetch.Fetcher` for a log published over ``http(s)://``.

C2SP tlog-tiles serves every object at ``<prefix>/<path>`` with plain GETs. This client
is deliberately conservative, because the server is not trusted:

* every request carries a ``tlog/<version>`` User-Agent and ``Accept-Encoding: gzip``;
* connect and read timeouts, plus an overall deadline per object that covers the
  whole request (connect, status line, headers, body, every retry), enforced while a
  read blocks: at the deadline the connection is shut down under the reader (a server
  trickling one byte at a time, in its headers or its body, cannot hold a reader);
* bodies are streamed and reading stops at the limit (a declared ``Content-Length``
  over the limit fails before any body byte is read); gzip is decoded incrementally
  (urllib3 ≥ 2.6 bounds the output of each read), so a compression bomb is cut off at
  the limit too;
* 429 and 5xx answers and transport failures are retried a bounded number of times,
  with exponential backoff, honouring ``Retry-After`` up to a bound;
* redirects are followed here, not by urllib3: at most :data:`MAX_REDIRECTS`, each
  3xx closed without reading its body, the target resolved against the URL that
  answered, http(s) only and never from https down to http;
* 404 and 410 are :class:`~tlog.errors.NotFoundError`; any other answer is a
  :class:`~tlog.errors.StorageError` naming the URL and status.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import urllib3

from tlog.errors import (
    ConfigError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
    TlogError,
    TransientError,
)
from tlog.fetch.pools import DRAIN_WAIT, Budget, Pools, Response, current, cut, drain, release
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
    Safe to share between threads: one keep-alive connection pool per host (urllib3,
    used directly: requests cost three times the CPU per GET, which a reader making
    thousands of them in parallel pays on one core), up to :data:`tlog.fetch.pools.POOL_SIZE`
    connections kept. Proxies and CA bundle as requests reads them from the
    environment (``HTTP(S)_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``), read once.
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
        self._pools = Pools({"User-Agent": user_agent(), "Accept-Encoding": "gzip"})

    def __repr__(self) -> str:
        return f"HTTPFetcher({self.base_url!r})"

    def __getstate__(self) -> dict[str, object]:
        """Its settings (for a worker process); the connections stay here."""
        state = self.__dict__.copy()
        del state["_pools"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._pools = Pools({"User-Agent": user_agent(), "Accept-Encoding": "gzip"})

    def close(self) -> None:
        """Close the connection pools."""
        self._pools.close()

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
            resp = self._open(target, start, rng)
            reused = False
            try:
                if resp.status not in _REDIRECT_STATUS:
                    body = (
                        self._body(target, resp, limit, start)
                        if rng is None
                        else self._ranged(target, resp, rng, start)
                    )
                    reused = release(resp)
                    return body
                target = redirect_target(target, resp.headers.get("Location"))
            except TlogError:
                left = min(self.deadline - (self._clock() - start), DRAIN_WAIT)
                reused = resp.status >= 400 and left > 0 and drain(resp, time.monotonic() + left)
                raise
            finally:
                if not reused:  # closing an unread response drops its body unread
                    resp.close()
        raise StorageError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _ranged(self, url: str, resp: Response, rng: tuple[int, int], start: float) -> bytes:
        """The body of a ranged GET: 206 is the range; 200 is the whole object, cut."""
        first, length = rng
        if resp.status == 416:
            raise MalformedError(f"{url}: object ends before byte {first}")
        if resp.status == 206:
            return self._body(url, resp, length, start, ok=206)
        whole = self._body(url, resp, MAX_RANGE_FALLBACK, start)
        return whole[first : first + length]

    def _open(self, url: str, start: float, rng: tuple[int, int] | None = None) -> Response:
        """Send the GET and read the status line and headers, within the deadline."""
        left = self.deadline - (self._clock() - start)
        if left <= 0:
            raise StorageError(f"GET {url}: timed out (deadline of {self.deadline:g}s passed)")
        budget = Budget(time.monotonic() + left)
        current.budget = budget
        try:
            headers = None
            if rng is not None:
                last = rng[0] + rng[1] - 1
                headers = {"Range": f"bytes={rng[0]}-{last}", "Accept-Encoding": "identity"}
            timeout = urllib3.Timeout(connect=min(self.timeout[0], left), read=self.timeout[1])
            return self._pools.get(url, headers, timeout)
        except urllib3.exceptions.LocationValueError as exc:
            raise StorageError(f"GET {url}: not a usable URL ({exc})") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if budget.expired.is_set():
                raise StorageError(
                    f"GET {url}: timed out (deadline of {self.deadline:g}s passed)"
                ) from exc
            raise TransientError(_describe(exc)) from exc
        except ValueError as exc:  # IDNA's, http.client's
            raise StorageError(f"GET {url}: not a usable URL ({exc})") from exc
        finally:
            current.budget = None

    def _body(self, url: str, resp: Response, limit: int, start: float, ok: int = 200) -> bytes:
        status = resp.status
        if status in (404, 410):
            raise NotFoundError(f"no object at {url} (HTTP {status})")
        if status in _RETRY_STATUS:
            after = parse_retry_after(resp.headers.get("Retry-After"))
            raise TransientError(f"HTTP {status}", after)
        if status != ok:
            raise StorageError(f"GET {url}: unexpected HTTP {status}")
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        declared = resp.headers.get("Content-Length", "").strip()
        if encoding == "identity" and _DECIMAL.fullmatch(declared) and int(declared) > limit:
            raise OversizeError(f"{url} is {declared} bytes, over the {limit}-byte limit")
        left = self.deadline - (self._clock() - start)
        expired = threading.Event()
        alarm = watchdog.call_at(time.monotonic() + max(left, 0.0), lambda: cut(resp, expired))
        body = bytearray()
        try:
            for chunk in resp.stream(_CHUNK, decode_content=True):
                body += chunk
                if len(body) > limit:
                    raise OversizeError(f"{url} is over the {limit}-byte limit")
                if expired.is_set() or self._clock() - start > self.deadline:
                    break
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if not expired.is_set():
                raise TransientError(_describe(exc)) from exc
        finally:
            alarm.cancel()
        # Past the deadline even a body that looks whole may have been cut short.
        if expired.is_set() or self._clock() - start > self.deadline:
            raise StorageError(f"GET {url}: timed out (deadline of {self.deadline:g}s passed)")
        return bytes(body)


def _describe(exc: Exception) -> str:
    errors = urllib3.exceptions
    if isinstance(exc, errors.NewConnectionError | errors.NameResolutionError):
        return "connection failed"
    if isinstance(exc, errors.ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, errors.TimeoutError | TimeoutError) or "timed out" in str(exc).lower():
        return "read timed out"
    if isinstance(exc, errors.DecodeError):
        return "bad gzip encoding"
    if isinstance(exc, errors.ProtocolError | errors.SSLError | errors.ProxyError | OSError):
        return "connection failed"
    return type(exc).__name__
