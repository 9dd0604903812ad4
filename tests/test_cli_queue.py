"""``tlog submit`` and ``tlog status``: refusals up front, and a submitter's view of the queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import make_log, one_error_line, run, signed_request

from tlog import layout
from tlog.storage.folder import FolderStore


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, Path]:
    return make_log(tmp_path)


def submit(log: tuple[Path, Path], path: Path, *args: str) -> tuple[int, str, str]:
    return run("submit", "--log", str(log[0]), *args, str(path))


def sequence_pending(log: tuple[Path, Path]) -> None:
    logdir, keydir = log
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--pending"
    )
    assert code in (0, 1), err


def status(log: tuple[Path, Path], ref: str, *args: str) -> tuple[int, str, str]:
    return run("status", "--log", str(log[0]), *args, ref)


def test_submit_refuses_what_sequence_would_refuse(log: tuple[Path, Path], tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_bytes(b"not json at all\n")
    code, out, _ = submit(log, f)
    assert code == 1 and out.startswith(f"{f}: refused: not JSON lines")
    f.write_bytes(b'{"kind": "x", "apiVersion": "1", "spec": {}}\n' + signed_request(1) + b"\n")
    code, out, _ = submit(log, f)
    assert code == 1
    first, second = out.splitlines()
    assert first.startswith(f"{f}:1: refused: entry kind 'x' version '1' is not supported")
    assert second.startswith(f"{f}:2: queued ")
    assert len(FolderStore(log[0]).list(layout.PENDING_PREFIX)) == 1


def test_status_of_a_submission_through_its_life(log: tuple[Path, Path], tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_bytes(signed_request(1) + b"\n")
    code, out, err = submit(log, f, "--format", "json")
    assert code == 0, err
    name = json.loads(out)["queued"]
    uuid = name.split("-")[1]
    code, out, _ = status(log, name)
    assert (code, out) == (0, f"queued: {name} (uuid {uuid})\n")
    sequence_pending(log)
    for ref in (name, uuid):
        code, out, _ = status(log, ref)
        assert (code, out) == (0, f"logged at index 0 with UUID {uuid}\n")
    code, out, _ = status(log, uuid, "--format", "json")
    assert json.loads(out) == {"state": "logged", "uuid": uuid, "log_index": 0}


def test_status_of_a_refused_item_gives_the_reason(log: tuple[Path, Path]) -> None:
    from tlog.queue import submit as queue_item

    # Queued past submit's check (an older client, or a policy narrowed since).
    key = queue_item(FolderStore(log[0]), b'{"kind": "nosuchkind", "apiVersion": "1"}', None)
    sequence_pending(log)
    code, out, _ = status(log, key.rsplit("/", 1)[1])
    assert code == 0
    assert out.startswith("refused: entry kind 'nosuchkind' version '1' is not supported")


def test_status_of_what_was_never_submitted(log: tuple[Path, Path]) -> None:
    code, out, _ = status(log, "ab" * 32)
    assert code == 1 and out.startswith("not found")
    code, _, err = status(log, "../../etc/passwd")
    assert code == 1 and "neither a queue key nor a UUID" in one_error_line(err)
