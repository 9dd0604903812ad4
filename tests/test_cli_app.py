"""How every command ends when it cannot go on: one line, and an exit status that says why."""

from __future__ import annotations

import pytest

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
