"""The outcome lines of a writing command: a chunk's printed in one write, the same
lines print_outcome prints one by one, hostile text made safe alike."""

from __future__ import annotations

import pytest

from tlog.admission import Outcome
from tlog.cli.results import print_outcome, print_outcomes

OUTCOMES = [
    Outcome("a.jsonl:1", 7, "ab" * 32),
    Outcome("b\udc80.jsonl:2", error="refused for \ud800 reasons"),  # lone surrogates
    Outcome("c.jsonl:3", 7, "ab" * 32, duplicate=True),
    Outcome("d.jsonl:4", None, "cd" * 32, duplicate=True),
]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_chunk_prints_what_each_outcome_prints(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for o in OUTCOMES:
        print_outcome(o, fmt)
    one_by_one = capsys.readouterr().out
    print_outcomes(OUTCOMES, fmt)
    together = capsys.readouterr().out
    assert together == one_by_one
    assert len(together.splitlines()) == len(OUTCOMES)
    assert "\\udc80" in together
    print_outcomes([], fmt)
    assert capsys.readouterr().out == ""
