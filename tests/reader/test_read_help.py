"""--help reads as plain text, and every option says what it is for."""

from __future__ import annotations

import click
from click.testing import CliRunner

from tlog.cli import main


def _commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, cmd in main.commands.items():
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in cmd.commands.items()]
        else:
            out.append((name, cmd))
    return out


def test_main_help_is_plain_text() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "``" not in result.output and ":mod:" not in result.output
    assert "'tlog sequence'" in result.output


READ_COMMANDS = ["loginfo", "get", "prove", "verify", "logproof", "audit", "search"]


def test_read_options_are_described_and_vkey_is_marked_required() -> None:
    for name in READ_COMMANDS:
        cmd = main.commands[name]
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts[0]} has no description"
        result = CliRunner().invoke(main, [name, "--help"])
        assert "required" in result.output.split("--vkey", 1)[1].split("\n  -", 1)[0]


def test_every_option_of_every_command_is_described() -> None:
    missing = [
        f"{name} {param.opts[0]}"
        for name, cmd in _commands()
        for param in cmd.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert not missing


def test_every_command_speaks_json() -> None:
    for name, cmd in _commands():
        (fmt,) = [p for p in cmd.params if "--format" in p.opts]
        assert isinstance(fmt.type, click.Choice) and "json" in fmt.type.choices, name
