"""Start-up: commands are imported only when used, and a folder log loads no S3 or HTTP code."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tlog import cli
from tlog.cli import main
from tlog.cli.app import COMMANDS

TLOG = "import sys; from tlog.cli import main; sys.exit(main())"
#: Runs ``tlog ARGS``, then prints the modules it imported, one per line, on stderr.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print(*sorted(sys.modules), sep='\\n', file=sys.stderr))\n" + TLOG
)


def imported_by(*args: object) -> set[str]:
    """The modules a ``tlog`` run imported (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stderr.split())


def test_the_command_table_names_each_command_s_module_and_summary() -> None:
    modules = {name for name in cli.__all__ if name != "main"}
    assert {module for module, _ in COMMANDS.values()} == modules
    for module in modules:
        __import__(f"tlog.cli.{module}")
    registered = dict(main.commands.items())
    assert set(registered) == set(COMMANDS)
    for name, cmd in registered.items():
        module, summary = COMMANDS[name]
        assert cmd.callback is not None
        assert cmd.callback.__module__ == f"tlog.cli.{module}", name
        assert summary == cmd.get_short_help_str(10_000), name


def test_help_lists_every_command_as_click_would_with_all_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lazy = CliRunner().invoke(main, ["--help"])
    assert lazy.exit_code == 0 and "Commands:" in lazy.output
    # click's own listing asks every command for its help: every module is imported.
    monkeypatch.setattr(type(main), "format_commands", click.Group.format_commands)
    assert CliRunner().invoke(main, ["--help"]).output == lazy.output


def test_help_imports_no_command_module() -> None:
    loaded = imported_by("--help")
    assert not {m for m in loaded if m.startswith("tlog.cli.") and m != "tlog.cli.app"}
    assert not {m for m in loaded if m.split(".")[0] in ("cryptography", "requests", "boto3")}


def test_a_command_s_help_imports_its_own_module_only() -> None:
    loaded = imported_by("get", "--help")
    assert "tlog.cli.entry" in loaded
    assert not {"tlog.cli.write", "tlog.cli.audit", "tlog.cli.monitor"} & loaded


@pytest.mark.slow
def test_folder_log_commands_import_no_boto3_and_readers_no_requests(tmp_path: Path) -> None:
    keys, log, state = tmp_path / "keys", tmp_path / "log", tmp_path / "state"
    origin = ["--origin", "startup.example/log"]
    data = tmp_path / "entry.txt"
    data.write_text("an entry\n")
    vkey = ["--vkey", keys / "log.vkey", "--state-dir", state, "--cache-dir", state]
    runs: list[list[object]] = [
        ["keygen", *origin, "--out", keys],
        ["init", "--log", log, *origin, "--key", keys / "log.key"],
        ["sequence", "--log", log, "--key", keys / "log.key", "--raw", data],
        ["loginfo", "--log", log, *vkey],
        ["get", "--log", log, *vkey, "--log-index", "0"],
        ["audit", "--log", log, *vkey],
    ]
    for args in runs:
        loaded = {m.split(".")[0] for m in imported_by(*args)}
        assert not {"boto3", "botocore"} & loaded, args[0]
        if args[0] in ("loginfo", "get", "audit"):  # a folder reader needs no HTTP either
            assert "requests" not in loaded, args[0]


@pytest.mark.slow
def test_sequence_on_s3_loads_botocore_only(
    tmp_path: Path, s3_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No boto3 (the store uses botocore), no requests (no witness policy given), and
    not the reader's client and proofs."""
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    keys, log = tmp_path / "keys", f"s3://{bucket}/startup"
    data = tmp_path / "entry.txt"
    data.write_text("an entry\n")
    origin = ["--origin", "startup.example/s3"]
    imported_by("keygen", *origin, "--out", keys)
    imported_by("init", "--log", log, *origin, "--key", keys / "log.key")
    loaded = imported_by("sequence", "--log", log, "--key", keys / "log.key", "--raw", data)
    assert "botocore" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("boto3", "s3transfer", "requests")}
    assert not {"tlog.client", "tlog.proof"} & loaded


def test_version_prints_the_installed_version_without_loading_it_at_import() -> None:
    from importlib.metadata import version

    out = CliRunner().invoke(main, ["--version"], prog_name="tlog")
    assert out.exit_code == 0
    assert out.output == f"tlog, version {version('tlog')}\n"
    # Importing the group translates no message (gettext loads ``locale``) and reads no
    # package metadata: a command that prints no help pays for neither.
    probe = "import sys; import tlog.cli; print(*sorted(sys.modules), sep='\\n')"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "locale" not in loaded and "importlib.metadata" not in loaded


#: Runs ``tlog ARGS``, recording whether the cyclic collector ran while ``keygen``
#: generated its keys (the command's own work), and how it was left at exit.
GC_PROBE = (
    "import atexit, gc, sys\n"
    "import tlog.keys\n"
    "seen = []\n"
    "generate = tlog.keys.generate\n"
    "def recording(*args, **kwargs):\n"
    "    seen.append(gc.isenabled())\n"
    "    return generate(*args, **kwargs)\n"
    "tlog.keys.generate = recording\n"
    "atexit.register(lambda: print(seen, gc.isenabled(), gc.get_freeze_count(), file=sys.stderr))\n"
    + TLOG
)


def test_a_tlog_process_collects_garbage_while_its_command_runs_and_freezes_at_exit(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, "keygen", "--origin", "gc.example/log", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen, enabled, frozen = done.stderr.split()[-3:]
    assert seen == "[True]"  # resumed once the command's module was imported
    assert enabled == "True"
    assert int(frozen) > 10_000  # nothing left for the collections at exit to traverse


def test_set_up_pauses_the_collector_in_a_tlog_process_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tlog.cli import app

    assert gc.isenabled()
    with app.starting():  # called in-process (tests, library users): left alone
        assert gc.isenabled()
    frozen = gc.get_freeze_count()
    monkeypatch.setattr(app, "_PROCESS", [True])
    try:
        with app.starting():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()


def test_the_group_called_with_arguments_leaves_the_collector_alone() -> None:
    frozen = gc.get_freeze_count()
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_write_commands_load_no_certificate_code_until_a_certificate_is_read() -> None:
    """``tlog sequence --raw`` (and its module) never parses a certificate: the index's
    key extraction imports cryptography's X.509 code only where it reads one."""
    loaded = imported_by("sequence", "--help")
    assert "tlog.cli.write" in loaded and "tlog.index.keys" in loaded
    assert "cryptography.x509" not in loaded
