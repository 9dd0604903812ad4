"""Entries as a monitor sees them: index keys, validity, rows, watch-list candidates.

No IO; the scan runs :func:`check_bundle` (one entry bundle: every per-entry step) in
worker processes, a few bundles per task, and takes back a small :class:`BundleReport`
for each.
Raw entries' rows are the sequencer's own (:func:`tlog.index.writer.rows_of`).

Validity (docs/monitor.md "Scan"): a log admits a Rekor entry only after
:func:`tlog.entries.admit_json` accepted it, and stores the canonical body that
admission returned. Admission is idempotent on canonical bodies, so a stored body is
valid exactly when admitting it again succeeds and returns the same bytes; a body that
is not JSON is a raw entry, valid in a log that accepts raw entries. The common
hashedrekord bodies are proved valid, and their keys found, from one parse
(:func:`tlog.monitor.hashedrekord.read`); any other body is admitted again and its keys
computed apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tlog import merkle, tile
from tlog.entries import admit_json
from tlog.errors import MalformedError, TlogError
from tlog.index.keys import KEY_HASH_SIZE, index_keys, key_hash
from tlog.index.writer import rows_of
from tlog.monitor import hashedrekord
from tlog.monitor.config import MonitorConfig
from tlog.monitor.match import Match, match_entry
from tlog.monitor.rows import fold

__all__ = [
    "BundleReport",
    "BundleTask",
    "Examined",
    "check_bundle",
    "check_bundles",
    "examine",
    "is_rekor",
]

#: An entry's (kind, value) index keys.
Keys = tuple[tuple[str, str], ...]
#: A watch-list candidate: its offset in the bundle, the entry, its keys, and the rules
#: it matches without CA roots (the watch list read in the worker).
Candidate = tuple[int, bytes, Keys, tuple[Match, ...]]


@dataclass(frozen=True)
class Examined:
    """An entry's (kind, value) index keys, and why it is invalid (None if valid)."""

    keys: Keys
    invalid: str | None = None


def is_rekor(entry: bytes) -> bool:
    """Whether an entry claims to be a Rekor entry (a JSON object)."""
    return entry[:1] == b"{"


def examine(entry: bytes, uuid: str, *, validate: bool, rekor_only: bool = False) -> Examined:
    """The keys of ``entry`` (:func:`tlog.index.keys.index_keys`) and its validity:
    with ``validate``, a Rekor body must re-admit to itself; with ``rekor_only``, a body
    that is not a Rekor entry is invalid too."""
    if validate:
        fast = hashedrekord.read(entry, uuid)
        if fast is not None:
            return Examined(tuple(fast))
    keys = tuple(index_keys(entry, uuid))
    if not validate:
        return Examined(keys)
    if not is_rekor(entry):
        return Examined(keys, "not a Rekor entry" if rekor_only else None)
    try:
        again = admit_json(entry).body
    except TlogError as exc:
        return Examined(keys, f"not admissible: {exc}")
    if again != entry:
        return Examined(keys, "not the canonical body admission makes of it")
    return Examined(keys)


@dataclass(frozen=True)
class BundleTask:
    """One entry bundle to check, entries ``first``..``first + count - 1`` of it (from
    offset ``skip``): its bytes as fetched (``width`` entries), its level-0 hash tile
    (``tile_width`` hashes) and the tile's root in the tree (None: the tile is
    authenticated already), and what to do."""

    first: int
    data: bytes
    width: int
    skip: int
    count: int
    tile: bytes
    tile_width: int
    root: bytes | None
    config: MonitorConfig
    validate: bool = True
    rekor_only: bool = False
    #: The index check's digest point (None: no index to check).
    key: int | None = None

    @property
    def hashes(self) -> bytes:
        """The leaf hashes of the entries in range, packed (authenticated once the
        task's report has no error)."""
        return self.tile[32 * self.skip : 32 * (self.skip + self.count)]

    @property
    def leaf_hashes(self) -> list[bytes]:
        h = self.hashes
        return [h[i : i + 32] for i in range(0, len(h), 32)]


@dataclass(frozen=True)
class BundleReport:
    """What a bundle's entries amount to: the fold of their index rows (count,
    product), the invalid ones (offset from ``first``, reason), the watch-list
    candidates (offset, entry, keys, the rules it matches without CA roots), or why
    the bundle could not be read (then nothing else)."""

    count: int = 0
    product: int = 1
    invalid: tuple[tuple[int, str], ...] = ()
    candidates: tuple[Candidate, ...] = ()
    error: str | None = None


