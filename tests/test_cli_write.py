"""The operator/publisher CLI: init, sequence, submit — and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import ORIGIN, make_log, one_error_line, run, signed_request, snapshot
from logcheck import check_log

from tlog import layout
from tlog.keys import load_keys
from tlog.storage.folder import FolderStore


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, Path]:
    return make_log(tmp_path)


def test_sequence_raw_files_prints_index_uuid_and_checkpoint(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    files = []
    for i in range(3):
        f = tmp_path / f"artifact{i}"
        f.write_bytes(b"artifact %d" % i)
        files.append(str(f))
    code, out, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--raw", *files
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{files[0]}: index 0 uuid ")
    assert lines[2].startswith(f"{files[2]}: index 2 uuid ")
    assert lines[3] == ORIGIN and lines[4] == "3"
    keys = load_keys(str(keydir / "log.key"), ORIGIN)
    assert check_log(FolderStore(logdir), keys) == [b"artifact 0", b"artifact 1", b"artifact 2"]


def test_sequence_json_format_is_machine_readable(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "a"
    f.write_bytes(b"x")
    code, out, _ = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        "--format",
        "json",
        str(f),
    )
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs[0]["index"] == 0 and len(docs[0]["uuid"]) == 64
    assert docs[1]["size"] == 1 and docs[1]["checkpoint"].startswith(ORIGIN + "\n1\n")


def test_unreadable_and_oversize_inputs_are_refused_and_the_rest_goes_on(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    good = tmp_path / "good"
    good.write_bytes(b"fine")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    code, out, _err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        str(tmp_path / "missing"),
        str(big),
        str(good),
    )
    assert code == 1
    assert f"{tmp_path / 'missing'}: refused: cannot read" in out
    assert f"{big}: refused: entry is larger than the 65535-byte limit" in out
    assert f"{good}: index 0 uuid" in out


def test_nothing_admissible_writes_nothing(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    before = snapshot(logdir)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), str(empty)
    )
    assert code == 1 and "empty" in one_error_line(err)
    code, _out, err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        str(tmp_path / "nope"),
    )
    assert code == 1 and "nothing written" in one_error_line(err)
    code, _, err = run("sequence", "--log", str(logdir), "--key", str(keydir / "log.key"))
    assert code == 1 and "--pending" in one_error_line(err)
    assert snapshot(logdir) == before


def test_unsupported_json_entries_get_a_reason(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "batch.jsonl"
    f.write_text('{"kind": "nosuchkind", "apiVersion": "9.9.9", "spec": {}}\nnot json\n')
    key = str(keydir / "log.key")
    code, out, _err = run("sequence", "--log", str(logdir), "--key", key, str(f))
    assert code == 1
    assert f"{f}:1: refused: entry kind 'nosuchkind' version '9.9.9' is not supported" in out
    assert f"{f}:2: refused: not a JSON document" in out


def test_missing_key_mismatched_key_and_unwritable_target(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    before = snapshot(logdir)
    f = tmp_path / "a"
    f.write_bytes(b"x")
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(tmp_path / "nokey"), "--raw", str(f)
    )
    assert code == 1 and "does not exist" in one_error_line(err)
    run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "other"))
    code, _, err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(tmp_path / "other" / "log.key"),
        "--raw",
        str(f),
    )
    assert code == 1 and "key does not match" in one_error_line(err)
    assert snapshot(logdir) == before
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    code, _, err = run(
        "init", "--log", str(blocker / "log"), "--origin", ORIGIN, "--key", str(keydir / "log.key")
    )
    assert code == 1
    one_error_line(err)
    code, _, err = run(
        "init",
        "--log",
        "http://127.0.0.1:9/log",
        "--origin",
        ORIGIN,
        "--key",
        str(keydir / "log.key"),
    )
    assert code == 1 and "read-only" in one_error_line(err)


def test_submit_then_sequence_pending(log: tuple[Path, Path], tmp_path: Path) -> None:
    logdir, keydir = log
    f = tmp_path / "q.jsonl"
    f.write_bytes(signed_request(1) + b"\n")
    code, _, err = run("submit", "--log", str(logdir), str(f), str(f))
    assert code == 0, err
    assert len(FolderStore(logdir).list(layout.PENDING_PREFIX)) == 1  # the same entry once
    code, _out, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--pending"
    )
    assert code == 0, err
    assert FolderStore(logdir).list(layout.PENDING_PREFIX) == []
    keys = load_keys(str(keydir / "log.key"), ORIGIN)
    (entry,) = check_log(FolderStore(logdir), keys)
    assert b'"kind":"hashedrekord"' in entry


def test_a_batch_mixing_good_and_bad_rekor_entries(log: tuple[Path, Path], tmp_path: Path) -> None:
    """Good hashedrekord entries land; bad ones get a reason; nothing is lost."""
    from tlog.entries.proposal import build_proposal

    logdir, keydir = log
    data = Path(__file__).parent / "entries" / "data"
    artifact = (data / "artifact.txt").read_bytes()
    good = build_proposal(
        "hashedrekord",
        pki_format="x509",
        artifact=artifact,
        signature=(data / "x509" / "p256.sig").read_bytes(),
        public_keys=[(data / "x509" / "p256.pub.pem").read_bytes()],
    )
    bad_sig = build_proposal(
        "hashedrekord",
        pki_format="x509",
        artifact=artifact + b"tampered",
        signature=(data / "x509" / "p256.sig").read_bytes(),
        public_keys=[(data / "x509" / "p256.pub.pem").read_bytes()],
    )
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"\n".join([good, bad_sig, b'{"kind": "hashedrekord"}', good]) + b"\n")
    key = str(keydir / "log.key")
    code, out, _ = run("sequence", "--log", str(logdir), "--key", key, str(batch))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{batch}:1: index 0 uuid ")
    assert lines[1].startswith(f"{batch}:2: refused: ") and "signature" in lines[1]
    assert lines[2].startswith(f"{batch}:3: refused: ")
    assert lines[3].startswith(f"{batch}:4: index 0 uuid ") and "duplicate" in lines[3]
    keys = load_keys(key, ORIGIN)
    (entry,) = check_log(FolderStore(logdir), keys)
    assert b'"kind":"hashedrekord"' in entry


def test_hostile_bytes_in_a_refusal_reason_still_print(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, keydir = log
    f = tmp_path / "evil.jsonl"
    f.write_text('{"hashedRekordRequestV002": {"\\ud800": 1}}\n')
    code, out, err = run("sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), str(f))
    assert code == 1
    assert f"{f}:1: refused: " in out
    one_error_line(err)


# -- issue 8: what a new user and an attacker hit ----------------------------------


def sequence_args(log: tuple[Path, Path], *args: str) -> list[str]:
    logdir, keydir = log
    return ["sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), *args]


def test_init_json(tmp_path: Path) -> None:
    run("keygen", "--origin", ORIGIN, "--out", str(tmp_path / "k"))
    key = str(tmp_path / "k" / "log.key")
    code, out, _ = run(
        "init", "--log", str(tmp_path / "l"), "--origin", ORIGIN, "--key", key, "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["size"] == 0 and doc["origin"] == ORIGIN
    assert doc["checkpoint"].startswith(f"{ORIGIN}\n0\n")


def test_pending_on_an_empty_queue_is_not_an_error(log: tuple[Path, Path]) -> None:
    before = snapshot(log[0])
    code, out, err = run(*sequence_args(log, "--pending"))
    assert code == 0, err
    assert out == "" and "nothing to sequence" in err
    assert snapshot(log[0]) == before


def test_a_run_that_publishes_another_runs_batch_says_so(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    from tlog.admission import Candidate
    from tlog.sequencer import Sequencer, Watcher

    class Died(BaseException):
        pass

    class DieAfterCommit(Watcher):
        def committed(self, size: int) -> None:
            raise Died

    logdir, keydir = log
    keys = load_keys(str(keydir / "log.key"), ORIGIN)
    with pytest.raises(Died):
        Sequencer(FolderStore(logdir), keys, watcher=DieAfterCommit()).sequence(
            [Candidate("a", b"theirs")]
        )
    f = tmp_path / "mine"
    f.write_bytes(b"mine")
    code, out, err = run(*sequence_args(log, "--raw", str(f)))
    assert code == 0, err
    assert "published a batch that another sequencer committed (size 1)" in out
    assert "interrupted" not in out + err
    assert f"{f}: index 1 uuid" in out
    assert check_log(FolderStore(logdir), keys) == [b"theirs", b"mine"]


def test_a_clean_up_failure_after_publishing_is_a_warning(
    log: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tlog.cli import write
    from tlog.errors import StorageError

    class NoDelete(FolderStore):
        def delete(self, key: str) -> None:
            raise StorageError(f"injected: cannot delete {key}")

    logdir, _keydir = log
    monkeypatch.setattr(write, "open_store", lambda location, endpoint: NoDelete(logdir))
    f = tmp_path / "a"
    f.write_bytes(b"a")
    code, out, err = run(*sequence_args(log, "--raw", str(f)))
    assert code == 0, err
    assert f"{f}: index 0 uuid" in out and out.splitlines()[-1].startswith("— ")
    assert "warning" in err and "the next run finishes the clean-up" in err
    assert FolderStore(logdir).list(layout.STAGING_PREFIX)
    monkeypatch.undo()
    code, _, err = run(*sequence_args(log, "--pending"))
    assert code == 0, err
    assert FolderStore(logdir).list(layout.STAGING_PREFIX) == []


def test_raw_directories_and_files_from(log: tuple[Path, Path], tmp_path: Path) -> None:
    tree = tmp_path / "dist"
    (tree / "b").mkdir(parents=True)
    (tree / "b" / "2.tar").write_bytes(b"two")
    (tree / "a.tar").write_bytes(b"one")
    (tree / "c.tar").write_bytes(b"three")
    listed = tmp_path / "x.tar"
    listed.write_bytes(b"listed")
    more = tmp_path / "y.tar"
    more.write_bytes(b"more")
    names = tmp_path / "files.txt"
    names.write_text(f"{listed}\n\n")
    code, _out, err = run(*sequence_args(log, "--raw", "--files-from", str(names), str(tree)))
    assert code == 0, err
    code, _out2, err = run(
        *sequence_args(log, "--raw", "--files-from", "-"), input=f"{more}\n".encode()
    )
    assert code == 0, err
    keys = load_keys(str(log[1] / "log.key"), ORIGIN)
    entries = check_log(FolderStore(log[0]), keys)
    assert entries == [b"one", b"two", b"three", b"listed", b"more"]  # sorted, recursive
    code, _, err = run(*sequence_args(log, "--raw", "--files-from", "-", "-"), input=b"")
    assert code == 1 and "standard input" in one_error_line(err)


def test_a_binary_file_without_raw_is_refused_once(log: tuple[Path, Path], tmp_path: Path) -> None:
    tar = tmp_path / "app.tar"
    tar.write_bytes(b"app/\x00\x00\x00\x00" + bytes(range(256)) * 40 + b"\n" * 50)
    latin = tmp_path / "notes.txt"
    latin.write_bytes("caf\xe9 au lait\nline two\n".encode("latin-1"))
    prose = tmp_path / "README"
    prose.write_text("hello\nworld\n")
    code, out, _ = run(*sequence_args(log, str(tar), str(latin), str(prose)))
    assert code == 1
    lines = out.splitlines()
    assert lines == [
        f"{p}: refused: not JSON lines; did you mean --raw?" for p in (tar, latin, prose)
    ]


def test_the_entry_limit_error_says_the_way_out(log: tuple[Path, Path], tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 65_536)
    code, out, _ = run(*sequence_args(log, "--raw", str(big)))
    assert code == 1
    assert "65535-byte limit" in out and "hashedrekord" in out and "manifest" in out
    code, out, _ = run(*sequence_args(log, "--raw", "--format", "json", str(big)))
    (refusal,) = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and refusal["source"] == str(big)
    assert all(w in refusal["error"] for w in ("65535-byte limit", "hashedrekord", "manifest"))


def test_hostile_entries_never_stop_the_batch(log: tuple[Path, Path], tmp_path: Path) -> None:
    f = tmp_path / "batch.jsonl"
    f.write_bytes(
        b"\n".join(
            [
                signed_request(1),
                b"{" + b'"a":[' * 50_000 + b"1" + b"]" * 50_000 + b"}",
                b'{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": ' + b"9" * 5000 + b"}",
                signed_request(2),
            ]
        )
        + b"\n"
    )
    code, out, err = run(*sequence_args(log, str(f)))
    assert code == 1 and "Traceback" not in err
    lines = out.splitlines()
    assert lines[0].startswith(f"{f}:1: index 0 uuid")
    assert lines[1].startswith(f"{f}:2: refused: ")
    assert lines[2].startswith(f"{f}:3: refused: ")
    assert lines[3].startswith(f"{f}:4: index 1 uuid")


def test_no_progress_when_stderr_is_not_a_terminal(log: tuple[Path, Path], tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"a")
    code, _, err = run(*sequence_args(log, "--raw", str(f)))
    assert code == 0 and err == ""


def test_a_batch_over_chunk_entries_is_logged_in_chunks(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each chunk is published with its own checkpoint; running the batch again reports
    what is logged as already logged, at its index."""
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"".join(signed_request(i) + b"\n" for i in range(5)))
    code, out, err = run(*sequence_args(log, "--chunk-entries", "2", str(batch)))
    assert code == 0, err
    assert [line.split(": ")[1].split(" uuid")[0] for line in out.splitlines()[:5]] == [
        f"index {i}" for i in range(5)
    ]
    store = FolderStore(log[0])
    assert [store.read(layout.history_key(n), 1 << 20) for n in (2, 4, 5)]
    code, out, err = run(*sequence_args(log, "--chunk-entries", "2", str(batch)))
    assert code == 0, err
    assert [line.split(": ", 1)[1] for line in out.splitlines()[:5]] == [
        f"index {i} uuid {u} (duplicate: already at that index)"
        for i, u in enumerate(line.split("uuid ")[1].split()[0] for line in out.splitlines()[:5])
    ]


