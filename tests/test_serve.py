"""`tlog serve`: public objects only, with a CDN's headers, from a folder or from S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog.cli import main
from tlog.keys import generate
from tlog.sequencer import Candidate, Sequencer
from tlog.serve import Reader, folder_reader, make_server, store_reader
from tlog.storage.folder import FolderStore
from tlog.storage.s3 import S3Store

ORIGIN = "serve.example/log"


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


@contextmanager
def serving(read: Reader) -> Iterator[str]:
    server = make_server(read, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    store = FolderStore(tmp_path / "log")
    seq = Sequencer(store, generate(ORIGIN).keys)
    seq.init()
    seq.sequence([Candidate("a", b"x")])
    store.write("private/pending/ab", b"queued secret")
    return tmp_path / "log"


def test_serve_exposes_only_public_objects_with_cdn_headers(logdir: Path) -> None:
    with serving(folder_reader(logdir)) as base:
        with urllib.request.urlopen(base + "checkpoint") as r:
            assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert r.headers["Cache-Control"] == "no-cache"
            assert r.read() == (logdir / "checkpoint").read_bytes()
        with urllib.request.urlopen(base + "tile/0/000.p/1") as r:
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.headers["Content-Type"] == "application/octet-stream"
        (logdir / "tile" / ".tmp-tlog-1-0").write_bytes(b"a killed run's temp file")
        for secret in (
            "private/lock",
            "private/../private/lock",
            "%2e%2e/etc/passwd",
            "log.key",
            "tile/.tmp-tlog-1-0",
        ):
            assert status(base + secret) == 404, secret
    assert os.path.exists(logdir / "private" / "lock")


def test_symlinks_out_of_the_public_part_are_not_followed(logdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the log's")
    links = {
        "tile/0/999": "../../private/lock",
        "tile/entries/999": "../../private/pending/ab",
        "checkpoints/999": str(outside),
        "tile/9": "../private/pending",  # a directory link: tile/9/ab is the queue item
    }
    for name, target in links.items():
        (logdir / name).symlink_to(target)
    (logdir / "checkpoints" / "998").symlink_to("../checkpoint")  # stays public: served
    os.mkfifo(logdir / "checkpoints" / "997")
    with serving(folder_reader(logdir)) as base:
        for name in ("tile/0/999", "tile/entries/999", "checkpoints/999", "tile/9/ab"):
            assert status(base + name) == 404, name
        assert status(base + "checkpoints/997") == 404  # a FIFO: never opened for reading
        with urllib.request.urlopen(base + "checkpoints/998") as r:
            assert r.read() == (logdir / "checkpoint").read_bytes()


def test_serve_an_s3_log_read_only(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    store = S3Store.from_url(f"s3://{bucket}/log", endpoint_url=endpoint)
    Sequencer(store, generate(ORIGIN).keys).init()
    with serving(store_reader(store)) as base:
        with urllib.request.urlopen(base + "checkpoint") as r:
            assert r.headers["Cache-Control"] == "no-cache"
            assert r.read() == store.read("checkpoint", 1 << 20)
        assert status(base + "private/lock") == 404
        assert status(base + "tile/0/000") == 404


def fetch(url: str, rng: str | None = None) -> tuple[int, bytes, str | None]:
    req = urllib.request.Request(url, headers={"Range": rng} if rng else {})
    try:
        with urllib.request.urlopen(req) as r:
            return int(r.status), r.read(), r.headers["Content-Range"]
    except urllib.error.HTTPError as err:
        return err.code, b"", err.headers["Content-Range"]


@pytest.mark.parametrize("backend", ["folder", "memory"])
def test_ranges_of_an_object_over_the_whole_read_limit_are_served(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An index segment of a log of a few million entries is bigger than any object
    # served whole (a 1M log's merged segment is ~35 MB): readers fetch it by ranges,
    # which must be served, each by reading only its own bytes.
    import tlog.serve
    from tlog.storage.memory import MemoryStore

    monkeypatch.setattr(tlog.serve, "MAX_SERVED", 1000)
    data = bytes(range(256)) * 10  # 2,560 bytes
    key = "index/segments/" + "ab" * 32
    if backend == "folder":
        (tmp_path / "index" / "segments").mkdir(parents=True)
        (tmp_path / key).write_bytes(data)
        reader = folder_reader(tmp_path)
    else:
        store = MemoryStore()
        store.create(key, data)
        reader = store_reader(store)
    size = str(len(data)) if backend == "folder" else "*"
    with serving(reader) as base:
        assert fetch(base + key) == (404, b"", None)  # too big to serve whole
        assert fetch(base + key, "bytes=2000-2099") == (
            206,
            data[2000:2100],
            f"bytes 2000-2099/{size}",
        )
        if backend == "folder":  # cut at the end, or past it, as a file server does
            assert fetch(base + key, "bytes=2500-2999") == (
                206,
                data[2500:],
                "bytes 2500-2559/2560",
            )
            assert fetch(base + key, "bytes=2560-2600") == (416, b"", "bytes */2560")
        else:  # a store reads exact ranges; one past the end falls back to the whole read
            assert fetch(base + key, "bytes=2500-2999") == (404, b"", None)
        assert fetch(base + key, "bytes=0-1500") == (404, b"", None)  # over the range limit


@pytest.mark.parametrize("port", ["99999", "-5", "65536"])
def test_serve_port_out_of_range_is_a_usage_error(logdir: Path, port: str) -> None:
    code, _, err = run("serve", "--log", str(logdir), "--port", port)
    assert code == 2 and "0<=x<=65535" in err and "Traceback" not in err


def test_serve_a_missing_log_is_one_line(tmp_path: Path) -> None:
    code, _, err = run("serve", "--log", str(tmp_path / "none"))
    assert code == 1 and err.startswith("tlog: error: no log folder at")
    (tmp_path / "empty").mkdir()
    code, _, err = run("serve", "--log", str(tmp_path / "empty"))
    assert code == 1 and err.startswith("tlog: error: no log at") and "checkpoint" in err


def test_serve_announces_its_url_as_json(logdir: Path) -> None:
    cli = [sys.executable, "-c", "from tlog.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "serve", "--log", str(logdir), "--port", "0", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        assert doc["log"] == str(logdir) and doc["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(doc["url"] + "checkpoint") as r:
            assert r.read() == (logdir / "checkpoint").read_bytes()
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_reader_keeps_one_connection_for_its_gets_and_404s(logdir: Path) -> None:
    """Keep-alive on both sides: the server answers HTTP/1.1 with lengths (404s too)
    and the HTTP fetcher reuses its connection, so a reader's thousands of GETs cost
    no new connection (nor server thread) each."""
    from tlog.errors import NotFoundError
    from tlog.fetch.http import HTTPFetcher

    server = make_server(folder_reader(logdir), "127.0.0.1", 0)
    connections: list[object] = []
    accept = server.process_request

    def counting(request: object, address: object) -> None:
        connections.append(address)
        accept(request, address)  # type: ignore[arg-type]

    server.process_request = counting  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fetcher = HTTPFetcher(f"http://127.0.0.1:{server.server_address[1]}/")
        for _ in range(10):
            assert fetcher.fetch("checkpoint", 1 << 20).startswith(ORIGIN.encode())
            with pytest.raises(NotFoundError):
                fetcher.fetch("checkpoints/covers/0/123", 1 << 20)
        fetcher.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(connections) == 1


def test_a_client_dropping_its_connection_prints_nothing(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With keep-alive, connections end by a client hanging up, reset or idle: quiet;
    any other failure of a request still prints its traceback."""
    server = make_server(folder_reader(logdir), "127.0.0.1", 0)
    try:
        for exc in (
            ConnectionResetError(104, "reset"),
            BrokenPipeError(32, "pipe"),
            TimeoutError(),
        ):
            try:
                raise exc
            except OSError:
                server.handle_error(None, ("127.0.0.1", 1))  # type: ignore[arg-type]
        assert capsys.readouterr().err == ""
        try:
            raise ValueError("a bug")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 1))  # type: ignore[arg-type]
        assert "ValueError: a bug" in capsys.readouterr().err
    finally:
        server.server_close()
