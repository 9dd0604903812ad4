"""Errors are one line, never a traceback: bad endpoints, closed pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog.cli import main
from tlog.cli.app import EXIT_BROKEN_PIPE

from .conftest import GOLDEN, ROOT

VKEY = str(GOLDEN / "log.vkey")


@pytest.mark.parametrize(
    "args",
    [
        ["loginfo", "--log", "s3://bucket/log", "--vkey", VKEY],
        ["sequence", "--log", "s3://bucket/log", "--key", "k", "-"],
        ["submit", "--log", "s3://bucket/log", "-"],
    ],
    ids=["loginfo", "sequence", "submit"],
)
@pytest.mark.parametrize("endpoint", ["127.0.0.1:5055", "ftp://host", "http://h:99999"])
def test_an_endpoint_without_scheme_is_one_line(args: list[str], endpoint: str) -> None:
    result = CliRunner().invoke(main, [*args, "--endpoint-url", endpoint])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1 and "is not an http(s)://host[:port] URL" in result.stderr
    if endpoint == "127.0.0.1:5055":
        assert "did you mean http://127.0.0.1:5055?" in result.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    # "tlog get ... | head -1": the reader goes away before tlog writes.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["get", "--log", str(GOLDEN), "--vkey", VKEY, "--log-index", "3"]
    args += ["--state-dir", str(tmp_path / "s"), "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tlog.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == EXIT_BROKEN_PIPE
    assert err == "", err
