"""The house rules that tools can check: mypy --strict, ruff and ruff format, over the project.

mypy keeps its cache in ``.mypy_cache`` in the repository (git-ignored), so a re-run checks
only what changed instead of the whole project and its stubs from a fresh directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_mypy_strict_is_clean() -> None:
    res = _run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_is_clean() -> None:
    res = _run("ruff", "check", "--no-cache", "tlog", "tests", "tools")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean() -> None:
    res = _run("ruff", "format", "--check", "--no-cache", "tlog", "tests", "tools")
    assert res.returncode == 0, res.stdout + res.stderr
