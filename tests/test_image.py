"""The image terraform runs (terraform/Dockerfile) and its entry point (terraform/entrypoint.py):
slim, pinned, unprivileged; each role runs the tlog command line terraform wires, with key
files written privately and kept out of tlog's environment (docs/operating.md).
"""

from __future__ import annotations

import re
import stat
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any

import pytest

TF = Path(__file__).resolve().parents[1] / "terraform"


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
