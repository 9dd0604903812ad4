"""The index on the command line: search, get --uuid, online verify, index rebuild."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from clirun import make_log, run
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.index.signing import document, identity
from tests.test_serve import serving
from tlog.entries.proposal import build_proposal
from tlog.index.rebuild import rebuild
from tlog.keys import load_keys
from tlog.sequencer import peek_origin
from tlog.serve import folder_reader
from tlog.storage.folder import FolderStore


def reader_args(logdir: Path | str, keydir: Path, tmp_path: Path) -> list[str]:
    return [
        "--log",
        str(logdir),
        "--vkey",
        str(keydir / "log.vkey"),
        "--state-dir",
        str(tmp_path / "state"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]


def raw_log(tmp_path: Path, n: int = 5) -> tuple[Path, Path, list[Path]]:
    logdir, keydir = make_log(tmp_path)
    files = []
    for i in range(n):
        f = tmp_path / f"art{i}"
        f.write_bytes(b"artifact %d\n" % i)
        files.append(f)
    key = str(keydir / "log.key")
    code, _, err = run("sequence", "--log", str(logdir), "--key", key, "--raw", *map(str, files))
    assert code == 0, err
    return logdir, keydir, files


def test_search_by_artifact_sha_and_uuid(tmp_path: Path) -> None:
    logdir, keydir, files = raw_log(tmp_path)
    args = reader_args(logdir, keydir, tmp_path)
    code, out, _ = run("search", *args, "--artifact", str(files[2]), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and [h["logIndex"] for h in doc["hits"]] == [2] and doc["verifiedHits"]
    uuid = doc["hits"][0]["uuid"]
    digest = hashlib.sha256(files[3].read_bytes()).hexdigest()
    code, out, _ = run("search", *args, "--sha", f"sha256:{digest}")
    assert code == 0 and out.split() == [
        hashlib.sha256(b"\x00" + files[3].read_bytes()).hexdigest()
    ]
    code, out, _ = run("search", *args, "--uuid", uuid, "--sha", digest, "--operator", "or")
    assert len(out.split()) == 2
    code, out, _ = run("search", *args, "--uuid", uuid, "--sha", digest)
    assert code == 0 and out == ""
    code, out, _ = run("get", *args, "--uuid", uuid, "--format", "json")
    assert code == 0 and json.loads(out)["logIndex"] == 2


def test_search_with_no_hit_says_it_is_proven(tmp_path: Path) -> None:
    logdir, keydir, _ = raw_log(tmp_path, 2)
    code, out, err = run("search", *reader_args(logdir, keydir, tmp_path), "--sha", "ab" * 32)
    assert code == 0 and out == "" and "proven complete at tree size 2" in err


def test_search_refuses_a_bad_query(tmp_path: Path) -> None:
    logdir, keydir, _ = raw_log(tmp_path, 1)
    args = reader_args(logdir, keydir, tmp_path)
    assert run("search", *args)[0] != 0
    assert run("search", *args, "--sha", "xyz")[0] != 0
    assert run("search", *args, "--issuer", "https://x")[0] != 0


def test_search_over_http_reads_segments_by_range(tmp_path: Path) -> None:
    logdir, keydir, files = raw_log(tmp_path, 40)
    with serving(folder_reader(logdir)) as base:
        args = reader_args(base, keydir, tmp_path)
        code, out, err = run("search", *args, "--artifact", str(files[33]), "--format", "json")
    assert code == 0, err
    assert [h["logIndex"] for h in json.loads(out)["hits"]] == [33]


def test_online_verify_finds_the_entry_and_proves_it(tmp_path: Path) -> None:
    logdir, keydir = make_log(tmp_path)
    who = identity("v@example.com")
    artifact, sig, pub = tmp_path / "artifact", tmp_path / "sig", tmp_path / "pub.pem"
    artifact.write_bytes(b"signed file")
    sig.write_bytes(who.key.sign(b"signed file", ec.ECDSA(hashes.SHA256())))
    pub.write_bytes(who.cert_pem)
    doc = build_proposal(
        "hashedrekord",
        artifact=b"signed file",
        signature=sig.read_bytes(),
        public_keys=[who.cert_pem],
    )
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes(document(who, b"other") + b"\n" + doc + b"\n")
    key = str(keydir / "log.key")
    code, _, err = run("sequence", "--log", str(logdir), "--key", key, str(inputs))
    assert code == 0, err
    args = reader_args(logdir, keydir, tmp_path)
    common = ["verify", *args, "--artifact", str(artifact), "--public-key", str(pub)]
    code, out, err = run(*common, "--signature", str(sig))
    assert code == 0, err
    assert "Entry Index: 1" in out and "Current Tree Size: 2" in out
    assert out.rstrip().endswith("Verification Successful!")
    sig.write_bytes(who.key.sign(b"signed file", ec.ECDSA(hashes.SHA256())))
    code, out, err = run(*common, "--signature", str(sig))
    assert code == 1 and "no entry with UUID" in err


def test_index_rebuild_resumes_and_search_works(tmp_path: Path) -> None:
    logdir, keydir, files = raw_log(tmp_path, 700)
    shutil.rmtree(logdir / "index")
    args = reader_args(logdir, keydir, tmp_path)
    code, _, err = run("search", *args, "--artifact", str(files[1]))
    assert code != 0 and "tlog index rebuild" in err
    store = FolderStore(logdir)
    keys = load_keys(str(keydir / "log.key"), peek_origin(store))

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(store, keys, progress=stop, chunk=256)
    assert rebuild(store, keys, chunk=256).resumed_from == 256
    code, out, _ = run("index", "rebuild", "--log", str(logdir), "--key", str(keydir / "log.key"))
    assert code == 0 and "nothing to do" in out
    code, out, _ = run("search", *args, "--artifact", str(files[650]), "--format", "json")
    assert code == 0 and [h["logIndex"] for h in json.loads(out)["hits"]] == [650]
    extra = tmp_path / "extra"
    extra.write_bytes(b"artifact 3\n")
    key = str(keydir / "log.key")
    code, out, _ = run("sequence", "--log", str(logdir), "--key", key, "--raw", str(extra))
    assert code == 0 and "index 3" in out


def test_sequencing_a_log_without_index_says_to_rebuild(tmp_path: Path) -> None:
    logdir, keydir, files = raw_log(tmp_path, 3)
    shutil.rmtree(logdir / "index")
    key = str(keydir / "log.key")
    code, _, err = run("sequence", "--log", str(logdir), "--key", key, "--raw", str(files[0]))
    assert code != 0 and "tlog index rebuild" in err


def test_serve_answers_range_requests_for_index_segments(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    logdir, _, _ = raw_log(tmp_path, 3)
    (segment,) = [p for p in (logdir / "index" / "segments").iterdir()]
    data = segment.read_bytes()
    url_path = f"index/segments/{segment.name}"
    with serving(folder_reader(logdir)) as base:
        req = urllib.request.Request(base + url_path, headers={"Range": "bytes=24-71"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 206 and r.read() == data[24:72]
            assert r.headers["Content-Range"] == f"bytes 24-71/{len(data)}"
            assert "immutable" in r.headers["Cache-Control"]
        req = urllib.request.Request(base + url_path, headers={"Range": "bytes=9999-10000"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        assert err.value.code == 416
        with urllib.request.urlopen(base + "index/heads/3") as r:
            assert "immutable" in r.headers["Cache-Control"]
            assert r.read().startswith(b"tlog-index/v1")
