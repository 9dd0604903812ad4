"""The documents a new user follows say what the code does, and the repository stands alone.

A clone of the repository, with nothing beside it, must pass its own tests and hold every
document its code cites (docs/design.md, not a file outside the repository).
"""

from __future__ import annotations

import re
from pathlib import Path

from tlog.tile import MAX_ENTRY_SIZE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DESIGN = ROOT / "docs" / "design.md"

INSTALL_AND_DEMO = "pip install -e . && bash tools/demo.sh"
INSTALL_AND_TEST = 'pip install -e ".[test]" && pytest'


def test_the_two_commands_stand_in_the_readme_and_ci_runs_the_second() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert INSTALL_AND_DEMO + "\n" in blocks
    assert INSTALL_AND_TEST + "\n" in blocks
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]" && python3 -m pytest\n' in ci


def test_the_entry_limit_and_the_way_out_are_documented() -> None:
    limit = f"{MAX_ENTRY_SIZE:,}"
    for text in (README, DESIGN.read_text()):
        assert limit in text
        assert "hashedrekord" in text and "manifest" in text


def test_example_key_generation_never_prompts() -> None:
    # Someone pasting the README's lines must not hit a passphrase prompt.
    for line in README.splitlines():
        if line.startswith("ssh-keygen -t"):
            assert " -N ''" in line, line


def test_readme_counts_the_signature_lines_of_a_checkpoint() -> None:
    # An Ed25519 log signs twice (Ed25519 and cosignature/v1), an ECDSA log thrice.
    golden = (ROOT / "tiles" / "checkpoint").read_text()
    assert golden.count("\n\u2014 ") == 2
    assert "two lines in all" in README and "adds a third" in README


def _texts() -> list[Path]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for top in ("tlog", "tests", "tools"):
        paths += sorted((ROOT / top).rglob("*.py"))
    paths += [*sorted((ROOT / "tools").glob("*.sh")), ROOT / ".ci" / "run"]
    return [p for p in paths if p != Path(__file__).resolve()]


def test_the_design_document_is_in_the_repository() -> None:
    assert DESIGN.is_file()
    assert (ROOT / "docs" / "README.md").is_file()


def test_nothing_cites_a_document_outside_the_repository() -> None:
    outside = re.compile(r"(?<![\w/])DESIGN\.md|\.\./shared|/work/shared")
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _texts()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if outside.search(line)
    ]
    assert not found, found
