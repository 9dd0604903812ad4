"""The public surface of ``import tlog``: cheap to import, enough to read and verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tlog

from .conftest import GOLDEN, ROOT


def test_import_tlog_is_cheap() -> None:
    code = "import json, sys, tlog; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(json.loads(out.stdout))
    heavy = {"boto3", "botocore", "requests", "urllib3", "click", "cryptography"}
    assert not {m.split(".")[0] for m in loaded} & heavy
    assert {m for m in loaded if m.startswith("tlog")} == {"tlog", "tlog.errors"}


def test_every_public_name_resolves() -> None:
    for name in tlog.__all__:
        assert getattr(tlog, name) is not None, name
    assert tlog.open_log.__module__ == "tlog.client"
    with pytest.raises(AttributeError):
        tlog.no_such_thing  # noqa: B018


def test_read_prove_and_verify_offline_as_the_docstring_shows(tmp_path: Path) -> None:
    vkey = str(GOLDEN / "log.vkey")
    log = tlog.open_log(str(GOLDEN), [vkey], state_dir=tmp_path / "s", cache_dir=tmp_path / "c")
    assert log.latest().checkpoint.size == 701
    proof, entry = log.prove(42)
    blob = entry.entry
    assert blob is not None
    result = tlog.verify_proof(proof.format(), tlog.load_vkeys([vkey]), artifact=blob)
    assert (result.format, result.entry.index, result.artifact) == (
        "tlog-proof",
        42,
        "entry is the artifact",
    )
    assert result.entry.integrated_time == entry.integrated_time is not None
    with pytest.raises(tlog.VerificationError):
        tlog.verify_proof(proof.format(), tlog.load_vkeys([vkey]), artifact=b"other")
