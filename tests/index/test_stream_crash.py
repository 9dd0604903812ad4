"""A streamed merge through the sequencer: its segment is created before the staging
bundle, and a crash at any point around that create leaves a log the next run
completes (docs/index.md "Why a merged segment may be written before the staging
bundle")."""

from __future__ import annotations

import pytest
from faults import FaultyStore, Killed
from logcheck import check_log

from tlog import layout
from tlog.admission import Candidate
from tlog.index.lsm import STREAM_FROM
from tlog.keys import generate
from tlog.sequencer import Sequencer
from tlog.storage.memory import MemoryStore

KEYS = generate("test.example/stream").keys
#: Four chunks of CHUNK raw entries (2 rows each) make four segments of one level,
#: whose merge is STREAM_FROM rows: the smallest streamed merge.
CHUNK = STREAM_FROM // 8


def entries(n: int) -> list[Candidate]:
    return [Candidate("", b"entry %d" % i) for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kill-before", "kill-after"])
def test_a_crash_around_the_streamed_segment_is_completed_by_the_next_run(mode: str) -> None:
    inner = MemoryStore()
    Sequencer(inner, KEYS).init()
    clean = MemoryStore()
    probe = FaultyStore(clean)
    Sequencer(clean, KEYS).init()
    Sequencer(probe, KEYS, chunk_entries=CHUNK).sequence(entries(4 * CHUNK))
    streamed = [op for op in probe.ops if op.startswith("create_file index/segments/")]
    assert len(streamed) == 1, "one streamed merge, at the fourth chunk"
    at = probe.ops.index(streamed[0])
    staging = [op for op in probe.ops[:at] if op.startswith(f"create {layout.STAGING_PREFIX}")]
    assert len(staging) == 3, "created before the fourth chunk's staging bundle"
    faulty = FaultyStore(inner, at=at, mode=mode)
    with pytest.raises(Killed):
        Sequencer(faulty, KEYS, chunk_entries=CHUNK).sequence(entries(4 * CHUNK))
    Sequencer(inner, KEYS, chunk_entries=CHUNK).sequence(entries(4 * CHUNK))
    assert len(check_log(inner, KEYS)) == 4 * CHUNK
    key = streamed[0].split(" ")[1]
    assert inner.objects[key] == clean.objects[key], "the replay wrote identical bytes"
