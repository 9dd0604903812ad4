"""``tlog server``'s options and its refusals (one line, before anything listens)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tests.server.helpers import make_log, tlog
from tlog.cli.server import _duration


@pytest.mark.parametrize(("text", "seconds"), [("250ms", 0.25), ("1.5s", 1.5), ("40", 0.04)])
def test_pool_wait_durations(text: str, seconds: float) -> None:
    assert _duration(text) == pytest.approx(seconds)


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="250ms"):
        _duration("soon")


def test_no_log_is_one_line(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    done = tlog("server", "--log", str(tmp_path / "none"), "--key", str(log.key), check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["tlog: error: no log here: run 'tlog init' first"]
