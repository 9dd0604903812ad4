"""The witness over HTTP: each status with the spec's body and content type, bounded
bodies, the monitoring endpoint; and the ``tlog witness`` commands as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import requests
from clirun import run

from tlog import merkle
from tlog.checkpoint import Checkpoint
from tlog.fetch.store import StoreFetcher
from tlog.fetch.tiles import TileReader
from tlog.keys import generate
from tlog.note import Note
from tlog.policy import Policy
from tlog.witness.protocol import AddCheckpoint, origin_path
from tlog.witness.server import bind

from .conftest import ORIGIN, Log, Served, cosigner, log_policy

SIGNER = cosigner("http.example/w")
POLICY = Policy.parse((log_policy() + "quorum none\n").encode())
TEXT = "text/plain; charset=utf-8"


def body(log: Log, old: int, note: bytes) -> bytes:
    cp = Checkpoint.parse(Note.parse(note).text)
    proof: tuple[bytes, ...] = ()
    if 0 < old < cp.size:
        proof = tuple(
            merkle.consistency_proof(old, cp.size, TileReader(cp, StoreFetcher(log.store)).read)
        )
    return AddCheckpoint(old, proof, note).format()


def post(url: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/add-checkpoint", data=data, timeout=30)


def test_every_status_with_its_body_and_content_type(witnesses: Callable[..., Served]) -> None:
    url = witnesses(SIGNER, POLICY).url
    log, fork = Log(), Log(tag="fork")
    first = log.append(3)
    r = post(url, body(log, 0, first))
    assert (r.status_code, r.headers["content-type"]) == (200, TEXT)
    assert r.content.startswith("— http.example/w ".encode()) and r.content.endswith(b"\n")
    r = post(url, body(log, 0, log.append(2)))
    assert (r.status_code, r.headers["content-type"], r.content) == (
        409,
        "text/x.tlog.size",
        b"3\n",
    )
    r = post(url, body(fork, 3, fork.append(3)))  # a fork at the same size
    assert (r.status_code, r.headers["content-type"], r.content) == (
        409,
        "text/x.tlog.size",
        b"3\n",
    )
    r = post(url, body(fork, 3, fork.append(4)))  # a fork further on: its proof fails
    assert (r.status_code, r.headers["content-type"]) == (422, TEXT)
    other = Log(keys=generate("unknown.example/log").keys)
    assert post(url, body(other, 0, other.append(1))).status_code == 404
    impostor = Log(keys=generate(ORIGIN).keys)
    assert post(url, body(impostor, 0, impostor.append(1))).status_code == 403
    assert post(url, b"old 9\n\n" + first).status_code == 400  # old above the size
    assert post(url, b"garbage").status_code == 400
    assert post(url, body(log, 3, log.append(1))).status_code == 200


def test_oversize_bodies_are_refused_before_they_are_read(witnesses: Callable[..., Served]) -> None:
    url = witnesses(SIGNER, POLICY).url
    assert post(url, b"x" * 100_000).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, cut off at the bound
        for _ in range(100):
            yield b"y" * 4096

    assert requests.post(f"{url}/add-checkpoint", data=chunks(), timeout=30).status_code == 413


def test_monitors_get_the_latest_cosigned_checkpoint(witnesses: Callable[..., Served]) -> None:
    url = witnesses(SIGNER, POLICY).url
    r = requests.get(f"{url}/{origin_path(ORIGIN)}/checkpoint", timeout=30)
    assert r.status_code == 404
    log = Log()
    post(url, body(log, 0, log.append(4)))
    r = requests.get(f"{url}/{origin_path(ORIGIN)}/checkpoint", timeout=30)
    assert (r.status_code, r.headers["content-type"]) == (200, TEXT)
    p = Policy.parse(f"witness w {SIGNER.verifier().vkey()}\nquorum w\n".encode())
    assert p.check(Note.parse(r.content)) == {"w": 1_700_000_000}
    assert requests.get(f"{url}/{'0' * 64}/checkpoint", timeout=30).status_code == 404
    assert requests.get(f"{url}/nothex/checkpoint", timeout=30).status_code == 404
    assert requests.get(f"{url}/add-checkpoint", timeout=30).status_code == 405


def test_connections_send_without_delay() -> None:
    # Accepted sockets inherit TCP_NODELAY: without it each answer waits ~40 ms for the
    # client's delayed ACK (the head and body are two writes), capping a connection at
    # ~25 requests/s.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


# -- the commands, as a real process ------------------------------------------------------


def start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``tlog witness serve ...`` in a process; its URL once it says it is listening."""
    code = "from tlog.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "witness", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or dict(os.environ),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on http://"):
        proc.kill()
        raise AssertionError(f"witness did not start: {line!r} {proc.communicate()[1]}")
    return proc, line.split()[-1]


def keygen(tmp_path: Path, name: str = "proc.example/w") -> tuple[Path, str]:
    code, out, err = run("witness", "keygen", "--name", name, "--out", str(tmp_path / "wkey"))
    assert code == 0, err
    vkey = out.strip()
    assert (tmp_path / "wkey" / "witness.vkey").read_text() == vkey + "\n"
    assert oct((tmp_path / "wkey" / "witness.key").stat().st_mode & 0o777) == "0o600"
    assert run("witness", "keygen", "--name", name, "--out", str(tmp_path / "wkey"))[0] != 0
    return tmp_path / "wkey" / "witness.key", vkey


def serve_args(tmp_path: Path, key: Path) -> list[str]:
    """``witness serve`` options for a witness of the test log (policy without a
    quorum, state in a folder under ``tmp_path``)."""
    (tmp_path / "policy").write_text(log_policy() + "quorum none\n")
    return [
        "--key",
        str(key),
        "--policy",
        str(tmp_path / "policy"),
        "--state",
        str(tmp_path / "st"),
    ]


def test_keygen_and_serve_as_a_process(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    args = serve_args(tmp_path, key)
    proc, url = start([*args, "--port", "0"])
    try:
        log = Log()
        r = post(url, body(log, 0, log.append(2)))
        assert r.status_code == 200
        p = Policy.parse(f"witness w {vkey}\nquorum w\n".encode())
        served = requests.get(f"{url}/{origin_path(ORIGIN)}/checkpoint", timeout=30).content
        assert p.check(Note.parse(served))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM
    code, _, err = run("witness", "serve", *args, "--policy", str(tmp_path / "nothing"))
    assert code != 0 and "nothing" in err
