"""The house rules that tools can check: mypy --strict and ruff, over the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    res = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_is_clean() -> None:
    res = _run("ruff", "check", "--no-cache", "tlog", "tests", "tools")
    assert res.returncode == 0, res.stdout + res.stderr
