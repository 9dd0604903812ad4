"""tlog: a static, tiled transparency log (C2SP tlog-tiles, signed notes, checkpoints).

The library is usable without the command line. What a Python user calls:

Read a log, verifying everything against its vkeys (a folder, ``s3://bucket/prefix`` or
an ``http(s)://`` URL; vkeys as strings or vkey files)::

    import tlog

    log = tlog.open_log("https://example.com/log", ["log.vkey"])
    checkpoint = log.latest()                  # verified, consistent with the last seen
    proof, entry = log.prove(42)               # an offline proof, verified
    open("entry42.proof", "wb").write(proof.format())

Verify an offline proof (c2sp.org/tlog-proof text or a Sigstore TransparencyLogEntry),
with no network, optionally checking that the entry is about an artifact::

    result = tlog.verify_proof(data, tlog.load_vkeys(["log.vkey"]), artifact=blob)
    result.entry.index, result.entry.integrated_time, result.artifact

Make a log and sequence a batch into it (the writer; a folder or ``s3://bucket/prefix``;
the write protocol is in :mod:`tlog.sequencer` and docs/design.md)::

    store = tlog.open_store("./log")
    tlog.Sequencer(store, tlog.load_keys("keys/log.key", "example.com/log")).init()
    seq = tlog.sequencer_for(store, "keys/log.key")     # the keys, for the log's origin
    result = seq.sequence([tlog.Candidate("a.json", line)], tlog.admit_rekor)
    for outcome in result.outcomes:                      # index and UUID, or why refused
        print(outcome.source, outcome.log_index, outcome.uuid, outcome.error)

Without an admission function (``seq.sequence(candidates)``) each candidate is logged
as it is, as ``tlog sequence --raw`` does.

Errors: every error tlog raises on purpose is a :class:`TlogError`; the tree is drawn
in :mod:`tlog.errors`. Everything here but the errors is imported on first use, so
``import tlog`` loads no network, storage or crypto library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tlog.errors import (
    ConfigError,
    ConflictError,
    CorruptionError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
    TlogError,
    VerificationError,
)

if TYPE_CHECKING:
    from tlog.admission import Candidate, Outcome, admit_rekor
    from tlog.checkpoint import Checkpoint, SignedCheckpoint
    from tlog.client import Client, ConsistencyProof, load_vkeys, open_log
    from tlog.keys import load_keys
    from tlog.offline import OfflineVerification, verify_proof
    from tlog.proof import TlogProof, VerifiedEntry
    from tlog.sequencer import Result, Sequencer, sequencer_for
    from tlog.sigstore import TransparencyLogEntry
    from tlog.storage.locate import open_store

#: Public name -> the module that defines it (imported on first use).
_LAZY = {
    "Candidate": "tlog.admission",
    "Outcome": "tlog.admission",
    "admit_rekor": "tlog.admission",
    "Checkpoint": "tlog.checkpoint",
    "SignedCheckpoint": "tlog.checkpoint",
    "Client": "tlog.client",
    "ConsistencyProof": "tlog.client",
    "load_vkeys": "tlog.client",
    "open_log": "tlog.client",
    "OfflineVerification": "tlog.offline",
    "verify_proof": "tlog.offline",
    "TlogProof": "tlog.proof",
    "VerifiedEntry": "tlog.proof",
    "load_keys": "tlog.keys",
    "Result": "tlog.sequencer",
    "Sequencer": "tlog.sequencer",
    "sequencer_for": "tlog.sequencer",
    "open_store": "tlog.storage.locate",
    "TransparencyLogEntry": "tlog.sigstore",
}

__all__ = [
    "Candidate",
    "Checkpoint",
    "Client",
    "ConfigError",
    "ConflictError",
    "ConsistencyProof",
    "CorruptionError",
    "InconsistencyError",
    "MalformedError",
    "NotFoundError",
    "OfflineVerification",
    "Outcome",
    "OversizeError",
    "Result",
    "Sequencer",
    "SignedCheckpoint",
    "StorageError",
    "TlogError",
    "TlogProof",
    "TransparencyLogEntry",
    "VerificationError",
    "VerifiedEntry",
    "admit_rekor",
    "load_keys",
    "load_vkeys",
    "open_log",
    "open_store",
    "sequencer_for",
    "verify_proof",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
