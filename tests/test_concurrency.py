"""Several sequencer processes against one S3 bucket at once: no fork, every entry once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from logcheck import check_log

from tlog.keys import generate, load_keys
from tlog.sequencer import Sequencer
from tlog.storage.s3 import S3Store

PROCESSES = 4
BATCHES = 3
PER_BATCH = 8


@pytest.mark.slow
def test_concurrent_sequencers_never_fork(s3_bucket: tuple[str, str], tmp_path: Path) -> None:
    endpoint, bucket = s3_bucket
    location = f"s3://{bucket}/{uuid.uuid4().hex}"
    gen = generate("race.example/log")
    keyfile = tmp_path / "log.key"
    keyfile.write_bytes(gen.private_pem)
    keyfile.chmod(0o600)  # tlog refuses private keys others can read
    keys = load_keys(str(keyfile), "race.example/log")
    store = S3Store.from_url(location, endpoint_url=endpoint)
    Sequencer(store, keys).init()

    expected: list[bytes] = []
    for p in range(PROCESSES):
        cmds = []
        for b in range(BATCHES):
            files = []
            for i in range(PER_BATCH):
                f = tmp_path / f"p{p}b{b}e{i}"
                data = f"process {p} batch {b} entry {i}".encode()
                f.write_bytes(data)
                expected.append(data)
                files.append(str(f))
            cmds.append(
                f"{sys.executable} -c 'from tlog.cli import main; main()' sequence "
                f"--log {location} --key {keyfile} --raw {' '.join(files)}"
            )
        (tmp_path / f"worker{p}.sh").write_text("set -e\n" + "\n".join(cmds) + "\n")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    procs = [
        subprocess.Popen(
            ["bash", str(tmp_path / f"worker{p}.sh")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in range(PROCESSES)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        outputs.append(out.decode())

    entries = check_log(store, keys)
    assert sorted(entries) == sorted(expected)
    assert len(set(entries)) == len(entries)
    # Every acknowledged index names the entry that is really there.
    acked = {}
    for out in outputs:
        for line in out.splitlines():
            if ": index " in line:
                path, rest = line.split(": index ")
                acked[int(rest.split()[0])] = Path(path).read_bytes()
    assert len(acked) == len(expected)
    assert all(entries[i] == data for i, data in acked.items())
