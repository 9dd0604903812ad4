"""The verifiable search and deduplication index (docs/index.md).

Pure layer: :mod:`~tlog.index.keys` (what an entry is indexed by),
:mod:`~tlog.index.segment` (rows, blocks, segment objects and their proofs),
:mod:`~tlog.index.head` (the signed head), :mod:`~tlog.index.lsm` (merging segments),
:mod:`~tlog.index.lookup` (answers proven complete, IO injected).
Orchestration: :mod:`~tlog.index.writer` (the sequencer's side) and
:mod:`~tlog.index.rebuild` (indexing a log that predates the index).
"""
