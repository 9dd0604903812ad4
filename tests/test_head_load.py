"""The load step (tlog/head.py) verifies each checkpoint note it meets once."""

from __future__ import annotations

from typing import Any

import pytest

from tlog import head
from tlog.admission import Candidate
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.memory import MemoryStore

KEYS = generate("test.example/load").keys


def test_the_load_verifies_the_lock_and_public_note_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    seq.sequence([Candidate("", b"entry %d" % i) for i in range(3)])
    opened: list[bytes] = []
    open_checkpoint = head.open_checkpoint

    def counting(note: bytes, *args: Any, **kwargs: Any) -> Any:
        opened.append(note)
        return open_checkpoint(note, *args, **kwargs)

    monkeypatch.setattr(head, "open_checkpoint", counting)
    seq.sequence([Candidate("", b"one more")])
    # The lock and the public checkpoint hold the same note: one verification.
    assert len(opened) == 1
