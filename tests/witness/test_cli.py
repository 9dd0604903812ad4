"""``tlog sequence --witness-policy``: fail-closed, fail-open, and the run after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clirun import ORIGIN, make_log, run

from tlog import layout
from tlog.note import Note
from tlog.policy import Policy

from .conftest import Served, cosigner
from .test_sequencing import dead_url

SIGNER = cosigner("cli.example/witness")


def setup(tmp_path: Path, witnesses: Callable[..., Served], up: bool) -> tuple[list[str], Policy]:
    logdir, keydir = make_log(tmp_path)
    lines = (keydir / "log.vkey").read_text().splitlines()
    log_vkey = next(v for v in lines if v.startswith(ORIGIN + "+"))  # the first, 0x01
    assert log_vkey.startswith(ORIGIN + "+")
    url = witnesses(SIGNER, Policy.parse(f"log {log_vkey}\nquorum none\n".encode())).url
    text = f"witness w {SIGNER.verifier().vkey()} {url if up else dead_url()}\nquorum w\n"
    (tmp_path / "policy").write_text(text)
    (tmp_path / "entry").write_bytes(b"an entry")
    args = ["sequence", "--log", str(logdir), "--key", str(keydir / "log.key"), "--raw"]
    return [*args, "--witness-policy", str(tmp_path / "policy")], Policy.parse(text.encode())


def public(tmp_path: Path) -> Note:
    return Note.parse((tmp_path / "log" / layout.CHECKPOINT).read_bytes())


def test_sequence_publishes_the_cosigned_checkpoint(
    tmp_path: Path, witnesses: Callable[..., Served]
) -> None:
    args, policy = setup(tmp_path, witnesses, up=True)
    code, out, err = run(*args, str(tmp_path / "entry"))
    assert code == 0, err
    assert policy.check(public(tmp_path)) and "— cli.example/witness " in out


def test_fail_closed_commits_without_publishing(
    tmp_path: Path, witnesses: Callable[..., Served]
) -> None:
    args, _ = setup(tmp_path, witnesses, up=False)
    code, _, err = run(*args, "--witness-timeout", "2", str(tmp_path / "entry"))
    assert code == 1
    assert "committed at size 1 but not yet published" in err and "quorum" in err
    assert public(tmp_path).text.split("\n")[1] == "0"


def test_fail_open_publishes_and_warns(tmp_path: Path, witnesses: Callable[..., Served]) -> None:
    args, policy = setup(tmp_path, witnesses, up=False)
    code, _, err = run(*args, "--witness-mode", "fail-open", str(tmp_path / "entry"))
    assert code == 0, err
    assert "warning: published" in err and "w: unreachable" in err
    assert public(tmp_path).text.split("\n")[1] == "1"
    assert not policy.cosigners(public(tmp_path))


def test_witness_mode_needs_a_policy(tmp_path: Path) -> None:
    logdir, keydir = make_log(tmp_path)
    code, _, err = run(
        "sequence",
        "--log",
        str(logdir),
        "--key",
        str(keydir / "log.key"),
        "--raw",
        "--witness-mode",
        "fail-open",
        "x",
    )
    assert code != 0 and "--witness-policy" in err
