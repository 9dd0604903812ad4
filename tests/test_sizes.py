"""The size limits of docs/design.md, "Architecture": no module of ``tlog/`` over 450 lines, no
function over 60, so that each reads whole on a screen or two."""

from __future__ import annotations

import ast
from pathlib import Path

TLOG = Path(__file__).resolve().parents[1] / "tlog"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(TLOG)): n
        for p in TLOG.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in TLOG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(TLOG)}:{node.lineno} {node.name}"] = lines
    assert not long
