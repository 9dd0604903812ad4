"""``tlog monitor`` from the command line: output, exit status, hooks, metrics, and a
monitor SIGKILLed at controlled points that resumes without losing a finding."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clirun import run
from tests.monitor.logs import keys
from tlog.sequencer import Candidate, Sequencer
from tlog.storage.folder import FolderStore

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "monitor.example/cli"


def folder_log(tmp: Path, bodies: list[bytes]) -> tuple[Path, Path]:
    """A folder log holding ``bodies`` (raw), and its vkey file."""
    logdir = tmp / "log"
    seq = Sequencer(FolderStore(logdir), keys(ORIGIN))
    seq.init()
    seq.sequence([Candidate(str(i), b) for i, b in enumerate(bodies)])
    vkey = tmp / "log.vkey"
    vkey.write_text("\n".join(keys(ORIGIN).vkeys()) + "\n")
    return logdir, vkey


def watch(tmp: Path, *bodies: bytes) -> Path:
    config = tmp / "watch.yaml"
    digests = "".join(f"    - sha256:{hashlib.sha256(b).hexdigest()}\n" for b in bodies)
    config.write_text(f"monitoredValues:\n  digests:\n{digests}")
    return config


def base(tmp: Path, logdir: Path, vkey: Path, config: Path) -> list[str]:
    return [
        "monitor", "--log", str(logdir), "--vkey", str(vkey), "--config", str(config),
        "--state-dir", str(tmp / "state"), "--cache-dir", str(tmp / "cache"),
    ]  # fmt: skip


def test_json_findings_exit_status_and_metrics(tmp_path: Path) -> None:
    logdir, vkey = folder_log(tmp_path, [b"a", b"b", b"c"])
    args = base(tmp_path, logdir, vkey, watch(tmp_path, b"b"))
    metrics = tmp_path / "monitor.prom"
    code, out, _ = run(*args, "--once", "--format", "json", "--metrics", str(metrics))
    assert code == 2
    (line,) = out.splitlines()
    doc = json.loads(line)
    assert (doc["kind"], doc["index"], doc["matched"][0]["rule"]) == ("match", 1, "digest")
    text = metrics.read_text()
    assert f'tlog_monitor_verified_size{{origin="{ORIGIN}"}} 3' in text
    assert f'tlog_monitor_findings_total{{origin="{ORIGIN}",kind="match"}} 1' in text
    assert f'tlog_monitor_lag_entries{{origin="{ORIGIN}"}} 0' in text
    code, out, err = run(*args, "--once")
    assert (code, out) == (0, "")
    assert "0 finding(s)" in err


def test_exec_hook_gets_each_finding_and_a_failing_one_is_retried(tmp_path: Path) -> None:
    logdir, vkey = folder_log(tmp_path, [b"a", b"b", b"c"])
    got = tmp_path / "got"
    hook = tmp_path / "hook.py"
    hook.write_text(
        "import sys, os\n"
        f"if os.path.exists({str(tmp_path / 'fail')!r}): sys.exit(3)\n"
        f"open({str(got)!r}, 'a').write(sys.stdin.read())\n"
    )
    args = [*base(tmp_path, logdir, vkey, watch(tmp_path, b"a", b"c")), "--once"]
    args += ["--exec", f"{sys.executable} {hook}"]
    (tmp_path / "fail").touch()
    code, _, err = run(*args)
    assert code == 1 and "exited with status 3" in err
    (tmp_path / "fail").unlink()
    code, _, _ = run(*args)
    assert code == 2
    assert [json.loads(x)["index"] for x in got.read_text().splitlines()] == [0, 2]
    assert run(*args)[0] == 0
    assert len(got.read_text().splitlines()) == 2


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[bytes], list[int]]]:
    bodies: list[bytes] = []
    answer = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(answer[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies, answer
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_gets_each_finding_once_delivered(
    tmp_path: Path, webhook: tuple[str, list[bytes], list[int]]
) -> None:
    url, bodies, answer = webhook
    logdir, vkey = folder_log(tmp_path, [b"a", b"b"])
    args = [*base(tmp_path, logdir, vkey, watch(tmp_path, b"b")), "--once", "--webhook", url]
    answer[0] = 500
    code, _, err = run(*args)
    assert code == 1 and "HTTP 500" in err
    answer[0] = 204
    assert run(*args)[0] == 2
    assert [json.loads(b)["index"] for b in bodies] == [1, 1]
    assert run(*args)[0] == 0 and len(bodies) == 2


def test_bad_options_fail_in_one_line(tmp_path: Path) -> None:
    logdir, vkey = folder_log(tmp_path, [b"a"])
    args = base(tmp_path, logdir, vkey, watch(tmp_path, b"a"))
    code, _, err = run(*args, "--once", "--interval", "5m")
    assert code == 1 and "not both" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitoredValues:\n  subjects: ['(']\n")
    code, _, err = run(*base(tmp_path, logdir, vkey, bad), "--once")
    assert code == 1 and "bad regular expression" in err and len(err.splitlines()) == 1


MATCHED = [10, 300, 600, 900, 1200, 1500]


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 3, 6])
def test_a_monitor_killed_mid_delivery_resumes_at_least_once(tmp_path: Path, kill_at: int) -> None:
    bodies = [b"entry %d" % i for i in range(1536)]
    logdir, vkey = folder_log(tmp_path, bodies)
    config = watch(tmp_path, *(bodies[i] for i in MATCHED))
    got = tmp_path / "got"
    hook = tmp_path / "hook.py"
    # The hook records the finding, then (on call kill_at) SIGKILLs the monitor before
    # it can record that the hook succeeded.
    hook.write_text(
        "import os, signal, sys\n"
        f"with open({str(got)!r}, 'a') as f: f.write(sys.stdin.read())\n"
        f"n = len(open({str(got)!r}).read().splitlines())\n"
        f"if n == {kill_at} and not os.path.exists({str(tmp_path / 'killed')!r}):\n"
        f"    open({str(tmp_path / 'killed')!r}, 'w').close()\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
    )
    args = [*base(tmp_path, logdir, vkey, config), "--once", "--format", "json", "--window", "1"]
    args += ["--exec", f"{sys.executable} {hook}"]
    cmd = [sys.executable, "-c", "from tlog.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=False)
    assert first.returncode == -signal.SIGKILL
    second = subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=False)
    assert second.returncode == 2, second.stderr
    delivered = [json.loads(x)["index"] for x in got.read_text().splitlines()]
    # Everything once, and the finding being delivered when the monitor died twice.
    expected = sorted([*MATCHED, MATCHED[kill_at - 1]])
    assert sorted(delivered) == expected
    third = subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=False)
    assert third.returncode == 0
