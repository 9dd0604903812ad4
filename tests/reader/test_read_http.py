"""HTTPFetcher against a local server: bounds, retries, timeouts, redirects, headers."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tlog.errors import ConfigError, NotFoundError, OversizeError, StorageError
from tlog.fetch import open_fetcher
from tlog.fetch.http import HTTPFetcher, parse_retry_after, redirect_target
from tlog.fetch.store import StoreFetcher
from tlog.fetch.watchdog import Watchdog
from tlog.storage import Store
from tlog.storage.memory import MemoryStore

from . import logserver
from .conftest import MakeLog
from .logserver import LogServer

TILE = "tile/0/000"


@pytest.fixture
def server(serve: Callable[[MemoryStore], LogServer]) -> LogServer:
    store = MemoryStore()
    store.write(TILE, b"\x01" * 8192)
    store.write("checkpoint", b"hello\n")
    store.write("private/lock", b"secret\n")
    return serve(store)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fetcher(server: LogServer, **kw: object) -> HTTPFetcher:
    kw.setdefault("sleep", Sleeps())
    return HTTPFetcher(server.url, **kw)  # type: ignore[arg-type]


def test_fetch_ok_with_user_agent_and_gzip(server: LogServer) -> None:
    f = fetcher(server)
    assert f.fetch(TILE, 8192) == b"\x01" * 8192
    h = server.headers_seen[-1]
    assert h["User-Agent"].startswith("tlog/")
    assert "gzip" in h["Accept-Encoding"]
    server.faults[TILE] = logserver.gzipped()
    assert f.fetch(TILE, 8192) == b"\x01" * 8192


def test_not_found_and_private_paths(server: LogServer) -> None:
    f = fetcher(server)
    with pytest.raises(NotFoundError, match="tile/0/001"):
        f.fetch("tile/0/001", 8192)
    server.requests.clear()
    for bad in ("private/lock", "../checkpoint", "tile/../private/lock", "/etc/passwd"):
        with pytest.raises((ConfigError, Exception)):
            f.fetch(bad, 100)
    assert server.requests == []  # never even asked


@pytest.mark.parametrize("declare", [True, False])
def test_100_mb_body_is_cut_at_the_limit(server: LogServer, declare: bool) -> None:
    server.faults[TILE] = logserver.huge(100 << 20, declare)
    start = time.monotonic()
    with pytest.raises(OversizeError, match="8192"):
        fetcher(server).fetch(TILE, 8192)
    assert time.monotonic() - start < 10


def test_gzip_bomb_is_cut_at_the_limit(server: LogServer) -> None:
    server.faults[TILE] = logserver.gzip_bomb(100 << 20)
    with pytest.raises(OversizeError):
        fetcher(server).fetch(TILE, 8192)


def test_retries_5xx_then_succeeds_honouring_retry_after(server: LogServer) -> None:
    sleeps = Sleeps()
    server.faults[TILE] = logserver.failing(2, 503, retry_after="7")
    assert fetcher(server, sleep=sleeps).fetch(TILE, 8192) == b"\x01" * 8192
    assert sleeps.calls == [7.0, 7.0]
    assert server.requests.count(TILE) == 3


def test_retry_after_is_bounded_and_backoff_grows(server: LogServer) -> None:
    sleeps = Sleeps()
    server.faults[TILE] = logserver.status(500, retry_after="100000")
    with pytest.raises(StorageError, match=r"HTTP 500.*gave up after 4 tries"):
        fetcher(server, sleep=sleeps, max_retry_after=30).fetch(TILE, 8192)
    assert sleeps.calls == [30.0, 30.0, 30.0]
    sleeps = Sleeps()
    server.faults[TILE] = logserver.status(429)
    with pytest.raises(StorageError, match="HTTP 429"):
        fetcher(server, sleep=sleeps, retries=4).fetch(TILE, 8192)
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0]


def test_other_errors_are_not_retried(server: LogServer) -> None:
    server.faults[TILE] = logserver.status(403)
    with pytest.raises(StorageError, match="HTTP 403"):
        fetcher(server).fetch(TILE, 8192)
    assert server.requests.count(TILE) == 1


def test_hanging_server_times_out(server: LogServer) -> None:
    server.faults[TILE] = logserver.hang(server)
    start = time.monotonic()
    with pytest.raises(StorageError, match="timed out"):
        fetcher(server, read_timeout=0.3, retries=1).fetch(TILE, 8192)
    assert time.monotonic() - start < 5


def test_redirects_are_bounded(server: LogServer) -> None:
    server.faults[TILE] = logserver.redirect_loop()
    with pytest.raises(StorageError, match="redirects"):
        fetcher(server).fetch(TILE, 8192)
    assert server.requests.count(TILE) <= 6


def test_connection_refused_is_a_storage_error() -> None:
    f = HTTPFetcher("http://127.0.0.1:9/", retries=1, sleep=Sleeps(), connect_timeout=1)
    with pytest.raises(StorageError, match=r"connection failed|timed out"):
        f.fetch("checkpoint", 100)


def test_bad_urls() -> None:
    for url in ("ftp://x/", "http://", "http://h/p?q=1", "http://[::1", "http://h:99999/"):
        with pytest.raises(ConfigError):
            HTTPFetcher(url)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412480.0) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    # str.isdigit() says yes to "²", int() and float() say no; a year past C's long.
    assert parse_retry_after("\u00b2") is None
    assert parse_retry_after("Mon, 1 Jan 99999999999999999999 00:00:00 GMT") is None


def test_open_fetcher_kinds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(open_fetcher("https://example.com/log"), HTTPFetcher)
    f = open_fetcher(str(tmp_path / "log"))
    assert isinstance(f, StoreFetcher)
    with pytest.raises(NotFoundError):
        f.fetch("checkpoint", 100)
    with pytest.raises(ConfigError):
        f.fetch("private/lock", 100)
    with pytest.raises(ConfigError):
        open_fetcher("")


def test_redirect_is_followed_without_reading_its_body(server: LogServer) -> None:
    # requests, even with allow_redirects=False, reads a 3xx body whole (128 MiB here).
    fault = logserver.RedirectWithBody("/checkpoint", 128 << 20)
    server.faults[TILE] = fault
    assert fetcher(server).fetch(TILE, 8192) == b"hello\n"
    assert fault.done.wait(10)
    assert fault.sent < 32 << 20
    assert server.requests == [TILE, "checkpoint"]


@pytest.mark.parametrize(
    "location",
    [
        "http://[::1",
        "http://a..b/",
        "http://" + "a" * 300 + ".com/",
        "http://.../",
        "http://%zz/",
        "//:99999/x",
        "ftp://x/y",
        "http://h/\x1b[2J",
        "",
    ],
)
def test_bad_redirect_targets_are_storage_errors(server: LogServer, location: str) -> None:
    server.faults[TILE] = logserver.redirect(location)
    with pytest.raises(StorageError, match=r"redirect|not a usable URL") as info:
        fetcher(server).fetch(TILE, 8192)
    assert "\n" not in str(info.value)
    assert server.requests.count(TILE) == 1  # not retried: it would not get better


def test_redirect_targets() -> None:
    assert redirect_target("https://a/log/x", "../y") == "https://a/y"
    assert redirect_target("http://a/x", "https://b/y") == "https://b/y"
    with pytest.raises(StorageError, match="https down to"):
        redirect_target("https://a/x", "http://a/x")
    with pytest.raises(StorageError, match="https down to"):
        redirect_target("https://a/x", "HTTP://a/x")


def test_deadline_holds_while_a_read_blocks(server: LogServer) -> None:
    # One byte per 50 ms never trips the 10 s read timeout; only the deadline stops it.
    server.faults[TILE] = logserver.trickle(server, every=0.05, count=100)
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"deadline of 0\.5s"):
        fetcher(server, deadline=0.5, read_timeout=10, retries=0).fetch(TILE, 8192)
    assert time.monotonic() - start < 3


def test_an_error_body_trickled_to_keep_the_connection_is_not_waited_out(
    server: LogServer,
) -> None:
    # A short 404 body is read so its kept-alive connection serves the next GET; sent a
    # byte every 0.25 s (each read in time) it would hold the reader 10 s per 404.
    server.faults[TILE] = logserver.trickle(server, every=0.25, count=40, status=404, length=40)
    start = time.monotonic()
    with pytest.raises(NotFoundError):
        fetcher(server, deadline=30, read_timeout=10, retries=0).fetch(TILE, 8192)
    assert time.monotonic() - start < 5


def test_deadline_covers_the_status_line_and_headers(server: LogServer) -> None:
    # Headers trickled one byte per 50 ms (each read in time) for 10 s: without a
    # deadline over the whole request the fetch would wait them out and succeed.
    trickle = logserver.TrickleHeaders(server, every=0.05, count=200)
    server.faults[TILE] = trickle
    with pytest.raises(StorageError, match=r"deadline of 0\.5s"):
        fetcher(server, deadline=0.5, read_timeout=10, retries=3).fetch(TILE, 8192)
    assert trickle.done.wait(30)
    assert trickle.sent < trickle.count  # the client hung up before the headers ended


def test_non_ascii_digits_in_headers(server: LogServer) -> None:
    sleeps = Sleeps()
    server.faults[TILE] = logserver.status(503, retry_after="\u00b2")
    with pytest.raises(StorageError, match="HTTP 503"):
        fetcher(server, sleep=sleeps, retries=1).fetch(TILE, 8192)
    assert sleeps.calls == [0.5]  # the header was ignored: plain backoff
    server.faults[TILE] = logserver.raw_header(200, "Content-Length", "\u00b2")
    assert fetcher(server).fetch(TILE, 8192) == b"\x01" * 8192


def test_timeout_bounds_each_try_as_a_whole() -> None:
    f = open_fetcher("https://example.com/log", timeout=2, retries=3)
    assert isinstance(f, HTTPFetcher)
    assert f.timeout == (2, 2) and f.deadline == 2 * 4 + 0.5 + 1 + 2
    assert open_fetcher("https://example.com/log").deadline == 300  # type: ignore[attr-defined]


def test_loginfo_timeout_covers_trickled_headers(
    make_log: MakeLog, serve: Callable[[Store], LogServer], tmp_path: Path
) -> None:
    # "tlog loginfo --timeout 2" against a server trickling its headers: one line, soon.
    from click.testing import CliRunner

    from tlog.cli import main

    log = make_log((3,))
    server = serve(log.store)
    trickle = logserver.TrickleHeaders(server, every=0.05, count=200)
    server.faults["checkpoint"] = trickle
    (tmp_path / "v").write_text(log.vkeys)
    args = ["loginfo", "--log", server.url, "--vkey", str(tmp_path / "v"), "--timeout", "0.5"]
    args += ["--retries", "0", "--state-dir", str(tmp_path / "s"), "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "deadline of 0.5s" in result.stderr, result.output
    assert trickle.done.wait(30) and trickle.sent < trickle.count


def test_requests_start_no_thread_each_and_read_the_environment_once(
    server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline of every request is kept by one watchdog thread, not a timer
    thread per request, and the environment's proxy settings are read once."""
    f = fetcher(server)
    f.fetch(TILE, 8192)  # the connection pool and the watchdog's thread start here
    started: list[str] = []
    start, me = threading.Thread.start, threading.current_thread()

    def counting_start(thread: threading.Thread) -> None:
        if threading.current_thread() is me:  # not the server's threads
            started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    merged: list[str] = []
    read_env = urllib.request.getproxies_environment

    def counting_read() -> Any:
        merged.append("read")
        return read_env()

    monkeypatch.setattr(urllib.request, "getproxies_environment", counting_read)
    for _ in range(20):
        assert f.fetch(TILE, 8192) == b"\x01" * 8192
    assert started == [] and merged == []


