"""The pure layer stays pure: no storage, network or orchestration code behind it.

STYLE.md: pure (merkle, tile, note, checkpoint, proof, entries/: stdlib + cryptography
only) <- adapters (storage/, fetchers) <- orchestration (sequencer, client, cli).
Checked twice: at run time in a fresh interpreter (what actually gets loaded), and
statically (what the pure sources import themselves).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TLOG = ROOT / "tlog"

#: The pure modules; every other tlog module is an adapter or orchestration.
PURE_MODULES = [
    "tlog.errors",
    "tlog.codec",
    "tlog.merkle",
    "tlog.tile",
    "tlog.note",
    "tlog.checkpoint",
    "tlog.layout",
    "tlog.proof",
    "tlog.entries",
]

#: Third-party packages the pure layer may use (besides the standard library).
ALLOWED_THIRD_PARTY = {"cryptography", "rfc8785"}

#: Libraries that do I/O over a network or drive storage, and tlog's upper layers.
FORBIDDEN = {
    "boto3",
    "botocore",
    "s3transfer",
    "requests",
    "httpx",
    "urllib3",
    "aiohttp",
    "ssl",
    "http.client",
    "http.server",
    "urllib.request",
    "asyncio",
    "click",
    "zstandard",
}
FORBIDDEN_STDLIB_IMPORTS = {
    "socket",
    "ssl",
    "http",
    "urllib.request",
    "asyncio",
    "selectors",
    "subprocess",
    "ftplib",
    "smtplib",
}


def _present(names: list[str]) -> list[str]:
    return [
        m
        for m in names
        if (TLOG / Path(*m.split(".")[1:])).with_suffix(".py").exists()
        or (TLOG / Path(*m.split(".")[1:]) / "__init__.py").exists()
    ]


def _pure_package_modules() -> list[str]:
    """The pure modules present in the tree, with every submodule of tlog.entries."""
    mods = _present(PURE_MODULES)
    entries = TLOG / "entries"
    if entries.is_dir():
        mods += sorted(
            f"tlog.entries.{p.stem}" for p in entries.glob("*.py") if p.stem != "__init__"
        )
    return mods


def _loaded_after(
    imports: Sequence[str], baseline: Sequence[str] = ()
) -> tuple[set[str], set[str]]:
    """sys.modules after ``baseline`` and after ``imports``, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(baseline)!r}: importlib.import_module(m)\n"
        "before = sorted(sys.modules)\n"
        f"for m in {list(imports)!r}: importlib.import_module(m)\n"
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    before, after = json.loads(out.stdout)
    return set(before), set(after)


def _forbidden_in(modules: set[str]) -> list[str]:
    bad = sorted(m for m in modules if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN)
    pure = set(_pure_package_modules()) | {"tlog"}
    bad += sorted(m for m in modules if m.startswith("tlog.") and m not in pure)
    return bad


def test_core_modules_load_no_io() -> None:
    core = _present(
        [
            "tlog.errors",
            "tlog.merkle",
            "tlog.tile",
            "tlog.note",
            "tlog.checkpoint",
            "tlog.layout",
            "tlog.proof",
        ]
    )
    _, loaded = _loaded_after(core)
    assert not _forbidden_in(loaded)
    # Nothing in the core pulls in socket at all, even indirectly.
    assert "socket" not in loaded and "_socket" not in loaded


def test_all_pure_modules_load_no_io() -> None:
    # cryptography.x509 imports email.utils, which imports socket: a standard-library
    # dependency of the X.509 parser, not network use by tlog. Load the allowed
    # third-party packages first and require that tlog's pure modules add nothing
    # forbidden on top.
    baseline = ["cryptography.x509", "cryptography.hazmat.primitives.asymmetric.ec", "rfc8785"]
    before, after = _loaded_after(_pure_package_modules(), baseline)
    assert not _forbidden_in(after)
    added = after - before
    assert not ({"socket", "_socket", "select", "selectors"} & added)


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
            # "from tlog import merkle" names a submodule.
            if node.module == "tlog":
                found += [(f"tlog.{alias.name}", node.lineno) for alias in node.names]
    return found


def _sources() -> list[Path]:
    out = []
    for m in _pure_package_modules():
        p = TLOG / Path(*m.split(".")[1:])
        out.append(p / "__init__.py" if p.is_dir() else p.with_suffix(".py"))
    return out


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_sources_import_only_pure_things(path: Path) -> None:
    pure = set(_pure_package_modules()) | {"tlog"}
    for name, line in _imports(path):
        top = name.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        if top == "tlog":
            assert name in pure, where
        elif top in sys.stdlib_module_names or top == "__future__":
            assert not {top, name} & FORBIDDEN_STDLIB_IMPORTS, where
        else:
            assert top in ALLOWED_THIRD_PARTY, where
