"""Concurrent sequencer processes with overlapping batches: each distinct entry once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from logcheck import check_log

from tlog.keys import generate, load_keys
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore

PROCESSES = 3
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_overlapping_batches_from_racing_sequencers_log_each_entry_once(tmp_path: Path) -> None:
    gen = generate("overlap.example/log")
    keyfile = tmp_path / "log.key"
    keyfile.write_bytes(gen.private_pem)
    keyfile.chmod(0o600)
    keys = load_keys(str(keyfile), "overlap.example/log")
    logdir = tmp_path / "log"
    store = FolderStore(logdir)
    Sequencer(store, keys).init()
    shared = []
    for i in range(30):
        f = tmp_path / f"shared{i}"
        f.write_bytes(b"shared entry %d" % i)
        shared.append(str(f))
    procs = []
    for p in range(PROCESSES):
        own = tmp_path / f"own{p}"
        own.write_bytes(b"own entry %d" % p)
        cmds = [
            f"{sys.executable} -c 'from tlog.cli import main; main()' sequence --log {logdir} "
            f"--key {keyfile} --raw {' '.join(shared[b * 10 : b * 10 + 20])} {own}"
            for b in range(2)
        ]
        script = tmp_path / f"worker{p}.sh"
        script.write_text("set -e\n" + "\n".join(cmds) + "\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen(["bash", str(script)], env=env, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    entries = check_log(store, keys)
    want = {b"shared entry %d" % i for i in range(30)} | {b"own entry %d" % p for p in range(3)}
    assert sorted(entries) == sorted(want)
