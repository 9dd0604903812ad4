"""Real process deaths: SIGKILL a sequencer mid-batch, then the next run completes the log."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from logcheck import check_log

from tlog import layout
from tlog.admission import Candidate
from tlog.keys import generate, load_keys
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore

WORKER = """
import sys
from tlog.keys import load_keys
from tlog.admission import Candidate
from tlog.sequencer import Sequencer
from tlog.storage.folder import FolderStore
root, keyfile, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = load_keys(keyfile, "kill.example/log")
seq = Sequencer(FolderStore(__import__("pathlib").Path(root)), keys)
seq.sequence([Candidate("", b"%s-%d" % (tag.encode(), i)) for i in range(n)])
print("acknowledged", flush=True)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    keyfile = tmp_path / "log.key"
    keyfile.write_bytes(generate("kill.example/log").private_pem)
    keyfile.chmod(0o600)  # tlog refuses private keys others can read
    keys = load_keys(str(keyfile), "kill.example/log")
    store = FolderStore(tmp_path / "log")
    Sequencer(store, keys).init()
    acknowledged: list[bytes] = []
    maybe: list[bytes] = []
    for round_ in range(8):
        n = 20000
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(tmp_path / "log"),
                str(keyfile),
                f"r{round_}",
                str(n),
            ],
            stdout=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        batch = [b"r%d-%d" % (round_, i) for i in range(n)]
        if b"acknowledged" in out:
            acknowledged += batch
        else:
            maybe += batch
        Sequencer(store, keys).recover()
        entries = check_log(store, keys, settled=False)
        assert store.read(layout.LOCK, layout.MAX_CHECKPOINT_SIZE) == store.read(
            layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE
        )
        # A kill between staging a bundle and swapping the lock leaves that bundle: it
        # is staged on top of the lock (perhaps a live run's, so recover keeps it) and
        # can never commit; the next commit deletes it (checked after the loop).
        for key in store.list(layout.STAGING_PREFIX):
            assert int(key[len(layout.STAGING_PREFIX) :].split("-", 1)[0]) > len(entries), key
        assert set(acknowledged) <= set(entries)
        assert set(entries) <= set(acknowledged) | set(maybe)
        assert len(set(entries)) == len(entries)
    Sequencer(store, keys).sequence([Candidate("", b"after the kills")])
    assert check_log(store, keys)[-1] == b"after the kills"
