"""Layering: the reader's pure modules import no IO library, and the verification
logic (tile reader, client, audit, state) no network code: fetchers are injected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: (``socket`` itself is not listed: the stdlib email package imports it.)
NETWORK = ("requests", "urllib3", "boto3", "botocore", "http.client", "ssl")


def imported_after(modules: list[str]) -> set[str]:
    code = (
        "import json, sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "modules",
    [
        ["tlog.proof", "tlog.sigstore", "tlog.offline"],
        ["tlog.fetch.tiles", "tlog.client", "tlog.audit", "tlog.state", "tlog.fetch.cache"],
    ],
)
def test_no_network_code(modules: list[str]) -> None:
    loaded = imported_after(modules)
    assert not loaded & set(NETWORK), sorted(loaded & set(NETWORK))
    assert "tlog.fetch.http" not in loaded and "tlog.storage.s3" not in loaded


def test_pure_modules_import_only_pure_tlog_modules() -> None:
    loaded = imported_after(["tlog.proof", "tlog.sigstore", "tlog.offline"])
    ours = {m for m in loaded if m.startswith("tlog.") and not m.startswith("tlog.entries")}
    assert ours <= {
        "tlog.checkpoint",
        "tlog.codec",
        "tlog.errors",
        "tlog.merkle",
        "tlog.note",
        "tlog.offline",
        "tlog.proof",
        "tlog.sigstore",
        "tlog.tile",
    }, sorted(ours)
