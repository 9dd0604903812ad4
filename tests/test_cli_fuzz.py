"""Every command under a small fuzz of wrong arguments: no traceback ever reaches the
terminal. Each command runs from a valid invocation with one option at a time given a
missing, garbled or out-of-range value, or left out; the answer must be a usage error,
a one-line refusal or success, never an uncaught exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tlog.cli import main

#: Values a user (or a script gone wrong) may give any option. None of them reaches a
#: network: no host that resolves, no s3:// bucket, no awskms:// key. (No NUL byte:
#: a command line cannot carry one.)
BAD_VALUES = [
    "",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "nan",
    "-",
    "\udcff",
    "%zz",
    "no/such/file",
    "http://[::1",
    "127.0.0.1:5055",
    "file://host/x",
    "s3://",
    "x" * 5000,
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A small log with its keys, an entry, a proof and an artifact, in a temp folder."""
    base = tmp_path_factory.mktemp("fuzz")
    runner = CliRunner()
    keys, log = base / "keys", base / "log"
    origin = "fuzz.example/log"

    def ok(*args: str, data: str | None = None) -> str:
        result = runner.invoke(main, list(args), input=data)
        assert result.exit_code == 0, result.output
        return result.stdout

    ok("keygen", "--origin", origin, "--out", str(keys))
    key, vkey = str(keys / "log.key"), str(keys / "log.vkey")
    ok("init", "--log", str(log), "--origin", origin, "--key", key)
    (base / "a.txt").write_text("artifact\n")
    ok("sequence", "--log", str(log), "--key", key, "--raw", str(base / "a.txt"))
    state = ["--state-dir", str(base / "state"), "--cache-dir", str(base / "cache")]
    proof = ok("prove", "--log", str(log), "--vkey", vkey, *state, "--log-index", "0")
    (base / "proof").write_text(proof)
    return {
        "base": str(base),
        "log": str(log),
        "key": key,
        "vkey": vkey,
        "origin": origin,
        "artifact": str(base / "a.txt"),
        "proof": str(base / "proof"),
        "state": str(base / "state"),
        "cache": str(base / "cache"),
    }


def base_args(name: str, w: dict[str, str]) -> list[str]:
    """A valid invocation of ``name`` (serve: one that fails before binding a port)."""
    log, key, vkey = ["--log", w["log"]], ["--key", w["key"]], ["--vkey", w["vkey"]]
    reader = [*log, *vkey, "--state-dir", w["state"], "--cache-dir", w["cache"]]
    return {
        "keygen": ["--origin", w["origin"], "--out", "newkeys"],
        "init": ["--log", "newlog", "--origin", w["origin"], *key],
        "sequence": [*log, *key, "--raw", w["artifact"]],
        "submit": [*log, "-"],
        "status": [*log, "0" * 64],
        "key show": key,
        "serve": ["--log", "no-such-folder", "--port", "0"],
        "upload": [*log, "--submit", "--artifact", w["artifact"], "--artifact-hash", "ab"],
        "loginfo": reader,
        "get": [*reader, "--log-index", "0"],
        "prove": [*reader, "--log-index", "0"],
        "verify": [*vkey, "--proof", w["proof"], "--artifact", w["artifact"]],
        "logproof": [*reader, "--first-size", "0", "--last-size", "1"],
        "audit": reader,
    }.get(name, [])


def commands() -> Iterator[tuple[str, click.Command]]:
    for name, cmd in sorted(main.commands.items()):
        if isinstance(cmd, click.Group):
            yield from ((f"{name} {sub}", c) for sub, c in sorted(cmd.commands.items()))
        else:
            yield name, cmd


def cases(name: str, cmd: click.Command, base: list[str]) -> Iterator[list[str]]:
    """``base`` with each option given each bad value, left without a value, or left out."""
    options = [p for p in cmd.params if isinstance(p, click.Option) and not p.is_flag]
    for opt in options:
        flag = opt.opts[0]
        for value in BAD_VALUES:
            yield [*base, flag, value]
        yield [*base, flag]  # no value
        if flag in base:  # left out
            i = base.index(flag)
            yield base[:i] + base[i + 2 :]
    yield [*base, "--no-such-option"]
    yield [*base, *BAD_VALUES[:4]]  # stray arguments


@pytest.mark.parametrize("name", [n for n, _ in commands()])
def test_no_traceback_reaches_the_terminal(
    name: str, world: dict[str, str], tmp_path: Path
) -> None:
    cmd = dict(commands())[name]
    runner = CliRunner()
    failures: list[str] = []
    with runner.isolated_filesystem(temp_dir=tmp_path):
        for args in cases(name, cmd, base_args(name, world)):
            result = runner.invoke(main, [*name.split(), *args], input="")
            exc = result.exception
            if exc is not None and not isinstance(exc, SystemExit):
                failures.append(f"{args[-2:]!r}: {type(exc).__name__}: {str(exc)[:100]}")
            elif "Traceback" in result.output:
                failures.append(f"{args[-2:]!r}: traceback printed")
    assert not failures, f"{len(failures)} tracebacks: " + "; ".join(failures)


@pytest.mark.parametrize("port", ["99999", "65536", "-5"])
def test_serve_refuses_an_impossible_port(port: str, world: dict[str, str]) -> None:
    # Never a valid port here: a valid one would start serving.
    result = CliRunner().invoke(main, ["serve", "--log", world["log"], "--port", port])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code != 0
