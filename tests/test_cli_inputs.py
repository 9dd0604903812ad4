"""A file of JSON lines read in blocks gives exactly the candidates, line numbers and
refusals of reading it line by line (any line ends, blank lines, block boundaries, the
size bound), and standard input is read as it comes."""

from __future__ import annotations

import io
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog.admission import Candidate, Outcome
from tlog.cli import inputs
from tlog.cli.inputs import read_inputs


def by_line(f: BinaryIO, name: str) -> Iterator[Candidate | Outcome]:
    """The reading line by line that the blocks must agree with (after the sniff)."""
    lineno, total = 0, 0
    for line in f:
        total += len(line)
        if total > inputs.MAX_INPUT_FILE:
            yield Outcome(name, error=f"over {inputs.MAX_INPUT_FILE} bytes: the rest is not read")
            return
        for part in line.splitlines() if b"\r" in line else (line,):
            lineno += 1
            if part.strip():
                yield Candidate(f"{name}:{lineno}", part.strip())


_PIECES = st.sampled_from([b"{", b'"a":1}', b" ", b"\t", b"\n", b"\r", b"\r\n", b"\n\n", b"x"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_PIECES, max_size=60),
    st.integers(1, 16),
    st.sampled_from([10, 40, 1 << 30]),
)
def test_blocks_agree_with_lines(pieces: list[bytes], block: int, bound: int) -> None:
    text = b"{}\n" + b"".join(pieces)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inputs, "BLOCK", block)
        mp.setattr(inputs, "MAX_INPUT_FILE", bound)
        mp.setattr(inputs, "SNIFF", 2)
        got = list(read_inputs(["-"], False, lambda: io.BytesIO(text)))
        want = list(by_line(io.BytesIO(text), "<stdin>"))
    assert got == want
    assert all(type(c) is Candidate for c in got if not isinstance(c, Outcome))


@pytest.mark.parametrize("end", [b"", b"\n", b"\r\n"])
@pytest.mark.parametrize("spare", [-1, 0, 1])
def test_the_size_bound_is_exact(end: bytes, spare: int) -> None:
    text = b'{"a":1}\n{"b":2}' + end
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inputs, "MAX_INPUT_FILE", len(text) + spare)
        got = list(read_inputs(["-"], False, lambda: io.BytesIO(text)))
        assert got == list(by_line(io.BytesIO(text), "<stdin>"))
    assert isinstance(got[-1], Outcome) == (spare < 0)


def test_a_big_file_is_numbered_across_blocks(tmp_path: Path) -> None:
    lines = [b'{"n":%d}' % i if i % 7 else b"  " for i in range(50_000)]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = list(read_inputs([str(path)], False, lambda: io.BytesIO()))
    want = [Candidate(f"{path}:{i + 1}", x) for i, x in enumerate(lines) if x.strip()]
    assert got == want


def test_standard_input_is_read_as_it_comes() -> None:
    """Lines written to a pipe are candidates before the pipe ends (a producer that
    writes a line at a time is not waited on for a whole block)."""
    r, w = os.pipe()
    with open(r, "rb") as f:
        stream = read_inputs(["-"], False, lambda: f)
        os.write(w, b'{"first":1}\n' + b" " * inputs.SNIFF + b"\n{}\n")
        first: list[Candidate | Outcome] = []
        reader = threading.Thread(target=lambda: first.extend(itertools.islice(stream, 2)))
        reader.start()
        reader.join(60)  # the pipe is still open: only what was written can be read
        alive = reader.is_alive()
        os.close(w)
        reader.join()
        assert not alive
        assert [c.source for c in first] == ["<stdin>:1", "<stdin>:3"]
        assert list(stream) == []


def test_a_line_that_never_ends_is_cut_at_the_bound() -> None:
    """Standard input without a newline is not read (nor held) far past the size bound."""

    class Endless(io.RawIOBase):
        given = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            n = min(len(b), (32 << 20) - self.given)  # ends after 32 MiB, unread here
            b[:n] = b"{" * n
            self.given += n
            return n

    raw = Endless()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inputs, "MAX_INPUT_FILE", 1 << 20)
        got = list(read_inputs(["-"], False, lambda: io.BufferedReader(raw)))
    assert got == [Outcome("<stdin>", error=f"over {1 << 20} bytes: the rest is not read")]
    assert raw.given <= (1 << 20) + 2 * inputs.BLOCK
