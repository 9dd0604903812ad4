"""The witness's answers (C2SP tlog-witness "add-checkpoint"), status by status, and
its memory across restarts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tlog import merkle
from tlog.checkpoint import Checkpoint
from tlog.fetch.store import StoreFetcher
from tlog.fetch.tiles import TileReader
from tlog.keys import generate
from tlog.note import Note, sign
from tlog.policy import Policy
from tlog.storage import Store
from tlog.storage.folder import FolderStore
from tlog.storage.memory import MemoryStore
from tlog.witness.protocol import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    origin_path,
    parse_cosignatures,
)
from tlog.witness.service import Witness

from .conftest import KEYS, NOW, ORIGIN, Log, cosigner, log_policy

SIGNER = cosigner("w.example/w1")
POLICY = Policy.parse(
    (log_policy() + f"witness w1 {SIGNER.verifier().vkey()}\nquorum w1\n").encode()
)


def proof(log: Log, old: int, note: bytes) -> tuple[bytes, ...]:
    cp = Checkpoint.parse(Note.parse(note).text)
    if old in (0, cp.size):
        return ()
    reader = TileReader(cp, StoreFetcher(log.store))
    return tuple(merkle.consistency_proof(old, cp.size, reader.read))


def request(log: Log, old: int, note: bytes) -> bytes:
    return AddCheckpoint(old, proof(log, old, note), note).format()


@pytest.fixture
def witness() -> Witness:
    return Witness(SIGNER, POLICY, MemoryStore())


def test_cosigns_a_first_checkpoint_then_a_consistent_one(witness: Witness) -> None:
    log = Log()
    note = log.append(3)
    reply = witness.add_checkpoint(request(log, 0, note))
    assert (reply.status, reply.content_type) == (200, "text/plain; charset=utf-8")
    sigs = parse_cosignatures(Note.parse(note), reply.body)
    cosigned = Note(Note.parse(note).text, sigs)
    assert POLICY.check(cosigned) == {"w1": NOW}
    note2 = log.append(300)
    assert witness.add_checkpoint(request(log, 3, note2)).status == 200
    assert witness.add_checkpoint(request(log, 303, note2)).status == 200  # the same again
    served = witness.checkpoint(origin_path(ORIGIN))
    assert served is not None
    assert Checkpoint.parse(Note.parse(served).text).size == 303
    assert POLICY.check(Note.parse(served))


def test_old_size_other_than_the_recorded_one_is_a_409_with_the_size(witness: Witness) -> None:
    log = Log()
    witness.add_checkpoint(request(log, 0, log.append(5)))
    note = log.append(5)
    for old in (0, 3):
        reply = witness.add_checkpoint(request(log, old, note))
        assert (reply.status, reply.body, reply.content_type) == (409, b"5\n", SIZE_CONTENT_TYPE)


def test_a_fork_at_the_same_size_is_a_409(witness: Witness) -> None:
    log, fork = Log(), Log(tag="fork")
    assert witness.add_checkpoint(request(log, 0, log.append(5))).status == 200
    reply = witness.add_checkpoint(request(fork, 5, fork.append(5)))
    assert (reply.status, reply.body, reply.content_type) == (409, b"5\n", SIZE_CONTENT_TYPE)


def test_a_fork_at_a_larger_size_fails_its_proof_with_422(witness: Witness) -> None:
    log, fork = Log(), Log(tag="fork")
    assert witness.add_checkpoint(request(log, 0, log.append(5))).status == 200
    fork.append(5)
    reply = witness.add_checkpoint(request(fork, 5, fork.append(5)))
    assert reply.status == 422


def test_a_bad_proof_is_a_422(witness: Witness) -> None:
    log = Log()
    assert witness.add_checkpoint(request(log, 0, log.append(5))).status == 200
    note = log.append(7)
    hashes = list(proof(log, 5, note))
    hashes[0] = bytes(32)
    assert witness.add_checkpoint(AddCheckpoint(5, tuple(hashes), note).format()).status == 422
    assert witness.add_checkpoint(AddCheckpoint(5, (), note).format()).status == 422
    assert witness.add_checkpoint(request(log, 5, note)).status == 200


def test_a_rollback_is_refused(witness: Witness) -> None:
    log = Log()
    old = log.append(5)
    assert witness.add_checkpoint(request(log, 0, log.append(5))).status == 200
    assert witness.add_checkpoint(AddCheckpoint(10, (), old).format()).status == 400
    reply = witness.add_checkpoint(request(log, 0, old))
    assert (reply.status, reply.body) == (409, b"10\n")


def test_unknown_origin_is_a_404(witness: Witness) -> None:
    other = Log(keys=generate("other.example/log").keys)
    assert witness.add_checkpoint(request(other, 0, other.append(1))).status == 404


def test_bad_or_missing_log_signatures_are_a_403(witness: Witness) -> None:
    log = Log()
    note = Note.parse(log.append(2))
    impostor = generate(ORIGIN).keys  # same origin, another key
    forged = sign(note.text, impostor.signers(lambda: 0)).format()
    assert witness.add_checkpoint(AddCheckpoint(0, (), forged).format()).status == 403
    tampered = Note(
        note.text,
        (
            note.signatures[0].__class__(
                note.signatures[0].name, note.signatures[0].key_id, bytes(64)
            ),
        ),
    ).format()
    assert witness.add_checkpoint(AddCheckpoint(0, (), tampered).format()).status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 01\n\n" + b"x",
        b"new 0\n\n",
        b"old 0\nAAAA\n\n",
        b"old 0\n\nnot a note\n",
    ],
)
def test_malformed_requests_are_a_400(witness: Witness, body: bytes) -> None:
    assert witness.add_checkpoint(body).status == 400


def test_oversize_request_is_a_413(witness: Witness) -> None:
    assert witness.add_checkpoint(b"old 0\n\n" + b"x" * 70_000).status == 413


def test_old_size_above_the_checkpoint_is_a_400(witness: Witness) -> None:
    log = Log()
    assert (
        witness.add_checkpoint(AddCheckpoint(9, (bytes(32),), log.append(3)).format()).status == 400
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    log, fork = Log(), Log(tag="fork")
    first = Witness(SIGNER, POLICY, FolderStore(tmp_path))
    assert first.add_checkpoint(request(log, 0, log.append(4))).status == 200
    again = Witness(SIGNER, POLICY, FolderStore(tmp_path))
    assert again.add_checkpoint(request(fork, 0, fork.append(4))).body == b"4\n"
    assert again.add_checkpoint(request(fork, 4, fork.append(4))).status == 422
    assert again.add_checkpoint(request(log, 4, log.append(4))).status == 200


def test_a_policy_without_logs_is_refused() -> None:
    with pytest.raises(Exception, match="lists no log"):
        Witness(SIGNER, Policy.parse(b"quorum none\n"), MemoryStore())


def test_log_keys_are_the_policys_not_the_timestamp_key() -> None:
    # The log's own cosignature/v1 timestamp line is not a log signature to a witness.
    assert all(v.name == ORIGIN for v in POLICY.log_verifiers(ORIGIN))
    assert len(POLICY.log_verifiers(ORIGIN)) == 1
    assert KEYS.origin == ORIGIN


def test_witnesses_sharing_one_state_never_cosign_a_fork(store: Store) -> None:
    """Two witness processes on one state (a folder, or S3 for a stateless witness):
    the compare-and-swap lets one branch of a fork through, never both."""
    log, fork = Log(), Log()
    a, b = Witness(SIGNER, POLICY, store), Witness(SIGNER, POLICY, store)
    assert a.add_checkpoint(request(log, 0, log.append(4))).status == 200
    assert b.add_checkpoint(request(fork, 0, fork.append(4))).body == b"4\n"
    fork.tag = "fork"  # the same first 4 entries, then another history
    notes = [log.append(4), fork.append(8)]
    with ThreadPoolExecutor(2) as pool:
        replies = list(
            pool.map(
                lambda wl: wl[0].add_checkpoint(request(wl[1], 4, wl[2])),
                [(a, log, notes[0]), (b, fork, notes[1])],
            )
        )
    assert sorted(r.status for r in replies) == [200, 409]
    served = a.checkpoint(origin_path(ORIGIN))
    assert served is not None
    winner = notes[[r.status for r in replies].index(200)]
    assert Note.parse(served).text == Note.parse(winner).text
