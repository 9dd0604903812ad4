"""The image terraform runs (terraform/Dockerfile) and its entry point (terraform/entrypoint.py):
slim, pinned, unprivileged; each role runs the tlog command line terraform wires, with key
files written privately and kept out of tlog's environment (docs/operating.md).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any

import pytest
from clirun import signed_request

from tlog import layout, queue
from tlog.keys import generate, load_keys
from tlog.sequencer import Sequencer

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "terraform"
ORIGIN = "job.example/log"


def entry() -> Any:
    """terraform/entrypoint.py, loaded as a module."""
    spec = spec_from_file_location("tlog_entrypoint", TF / "entrypoint.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sequencer_command_uses_the_kms_key_and_a_private_timestamp_key(
    tmp_path: Path,
) -> None:
    env = {
        "TLOG_LOG": "s3://b/log",
        "TLOG_KMS_KEY": "arn:aws:kms:eu-west-1:1:key/k",
        "TLOG_TIMESTAMP_KEY": "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----",
        "TLOG_MAX_PENDING": "7",
    }
    argv = entry().command("sequence", env, tmp_path)
    key = tmp_path / "timestamp.key"
    assert argv == [
        "tlog", "sequence", "--pending", "--log", "s3://b/log",
        "--key", "awskms://arn:aws:kms:eu-west-1:1:key/k",
        "--timestamp-key", str(key), "--max-pending", "7",
    ]  # fmt: skip
    assert "secret" in key.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "TLOG_TIMESTAMP_KEY" not in env  # not passed on in tlog's environment


def test_the_service_commands_are_the_ones_terraform_wires(tmp_path: Path) -> None:
    ep = entry()
    env = {
        "TLOG_LOG": "s3://b/log",
        "TLOG_KMS_KEY": "k",
        "TLOG_TIMESTAMP_KEY": "t",
        "TLOG_WITNESS_KEY": "w",
        "TLOG_WITNESS_POLICY": "log …",
        "TLOG_WITNESS_STATE": "s3://b/witness",
        "TLOG_PUBLIC_URL": "https://cdn/log",
        "TLOG_VKEYS": "v",
        "TLOG_MONITOR_CONFIG": "monitoredValues: {}",
    }
    assert ep.command("server", env, tmp_path)[:2] == ["tlog", "server"]
    witness = ep.command("witness", env, tmp_path)
    assert witness[:3] == ["tlog", "witness", "serve"]
    assert witness[witness.index("--state") + 1] == "s3://b/witness"
    monitor = ep.command("monitor", env, tmp_path)
    assert monitor[:2] == ["tlog", "monitor"] and "--once" in monitor
    assert (tmp_path / "monitor.yaml").read_text() == "monitoredValues: {}"
    with pytest.raises(SystemExit):
        ep.command("shell", env, tmp_path)


def test_the_image_is_slim_pinned_and_unprivileged() -> None:
    text = (TF / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["/opt/tlog/bin/python", "/opt/tlog/entrypoint.py"]' in text
    assert 'CMD ["sequence"]' in text


def test_the_monitors_state_folder_survives_between_runs(
    s3_bucket: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    ep, url = entry(), f"s3://{bucket}/monitor"
    first = tmp_path / "first"
    first.mkdir()
    ep.sync_state(url, first, restore=True)  # the first run finds nothing
    assert not any(first.iterdir())
    (first / "origin").mkdir()
    (first / "origin" / "checkpoint").write_bytes(b"example.com/log\n5\nroot\n")
    ep.sync_state(url, first, restore=False)
    second = tmp_path / "second"
    second.mkdir()
    ep.sync_state(url, second, restore=True)
    assert (second / "origin" / "checkpoint").read_bytes() == b"example.com/log\n5\nroot\n"


@pytest.mark.slow
def test_the_job_drains_the_queue_into_a_kms_signed_log(
    s3_bucket: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task's command line, run as ECS runs it (environment and secret), on an emulator."""
    import boto3

    from tlog.storage.s3 import S3Store

    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    timestamp_pem = generate(ORIGIN).private_pem
    (tmp_path / "ts.key").write_bytes(timestamp_pem)
    (tmp_path / "ts.key").chmod(0o600)
    store = S3Store.from_url(f"s3://{bucket}/log", endpoint_url=endpoint)
    keys = load_keys(f"awskms://{key}", ORIGIN, timestamp_key=tmp_path / "ts.key")
    Sequencer(store, keys).init()
    for i in range(2):
        queue.submit(store, signed_request(i))
    bindir = tmp_path / "bin"  # `tlog` on PATH, as in the image: this tree's
    bindir.mkdir()
    (bindir / "tlog").write_text(f"#!{sys.executable}\nfrom tlog.cli import main\nmain()\n")
    (bindir / "tlog").chmod(0o755)
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "TLOG_LOG": f"s3://{bucket}/log",
        "TLOG_KMS_KEY": key,
        "TLOG_TIMESTAMP_KEY": timestamp_pem.decode(),
        "TLOG_RUN_DIR": str(run_dir),
        "TLOG_MAX_PENDING": "10",
    }
    run = subprocess.run(
        [sys.executable, str(TF / "entrypoint.py"), "sequence"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[0]) == {"queue_depth": 2, "max_pending": 10}
    assert store.list(layout.PENDING_PREFIX) == []
    assert queue.public_size(store) == 2
    assert stat.S_IMODE((run_dir / "timestamp.key").stat().st_mode) == 0o600
