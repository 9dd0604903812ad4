"""Shared fixtures: an S3 emulator, fresh buckets, and one ``store`` per backend.

``store`` is parametrized over ``memory``, ``folder`` and ``s3``: any test that takes it
runs against all three. The S3 emulator (``tools/moto_server.py``, moto behind a lock
that serialises requests) starts once per session, only if an S3 test asks for it.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tlog.storage import Store
from tlog.storage.folder import FolderStore
from tlog.storage.memory import MemoryStore

MOTO_SERVER = Path(__file__).resolve().parents[1] / "tools" / "moto_server.py"
#: How long the emulator may take to start (importing moto is slow on a busy machine).
MOTO_START_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1, stopped at the end of the session."""
    log = tmp_path_factory.mktemp("moto") / "stderr.txt"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(MOTO_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = b""
        deadline = time.monotonic() + MOTO_START_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        if not line.startswith(b"READY "):
            raise RuntimeError(
                f"moto server did not start: {line!r}; stderr: {log.read_text()[-2000:]}"
            )
        yield line.split()[1].decode()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server also stops when stdin closes
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(endpoint URL, name of a fresh empty bucket), with dummy credentials in the env."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    import boto3  # imported here so that merely collecting tests never loads boto3

    bucket = f"tlog-test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return s3_endpoint, bucket


@pytest.fixture(params=["memory", "folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh empty store of each backend: in memory, in a folder, in an S3 bucket."""
    if request.param == "memory":
        return MemoryStore()
    if request.param == "folder":
        return FolderStore(tmp_path / "log")
    from tlog.storage.s3 import S3Store

    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return S3Store.from_url(f"s3://{bucket}/log-{uuid.uuid4().hex[:8]}", endpoint_url=endpoint)
