"""One entry as a monitor sees it: its index keys and, for Rekor entries, its validity.

Pure; the scan runs :func:`examine_bundle` in worker processes for Rekor entries (their
certificates cost tens of microseconds each) and inline for raw ones.

Validity (docs/monitor.md "The log's own promises"): a log admits a Rekor entry only
after :func:`tlog.entries.admit_json` accepted it, and stores the canonical body that
admission returned. Admission is idempotent on canonical bodies, so a stored body is
valid exactly when admitting it again succeeds and returns the same bytes; a body that
is not JSON is a raw entry, valid in a log that accepts raw entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tlog.entries import admit_json
from tlog.errors import TlogError
from tlog.index.keys import index_keys, key_hash

__all__ = ["Examined", "examine", "examine_bundle", "is_rekor"]


@dataclass(frozen=True)
class Examined:
    """An entry's (kind, value) index keys, and why it is invalid (None if valid)."""

    keys: tuple[tuple[str, str], ...]
    invalid: str | None = None
    #: :func:`tlog.index.keys.key_hash` of each key (computed where the keys are).
    hashes: tuple[bytes, ...] = ()


def is_rekor(entry: bytes) -> bool:
    """Whether an entry claims to be a Rekor entry (a JSON object)."""
    return entry[:1] == b"{"


def examine(entry: bytes, uuid: str, *, validate: bool, rekor_only: bool = False) -> Examined:
    """The keys of ``entry`` (:func:`tlog.index.keys.index_keys`) and its validity:
    with ``validate``, a Rekor body must re-admit to itself; with ``rekor_only``, a body
    that is not a Rekor entry is invalid too."""
    keys = tuple(index_keys(entry, uuid))
    hashes = tuple(key_hash(k, v) for k, v in keys)
    if not validate:
        return Examined(keys, None, hashes)
    if not is_rekor(entry):
        return Examined(keys, "not a Rekor entry" if rekor_only else None, hashes)
    try:
        again = admit_json(entry).body
    except TlogError as exc:
        return Examined(keys, f"not admissible: {exc}", hashes)
    if again != entry:
        return Examined(keys, "not the canonical body admission makes of it", hashes)
    return Examined(keys, None, hashes)


def examine_bundle(
    entries: Sequence[bytes], uuids: Sequence[str], validate: bool, rekor_only: bool
) -> list[Examined]:
    """:func:`examine` over a bundle (one call per worker task)."""
    return [
        examine(e, u, validate=validate, rekor_only=rekor_only)
        for e, u in zip(entries, uuids, strict=True)
    ]