def test_the_watchdog_calls_due_alarms_skips_cancelled_ones_and_drops_them() -> None:
    dog = Watchdog()
    fired = threading.Event()
    calls: list[str] = []
    never = dog.call_at(time.monotonic() + 3600, lambda: calls.append("cancelled"))
    never.cancel()
    dog.call_at(time.monotonic() - 1, lambda: (calls.append("due"), fired.set()))
    assert fired.wait(30)
    assert calls == ["due"]
    for _ in range(5000):
        dog.call_at(time.monotonic() + 3600, lambda: None).cancel()
    assert len(dog) <= 2048  # cancelled alarms do not pile up until their time


def test_a_connection_closed_while_idle_is_replaced_without_a_retry() -> None:
    """A kept-alive connection the server closed between two GETs is replaced at once:
    no try used, no backoff slept."""
    import socket
    import socketserver

    class OneAnswer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                data += self.request.recv(4096)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            self.request.shutdown(socket.SHUT_RDWR)  # then hang up, as an idle timeout does
            hung_up.release()

    hung_up = threading.Semaphore(0)
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), OneAnswer) as srv:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        sleeps = Sleeps()
        f = HTTPFetcher(f"http://127.0.0.1:{srv.server_address[1]}/", retries=1, sleep=sleeps)
        try:
            for _ in range(3):
                assert f.fetch("checkpoint", 100) == b"ok"
                assert hung_up.acquire(timeout=10)  # the connection is idle and closed
        finally:
            srv.shutdown()
    assert sleeps.calls == []


