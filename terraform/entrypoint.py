"""Entry point of the tlog image (terraform/Dockerfile) on ECS: one role per task.

    entrypoint.py sequence   print {"queue_depth": N}, then exec
                             tlog sequence --pending --log L --key awskms://K --timestamp-key F
    entrypoint.py server     exec tlog server --log L --key awskms://K --timestamp-key F
                             --host 0.0.0.0 --port 8080
    entrypoint.py witness    exec tlog witness serve --key F --policy P --state S
                             --host 0.0.0.0 --port 8080
    entrypoint.py monitor    restore the state folder from S3, run
                             tlog monitor --log URL --vkey V --config C --once --state-dir D,
                             save the state folder back, exit with the monitor's status

Configuration comes from the environment terraform sets (job.tf, services.tf): TLOG_LOG,
TLOG_KMS_KEY, TLOG_RUN_DIR and the role's own variables. Key files arrive as environment
variables (ECS secrets from Secrets Manager); each is written to a 0600 file under
TLOG_RUN_DIR and removed from the environment, so tlog never holds it there.

The queue-depth line is what the CloudWatch metric filter of alarms.tf reads: one JSON
object per run, {"queue_depth": N, "max_pending": M}, on standard output, before the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path

PORT = "8080"
TLOG = "tlog"

Env = MutableMapping[str, str]


def secret_file(env: Env, name: str, run_dir: Path, filename: str) -> str:
    """Move the secret in ``env[name]`` into a 0600 file; its path."""
    try:
        value = env.pop(name)
    except KeyError:
        raise SystemExit(f"tlog-entrypoint: {name} is not set") from None
    path = run_dir / filename
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value if value.endswith("\n") else value + "\n")
    return str(path)


def plain_file(env: Env, name: str, run_dir: Path, filename: str) -> str:
    """Write the (public) text in ``env[name]`` to a file; its path."""
    path = run_dir / filename
    path.write_text(env.get(name, ""))
    return str(path)


def need(env: Env, name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SystemExit(f"tlog-entrypoint: {name} is not set")
    return value


def command(role: str, env: Env, run_dir: Path) -> list[str]:
    """The tlog command line for ``role`` (writing the files it names under ``run_dir``)."""
    if role == "sequence":
        return [
            TLOG, "sequence", "--pending",
            "--log", need(env, "TLOG_LOG"),
            "--key", "awskms://" + need(env, "TLOG_KMS_KEY"),
            "--timestamp-key", secret_file(env, "TLOG_TIMESTAMP_KEY", run_dir, "timestamp.key"),
            "--max-pending", env.get("TLOG_MAX_PENDING", "100000"),
        ]  # fmt: skip
    if role == "server":
        return [
            TLOG, "server",
            "--log", need(env, "TLOG_LOG"),
            "--key", "awskms://" + need(env, "TLOG_KMS_KEY"),
            "--timestamp-key", secret_file(env, "TLOG_TIMESTAMP_KEY", run_dir, "timestamp.key"),
            "--host", "0.0.0.0", "--port", PORT,
        ]  # fmt: skip
    if role == "witness":
        return [
            TLOG, "witness", "serve",
            "--key", secret_file(env, "TLOG_WITNESS_KEY", run_dir, "witness.key"),
            "--policy", plain_file(env, "TLOG_WITNESS_POLICY", run_dir, "witness.policy"),
            "--state", need(env, "TLOG_WITNESS_STATE"),
            "--host", "0.0.0.0", "--port", PORT,
        ]  # fmt: skip
    if role == "monitor":
        return [
            TLOG, "monitor",
            "--log", need(env, "TLOG_PUBLIC_URL"),
            "--vkey", plain_file(env, "TLOG_VKEYS", run_dir, "log.vkey"),
            "--config", plain_file(env, "TLOG_MONITOR_CONFIG", run_dir, "monitor.yaml"),
            "--once", "--format", "json",
            "--state-dir", str(run_dir / "state"),
        ]  # fmt: skip
    raise SystemExit(f"tlog-entrypoint: unknown role {role!r} (sequence, server, witness, monitor)")


def queue_depth(location: str) -> int:
    """How many submissions wait in ``private/pending/`` (one listing)."""
    from tlog import layout
    from tlog.storage.locate import open_store

    return len(open_store(location).list(layout.PENDING_PREFIX))


def report_queue(env: Env) -> None:
    """Print the queue-depth line; a failure to list is a warning (the run will say more)."""
    try:
        depth = queue_depth(need(env, "TLOG_LOG"))
    except Exception as exc:  # the sequencer's own run reports the real error
        print(f"tlog-entrypoint: warning: cannot measure the queue: {exc}", file=sys.stderr)
        return
    line = {"queue_depth": depth, "max_pending": int(env.get("TLOG_MAX_PENDING", "100000"))}
    print(json.dumps(line), flush=True)


def _bucket_prefix(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def sync_state(url: str, folder: Path, *, restore: bool) -> None:
    """Copy the monitor's state folder from (restore) or to ``s3://bucket/prefix``."""
    import boto3

    bucket, prefix = _bucket_prefix(url)
    s3 = boto3.client("s3")
    if restore:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) + 1 :]
                if not rel or ".." in rel.split("/"):
                    continue
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(folder / rel))
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def run_monitor(argv: list[str], env: Env, run_dir: Path) -> int:
    """Run the monitor with its state restored before and saved after; its exit status."""
    state = run_dir / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    url = env.get("TLOG_STATE", "")
    if url:
        sync_state(url, state, restore=True)
    child = subprocess.Popen(argv, env=dict(env))
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    status = child.wait()
    if url:
        sync_state(url, state, restore=False)
    return status


def prepare(env: Env) -> Path:
    """The run folder (the task's writable volume), with HOME and XDG dirs inside it."""
    run_dir = Path(env.get("TLOG_RUN_DIR", "/run/tlog"))
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    env.setdefault("HOME", str(run_dir))
    env["TMPDIR"] = str(run_dir / "tmp")
    env.setdefault("XDG_CACHE_HOME", str(run_dir / "cache"))
    env.setdefault("XDG_STATE_HOME", str(run_dir / "state"))
    return run_dir


def main(args: list[str]) -> int:
    role = args[0] if args else "sequence"
    env = os.environ
    run_dir = prepare(env)
    argv = command(role, env, run_dir)
    if role == "monitor":
        return run_monitor(argv, env, run_dir)
    if role == "sequence":
        report_queue(env)
    os.execvpe(argv[0], argv, dict(env))  # signals (SIGTERM from ECS) go to tlog itself


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
