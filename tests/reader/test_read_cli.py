"""The read commands end to end on the golden log, over a folder, HTTP and S3."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog import layout
from tlog.checkpoint import open_checkpoint
from tlog.cli import main
from tlog.client import load_vkeys
from tlog.storage import Store
from tlog.storage.folder import FolderStore

from .conftest import GOLDEN, MakeLog
from .logserver import LogServer

VKEY = str(GOLDEN / "log.vkey")
GOLDEN_STORE = FolderStore(GOLDEN)
VERIFIERS = load_vkeys((VKEY,))


def golden_entry(i: int) -> bytes:
    return f"golden entry {i}: {hashlib.sha256(str(i).encode()).hexdigest()}\n".encode()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def dirs(tmp_path: Path) -> list[str]:
    return ["--state-dir", str(tmp_path / "state"), "--cache-dir", str(tmp_path / "cache")]


@pytest.fixture(params=["folder", "http", "s3"])
def location(
    request: pytest.FixtureRequest, serve: Callable[[Store], LogServer]
) -> tuple[str, list[str]]:
    """(--log value, extra options) for the golden log published three ways."""
    if request.param == "folder":
        return str(GOLDEN), []
    if request.param == "http":
        return serve(GOLDEN_STORE).url, []
    from tlog.storage.s3 import S3Store

    endpoint, bucket = request.getfixturevalue("s3_bucket")
    store = S3Store.from_url(f"s3://{bucket}/golden", endpoint_url=endpoint)
    for f in sorted(GOLDEN.rglob("*")):
        key = f.relative_to(GOLDEN).as_posix()
        if f.is_file() and layout.is_public(key):
            store.write(key, f.read_bytes())
    return f"s3://{bucket}/golden", ["--endpoint-url", endpoint]


def history_time(size: int) -> int:
    signed = open_checkpoint(GOLDEN_STORE.read(layout.history_key(size), 1 << 20), VERIFIERS)
    assert signed.timestamp is not None
    return signed.timestamp


def test_every_command_everywhere(
    location: tuple[str, list[str]], dirs: list[str], tmp_path: Path
) -> None:
    log, extra = location
    common = ["--log", log, "--vkey", VKEY, *dirs, *extra]

    code, out, err = invoke("loginfo", *common)
    assert code == 0, err
    assert "Verification Successful!" in out and "Tree Size: 701" in out

    code, out, err = invoke("get", *common, "--log-index", "300")
    assert code == 0, err
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    uuid = hashlib.sha256(b"\0" + golden_entry(300)).hexdigest()
    assert fields["Index"] == "300" and fields["UUID"] == uuid
    assert len(fields["LogID"]) == 64
    assert fields["Body"] == "base64:" + base64.b64encode(golden_entry(300)).decode()
    # Index 300 came in the batch published as checkpoints/512.
    assert fields["IntegratedTime"].startswith("2026-01-01T")

    code, out, err = invoke("get", *common, "--uuid", uuid, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["logIndex"] == 300 and doc["integratedTime"] == history_time(512)
    assert doc["verification"]["inclusionProof"]["treeSize"] == 512

    proofs = {}
    for fmt in ("tlog-proof", "sigstore"):
        out_path = tmp_path / f"proof.{fmt}"
        code, _, err = invoke(
            "prove", *common, "--log-index", "300", "--format", fmt, "--out", str(out_path)
        )
        assert code == 0, err
        proofs[fmt] = out_path
        artifact = tmp_path / "artifact"
        artifact.write_bytes(golden_entry(300))
        code, out, err = invoke(
            "verify", "--vkey", VKEY, "--proof", str(out_path), "--artifact", str(artifact)
        )
        assert code == 0, err
        assert "Index: 300" in out and "Artifact: entry is the artifact" in out

    code, out, err = invoke(
        "logproof", *common, "--first-size", "16", "--last-size", "701", "--format", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["firstSize"] == 16 and doc["lastSize"] == 701 and doc["hashes"]

    code, out, err = invoke("audit", *common)
    assert code == 0, err
    assert out.startswith("Audit passed: golden.tlog.example/log size 701")
    assert "10 published checkpoints" in out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_prove_to_stdout_and_verify_edits(dirs: list[str], tmp_path: Path) -> None:
    code, out, err = invoke(
        "prove", "--log", str(GOLDEN), "--vkey", VKEY, *dirs, "--log-index", "700"
    )
    assert code == 0, err
    assert out.startswith("c2sp.org/tlog-proof@v1\nextra ")
    good = out.encode()
    path = tmp_path / "p"
    for pos in range(0, len(good), 7):
        bad = bytearray(good)
        bad[pos] ^= 0x04
        path.write_bytes(bytes(bad))
        code, _, err = invoke("verify", "--vkey", VKEY, "--proof", str(path))
        assert code == 1 and err.startswith("tlog: error: ") and err.count("\n") == 1, (pos, err)
    path.write_bytes(good)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(golden_entry(699))
    code, _, err = invoke("verify", "--vkey", VKEY, "--proof", str(path), "--artifact", str(wrong))
    assert code == 1 and "not about this artifact" in err


def test_vkey_forms_and_usage_errors(dirs: list[str]) -> None:
    lines = (GOLDEN / "log.vkey").read_text().split()
    code, out, err = invoke(
        "loginfo",
        "--log",
        str(GOLDEN),
        "--vkey",
        lines[0],
        "--vkey",
        lines[1],
        *dirs,
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["treeSize"] == 701
    code, _, err = invoke("loginfo", "--log", str(GOLDEN), *dirs)
    assert code == 2 and "Missing option '--vkey'" in err  # a usage error, as click's
    code, _, err = invoke("loginfo", "--log", str(GOLDEN), "--vkey", "nonsense", *dirs)
    assert code == 1 and "neither a vkey nor an existing file" in err and err.count("\n") == 1
    for args, message in [
        (("--log-index", "1", "--uuid", "ab"), "exactly one"),
        (("--uuid", "zz"), "64 hex digits"),
        (("--log-index", "701"), "no entry 701"),
        (("--uuid", "00" * 32), "no entry with UUID"),
    ]:
        code, _, err = invoke("get", "--log", str(GOLDEN), "--vkey", VKEY, *dirs, *args)
        assert code == 1 and message in err and err.count("\n") == 1, err


def test_rekor_uuid_with_tree_id_and_json_bodies(
    make_log: MakeLog, dirs: list[str], tmp_path: Path
) -> None:
    from tlog.sequencer import Candidate

    log = make_log(())
    body = json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}}).encode()
    log.sequencer.sequence([Candidate("a", body)])
    folder = tmp_path / "log"
    for key in log.store.list(""):
        if layout.is_public(key):
            FolderStore(folder).write(key, log.store.read(key, 1 << 24))
    vkey = tmp_path / "v"
    vkey.write_text(log.vkeys)
    uuid = "0123456789abcdef" + hashlib.sha256(b"\0" + body).hexdigest()
    code, out, err = invoke("get", "--log", str(folder), "--vkey", str(vkey), *dirs, "--uuid", uuid)
    assert code == 0, err
    assert 'Body: {\n  "HashedRekordObj": {}\n}' in out  # rekor-cli's typed view
    code, out, err = invoke(
        "prove",
        "--log",
        str(folder),
        "--vkey",
        str(vkey),
        *dirs,
        "--log-index",
        "0",
        "--format",
        "sigstore",
    )
    assert code == 0, err
    assert json.loads(out)["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}


def test_far_future_signed_time_is_printed_as_a_number(
    make_log: MakeLog, serve: Callable[[Store], LogServer], dirs: list[str], tmp_path: Path
) -> None:
    log = make_log()
    log.now = 1 << 40  # year 36812: a signed time that datetime cannot show
    log.append(3)
    vkey = tmp_path / "v"
    vkey.write_text(log.vkeys)
    common = ["--log", serve(log.store).url, "--vkey", str(vkey), *dirs]
    code, out, err = invoke("loginfo", *common)
    assert code == 0, err
    assert f"Timestamp: {(1 << 40) + 60} (seconds since the epoch" in out
    code, out, err = invoke("get", *common, "--log-index", "1")
    assert code == 0, err
    assert f"IntegratedTime: {(1 << 40) + 60} (seconds since the epoch" in out


def test_deeply_nested_json_entry(
    make_log: MakeLog, serve: Callable[[Store], LogServer], dirs: list[str], tmp_path: Path
) -> None:
    from tlog.sequencer import Candidate

    log = make_log()
    deep = b"[" * 30_000 + b"]" * 30_000
    log.sequencer.sequence([Candidate("deep", deep)])
    vkey = tmp_path / "v"
    vkey.write_text(log.vkeys)
    common = ["--log", serve(log.store).url, "--vkey", str(vkey), *dirs]
    code, out, err = invoke("get", *common, "--log-index", "0")
    assert code == 0, err
    assert "Body: base64:W1tb" in out
    proof = tmp_path / "p.json"
    code, _, err = invoke(
        "prove", *common, "--log-index", "0", "--format", "sigstore", "--out", str(proof)
    )
    assert code == 0, err
    assert json.loads(proof.read_text())["kindVersion"] == {"kind": "raw", "version": "0.0.1"}
    code, out, err = invoke("verify", "--vkey", str(vkey), "--proof", str(proof))
    assert code == 0 and "Verification Successful!" in out, err
    # A proof file nested too deeply is refused in one line.
    proof.write_bytes(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    code, _, err = invoke("verify", "--vkey", str(vkey), "--proof", str(proof))
    assert code == 1 and err.count("\n") == 1 and "nests deeper than" in err, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--vkey", "/dev/zero", "--log", str(GOLDEN)), "too large to be a vkey file"),
        (("--vkey", VKEY, "--log", "http://[::1"), "not a usable http(s) URL"),
    ],
)
def test_hostile_options_fail_in_one_line(
    dirs: list[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = invoke("loginfo", *args, *dirs)
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_json_integers_of_thousands_of_digits_are_data_not_a_crash(
    make_log: MakeLog, dirs: list[str], tmp_path: Path
) -> None:
    from tlog.sequencer import Candidate

    log = make_log()
    body = b'{"kind": "x", "n": ' + b"9" * 5000 + b"}"
    log.sequencer.sequence([Candidate("big", body)])
    folder = tmp_path / "log"
    for key in log.store.list(""):
        if layout.is_public(key):
            FolderStore(folder).write(key, log.store.read(key, 1 << 24))
    vkey = tmp_path / "v"
    vkey.write_text(log.vkeys)
    common = ["--log", str(folder), "--vkey", str(vkey), *dirs, "--log-index", "0"]
    code, out, err = invoke("get", *common)
    assert code == 0 and "Body: base64:" in out, err
    proof = tmp_path / "p.json"
    code, _, err = invoke("prove", *common, "--format", "sigstore", "--out", str(proof))
    assert code == 0, err
    assert json.loads(proof.read_text())["kindVersion"] == {"kind": "raw", "version": "0.0.1"}
    artifact = tmp_path / "a"
    artifact.write_bytes(body)
    for args in (("--proof", str(proof)), ("--proof", str(proof), "--artifact", str(artifact))):
        code, out, err = invoke("verify", "--vkey", str(vkey), *args)
        assert code == 0 and "Verification Successful!" in out, err
    # A proof file carrying such an integer is refused in one line.
    proof.write_text(proof.read_text().replace('"logIndex": "0"', '"logIndex": ' + "1" * 5000))
    code, _, err = invoke("verify", "--vkey", str(vkey), "--proof", str(proof))
    assert code == 1 and err.count("\n") == 1 and "not valid JSON" in err, err


def test_prove_format_json_holds_both_proofs(dirs: list[str]) -> None:
    common = ["--log", str(GOLDEN), "--vkey", VKEY, *dirs]
    code, out, err = invoke("prove", *common, "--log-index", "5", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["logIndex"] == 5 and doc["tlogProof"].startswith("c2sp.org/tlog-proof@v1\n")
    assert doc["transparencyLogEntry"]["logIndex"] == "5"
    assert doc["integratedTime"] == int(doc["transparencyLogEntry"]["integratedTime"])


def test_two_logs_with_one_origin_and_two_keys_keep_two_histories(
    dirs: list[str], tmp_path: Path
) -> None:
    # The README's demo log and its real one share an origin but not a key.
    from tlog.keys import generate
    from tlog.sequencer import Sequencer
    from tlog.storage.memory import MemoryStore

    logs = []
    for name in ("one", "two"):
        store, keys = MemoryStore(), generate("same.example/log").keys
        Sequencer(store, keys, clock=lambda: 1_767_225_600).init()
        folder = tmp_path / name
        for key in store.list(""):
            if layout.is_public(key):
                FolderStore(folder).write(key, store.read(key, 1 << 20))
        (tmp_path / f"{name}.vkey").write_text("".join(v + "\n" for v in keys.vkeys()))
        logs.append(["--log", str(folder), "--vkey", str(tmp_path / f"{name}.vkey"), *dirs])
    code, _, err = invoke("loginfo", *logs[0])
    assert code == 0 and err == "", err
    code, out, err = invoke("loginfo", *logs[1])
    assert code == 0 and "Verification Successful!" in out, err
    assert "same.example/log was read before with another key" in err
    assert "remove that file to forget the old key" in err and err.count("\n") == 1
    for log in logs:  # both now have their own history, and say nothing more
        code, _, err = invoke("loginfo", *log)
        assert code == 0 and err == "", err