def test_readers_fetch_64_at_once_over_http_and_16_from_a_store(tmp_path: Path) -> None:
    """A CDN takes many connections, an S3 store pools 32: the default depends on where
    the log is (an explicit --parallel wins)."""
    from tlog.client import open_log
    from tlog.keys import generate

    vkey = generate("example.com/log").keys.vkeys()[0]
    state = {"state_dir": tmp_path, "cache": False}
    assert open_log("https://example.com/log", [vkey], **state).parallel == 64  # type: ignore[arg-type]
    assert open_log(str(tmp_path / "log"), [vkey], **state).parallel == 16  # type: ignore[arg-type]
    assert open_log("http://x/", [vkey], parallel=3, **state).parallel == 3  # type: ignore[arg-type]


@pytest.mark.parametrize("variable", ["http_proxy", "ALL_PROXY"])
def test_the_environment_proxy_is_used_with_its_credentials(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As requests reads them: ``<scheme>_proxy`` or ``all_proxy``, and the user and
    password of its URL sent as Proxy-Authorization."""
    import base64
    import socketserver

    seen: list[bytes] = []

    class Proxy(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data and (got := self.request.recv(4096)):
                data += got
            seen.append(data)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Proxy) as srv:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            port = srv.server_address[1]
            monkeypatch.setenv(variable, f"http://me:p%40ss@127.0.0.1:{port}")
            f = HTTPFetcher("http://log.example/", retries=0)
            assert f.fetch("checkpoint", 100) == b"ok"
        finally:
            srv.shutdown()
    head = seen[0].decode("latin-1")
    assert head.startswith("GET http://log.example/checkpoint HTTP/1.1\r\n")
    fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if line)
    sent = {name.lower(): value for name, value in fields.items()}
    assert sent["proxy-authorization"] == f"Basic {base64.b64encode(b'me:p@ss').decode()}"


def test_a_broken_proxy_setting_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "http://me:s3cret@proxy.invalid:99999")
    with pytest.raises(ConfigError) as err:
        HTTPFetcher("http://log.example/", retries=0).fetch("checkpoint", 100)
    assert "s3cret" not in str(err.value) and "http://proxy.invalid:99999" in str(err.value)


def test_a_socks_all_proxy_is_left_to_the_tools_that_speak_socks(
    server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # curl and git read ALL_PROXY=socks5://...; a reader goes direct rather than fail.
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    assert fetcher(server).fetch(TILE, 8192) == b"\x01" * 8192
