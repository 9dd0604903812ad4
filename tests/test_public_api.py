"""The whole library path of ``tlog/__init__.py``'s docstring, with no command line:
make a folder log, sequence a batch, open the log for reading, prove an entry, verify
the offline proof."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import signed_request

import tlog
from tlog.keys import generate, write_new

ORIGIN = "api.example/log"


def test_write_read_prove_and_verify_through_the_public_names(tmp_path: Path) -> None:
    made = generate(ORIGIN)
    write_new(tmp_path / "log.key", made.private_pem, 0o600)  # as tlog keygen writes it
    store = tlog.open_store(str(tmp_path / "log"))
    tlog.Sequencer(store, tlog.load_keys(str(tmp_path / "log.key"), ORIGIN)).init()

    seq = tlog.sequencer_for(store, str(tmp_path / "log.key"))
    batch = [tlog.Candidate(f"a{i}", f"artifact {i}\n".encode()) for i in range(3)]
    result = seq.sequence(batch)  # no admission function: each candidate is one raw entry
    assert [(o.source, o.log_index) for o in result.outcomes] == [("a0", 0), ("a1", 1), ("a2", 2)]
    assert result.checkpoint.checkpoint.size == 3
    rekor = [tlog.Candidate("signed", signed_request(7)), tlog.Candidate("bad", b"{}")]
    outcomes = list(seq.sequence(rekor, tlog.admit_rekor).outcomes)
    assert (outcomes[0].log_index, outcomes[1].log_index) == (3, None)
    assert outcomes[1].error

    vkeys = made.keys.vkeys()
    log = tlog.open_log(
        str(tmp_path / "log"), vkeys, state_dir=tmp_path / "s", cache_dir=tmp_path / "c"
    )
    assert log.latest().checkpoint.size == 4
    proof, entry = log.prove(1)
    assert entry.entry == b"artifact 1\n"

    verified = tlog.verify_proof(proof.format(), tlog.load_vkeys(vkeys), artifact=b"artifact 1\n")
    assert (verified.entry.index, verified.artifact) == (1, "entry is the artifact")
    with pytest.raises(tlog.VerificationError):
        tlog.verify_proof(proof.format(), tlog.load_vkeys(vkeys), artifact=b"artifact 2\n")
