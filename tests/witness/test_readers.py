"""Readers with a witness policy: online (Client, read commands) and offline (tlog
verify) checkpoints are accepted only with the quorum of valid cosignatures."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import run

from tlog import layout
from tlog.client import Client
from tlog.errors import VerificationError
from tlog.fetch.store import StoreFetcher
from tlog.note import Note
from tlog.offline import verify_proof
from tlog.policy import Policy
from tlog.sigstore import TransparencyLogEntry
from tlog.storage.folder import FolderStore
from tlog.storage.memory import MemoryStore
from tlog.witness.client import Witnessing
from tlog.witness.service import Witness

from .conftest import KEYS, Log, cosigner, log_policy

SIGNERS = [cosigner(f"r{n}.example/witness") for n in range(3)]
WITNESS_POLICY = Policy.parse((log_policy() + "quorum none\n").encode())


def policy_text(k: int = 2, signers: list = SIGNERS) -> str:  # type: ignore[type-arg]
    lines = [f"witness w{n} {s.verifier().vkey()} http://w{n}.test" for n, s in enumerate(signers)]
    return "\n".join([*lines, f"group q {k} w0 w1 w2", "quorum q"]) + "\n"


def in_process(up: int) -> Witnessing:
    """Witnessing through Witness objects called directly; only the first ``up`` answer."""
    served = {
        f"http://w{n}.test/add-checkpoint": Witness(s, WITNESS_POLICY, MemoryStore())
        for n, s in enumerate(SIGNERS)
    }

    def post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        if int(url[8]) >= up:
            raise OSError("down")
        r = served[url].add_checkpoint(body)
        return r.status, r.content_type, r.body

    return Witnessing(Policy.parse(policy_text().encode()), post=post, fail_closed=False)


def witnessed(tmp_path: Path, up: int = 3) -> Log:
    log = Log(FolderStore(tmp_path / "log"))
    log.seq.witnessing = in_process(up)
    log.append(5)
    log.append(5)
    return log


def client(log: Log, k: int = 2, signers: list = SIGNERS) -> Client:  # type: ignore[type-arg]
    p = Policy.parse(policy_text(k, signers).encode())
    return Client(StoreFetcher(log.store), KEYS.verifiers(), policy=p)


def test_client_accepts_a_checkpoint_with_the_quorum(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    c = client(log, k=3)
    assert c.size == 10
    assert c.checkpoint_at(5).checkpoint.size == 5


def test_client_refuses_a_checkpoint_below_quorum(tmp_path: Path) -> None:
    log = witnessed(tmp_path, up=1)
    with pytest.raises(VerificationError, match="quorum"):
        client(log).latest()


def test_client_ignores_cosignatures_of_unknown_keys(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    strangers = [cosigner(s.name) for s in SIGNERS]  # same names, other keys
    with pytest.raises(VerificationError, match="quorum"):
        client(log, signers=strangers).latest()


def test_client_refuses_an_altered_cosignature(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    note = log.store.read(layout.CHECKPOINT, 4096)
    lines = note.split(b"\n")
    last = lines[-2]
    lines[-2] = last[:-6] + (b"AAAA==" if not last.endswith(b"AAAA==") else b"BBBB==")
    log.store.write(layout.CHECKPOINT, b"\n".join(lines))
    with pytest.raises(VerificationError, match="does not verify"):
        client(log).latest()


def test_client_refuses_a_replayed_cosignature(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    old = Note.parse(log.store.read(layout.history_key(5), 4096))
    new = Note.parse(log.store.read(layout.CHECKPOINT, 4096))
    log_sigs = [s for s in new.signatures if s.name == KEYS.origin]
    replay = [s for s in old.signatures if s.name != KEYS.origin]
    log.store.write(layout.CHECKPOINT, Note(new.text, (*log_sigs, *replay)).format())
    with pytest.raises(VerificationError, match="another checkpoint"):
        client(log).latest()


def test_offline_proofs_carry_the_cosignatures(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    proof, verified = client(log).prove(7)
    sigstore = TransparencyLogEntry.from_verified(proof, verified, KEYS.verifiers()).format()
    p = Policy.parse(policy_text(3).encode())
    strict = Policy.parse(policy_text(3, [cosigner("x.example/w") for _ in range(3)]).encode())
    for data in (proof.format(), sigstore):
        assert verify_proof(data, KEYS.verifiers(), policy=p).entry.index == 7
        with pytest.raises(VerificationError, match="quorum"):
            verify_proof(data, KEYS.verifiers(), policy=strict)


def test_cli_read_and_verify_take_the_policy(tmp_path: Path) -> None:
    log = witnessed(tmp_path)
    (tmp_path / "vkeys").write_text("\n".join(KEYS.vkeys()) + "\n")
    good, bad = tmp_path / "good.policy", tmp_path / "bad.policy"
    good.write_text(policy_text(3))
    bad.write_text(policy_text(3, [cosigner("x.example/w") for _ in range(3)]))
    common = ["--log", str(tmp_path / "log"), "--vkey", str(tmp_path / "vkeys")]
    common += ["--state-dir", str(tmp_path / "state"), "--cache-dir", str(tmp_path / "cache")]
    code, _, err = run("loginfo", *common, "--witness-policy", str(good))
    assert code == 0, err
    code, _, err = run("loginfo", *common, "--witness-policy", str(bad))
    assert code != 0 and "quorum" in err
    proof_path = tmp_path / "proof"
    code, _, err = run("prove", *common, "--log-index", "3", "--out", str(proof_path))
    assert code == 0, err
    vk = ["--vkey", str(tmp_path / "vkeys"), "--proof", str(proof_path)]
    assert run("verify", *vk, "--witness-policy", str(good))[0] == 0
    code, _, err = run("verify", *vk, "--witness-policy", str(bad))
    assert code != 0 and "quorum" in err
    assert log.n == 10
