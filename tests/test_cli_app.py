"""How every command ends when it cannot go on: one line, and an exit status that says why."""

from __future__ import annotations

import pytest
from test_layers import ROOT, import_graph

from tlog import cli
from tlog.cli.app import EXIT_INTERRUPTED, one_line_errors


def test_ctrl_c_in_any_command_exits_130_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @one_line_errors
    def command() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == EXIT_INTERRUPTED == 130  # as the shell reports 128 + SIGINT
    assert capsys.readouterr().err == "tlog: interrupted\n"


#: The command modules (each registers commands on ``main``; ``tlog.cli`` imports every
#: one); the rest of ``tlog.cli`` is what they share.
COMMAND_MODULES = {f"tlog.cli.{name}" for name in cli.__all__ if name != "main"}


def test_command_modules_share_code_through_shared_modules_only() -> None:
    graph = import_graph(ROOT, "tlog")
    assert set(graph) >= COMMAND_MODULES
    crossing = [
        f"{imp.source} imports {imp.target} (line {imp.line})"
        for module in COMMAND_MODULES
        for imp in graph[module]
        if imp.target in COMMAND_MODULES
    ]
    assert not crossing