def test_sequence_with_a_key_recording_its_origin_reads_the_lock_once(
    log: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The origin comes from the key file: no read of the lock just to learn it (a round
    trip on S3); the load step checks the key against the lock."""
    logdir, keydir = log
    reads: list[str] = []
    read, read_versioned = FolderStore.read, FolderStore.read_versioned

    def counted(self: FolderStore, key: str, limit: int) -> bytes:
        reads.append(key)
        return read(self, key, limit)

    def counted_versioned(self: FolderStore, key: str, limit: int) -> tuple[bytes, str]:
        reads.append(key)
        return read_versioned(self, key, limit)

    monkeypatch.setattr(FolderStore, "read", counted)
    monkeypatch.setattr(FolderStore, "read_versioned", counted_versioned)
    f = tmp_path / "a"
    f.write_bytes(b"x")
    code, _, err = run(
        "sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--raw", str(f)
    )
    assert code == 0, err
    assert reads.count(layout.LOCK) == 1


def test_sequence_with_another_log_s_key_names_both_origins(
    log: tuple[Path, Path], tmp_path: Path
) -> None:
    logdir, _ = log
    before = snapshot(logdir)
    run("keygen", "--origin", "other.example/log", "--out", str(tmp_path / "other"))
    f = tmp_path / "a"
    f.write_bytes(b"x")
    key = str(tmp_path / "other" / "log.key")
    code, _, err = run("sequence", "--log", str(logdir), "--key", key, "--raw", str(f))
    line = one_error_line(err)
    assert code == 1 and "key does not match" in line
    assert ORIGIN in line and "other.example/log" in line
    assert snapshot(logdir) == before