def check_bundle(task: BundleTask) -> BundleReport:
    """Every per-entry step of the scan for one bundle (a worker's task): each entry
    checked against its authenticated leaf hash, then examined, its rows folded."""
    try:
        all_hashes = tile.parse_hash_tile(task.tile, task.tile_width)
        entries = tile.parse_bundle(task.data, task.width)
    except MalformedError as exc:
        return BundleReport(error=str(exc))
    if task.root is not None and merkle.root(all_hashes) != task.root:
        return BundleReport(error="its level-0 hash tile does not match the tree's root")
    hashes = all_hashes[task.skip : task.skip + task.count]
    entries = entries[task.skip : task.skip + task.count]
    if len(entries) != task.count or len(hashes) != task.count:
        return BundleReport(error=f"holds {len(entries) + task.skip} of the entries it must")
    for i, (entry, h) in enumerate(zip(entries, hashes, strict=True)):
        if merkle.leaf_hash(entry) != h:
            return BundleReport(error=f"entry {task.skip + i} does not match its leaf hash")
    if not any(is_rekor(e) for e in entries) and not task.rekor_only:
        return _raw(task, entries, hashes)
    rows: list[bytes] = []
    invalid: list[tuple[int, str]] = []
    candidates: list[Candidate] = []
    hashed = _KeyHashes()
    for i, (entry, h) in enumerate(zip(entries, hashes, strict=True)):
        ex = examine(entry, h.hex(), validate=task.validate, rekor_only=task.rekor_only)
        if task.key is not None:
            at = (task.first + i).to_bytes(8, "big")
            rows.extend(hashed.get(k, v) + at for k, v in ex.keys)
        if ex.invalid is not None:
            invalid.append((i, ex.invalid))
        matches = match_entry(task.config, entry, ex.keys)
        if matches:
            candidates.append((i, entry, ex.keys, tuple(matches)))
    return _report(task, rows, tuple(invalid), tuple(candidates))


#: Index key kinds whose values recur across entries (identities).
_RECURRING = frozenset({"email", "uri", "dns", "email+issuer", "uri+issuer"})


class _KeyHashes:
    """:func:`tlog.index.keys.key_hash` of keys normalized as :func:`examine` gives them
    (``normalize`` of them is themselves), those of identities (which recur) remembered
    for one task."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], bytes] = {}

    def get(self, kind: str, value: str) -> bytes:
        if kind == "uuid":
            return key_hash(kind, value)
        if kind not in _RECURRING:
            return hashlib.sha256(f"{kind}:{value}".encode()).digest()[:KEY_HASH_SIZE]
        pair = (kind, value)
        found = self._seen.get(pair)
        if found is None:
            found = self._seen[pair] = key_hash(kind, value)
        return found


def check_bundles(tasks: Sequence[BundleTask]) -> list[BundleReport]:
    """:func:`check_bundle` of each (one worker task for a few bundles)."""
    return [check_bundle(t) for t in tasks]


def _raw(task: BundleTask, entries: Sequence[bytes], hashes: Sequence[bytes]) -> BundleReport:
    """A bundle of raw entries: their keys are their UUID and SHA-256
    (:func:`tlog.index.keys.index_keys`), and only a digest can name the latter."""
    rows = rows_of(entries, task.first, hashes) if task.key is not None else []
    candidates: list[Candidate] = []
    digests = task.config.digests
    if digests:
        for i, entry in enumerate(entries):
            digest = ("sha256", hashlib.sha256(entry).hexdigest())
            if digest in digests:
                keys = (("uuid", hashes[i].hex()), digest)
                candidates.append((i, entry, keys, tuple(match_entry(task.config, entry, keys))))
    return _report(task, rows, (), tuple(candidates))


def _report(
    task: BundleTask,
    rows: list[bytes],
    invalid: tuple[tuple[int, str], ...],
    candidates: tuple[Candidate, ...],
) -> BundleReport:
    if task.key is None:
        return BundleReport(invalid=invalid, candidates=candidates)
    count, product = fold(rows, task.key)
    return BundleReport(count, product, invalid, candidates)
