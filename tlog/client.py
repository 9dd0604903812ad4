"""The verifying reader of one log: checkpoints, entries and proofs, all checked.

A :class:`Client` trusts only the vkeys it is given (docs/design.md "Read side"):

1. it fetches ``checkpoint`` and opens it against the vkeys and the expected origin
   (unknown signatures ignored, a failing known one rejects it: C2SP signed-note);
2. it proves that checkpoint consistent with the one remembered in the
   :class:`~tlog.state.CheckpointState` (rollback or fork → InconsistencyError with
   evidence), then remembers it;
3. every hash and entry it returns comes from a
   :class:`~tlog.fetch.tiles.TileReader`, which authenticates each tile against that
   checkpoint before use, and every proof it returns is verified before it is returned
   (RFC 9162 §2.1.3.2, §2.1.4.2).

Integrated time: an entry's time is the cosignature/v1 timestamp of the first
checkpoint covering it. The covers objects of the entry's bundle
(``checkpoints/covers/<L>/<N>[.p/<W>]``, :mod:`tlog.tree`) name that checkpoint's size
without listing; they are only a hint: the checkpoint it names must be past the entry, is
fetched, its signatures verified, and it is proven consistent with the latest one. The
log signed no checkpoint whose size lies between the entry and its true first covering
one, and its checkpoint times never go backwards, so a lying server can only name a
later checkpoint and make an entry look *later* than it was, never earlier. Logs
without covers objects fall back on the latest checkpoint (a true but later bound).

The client does no IO of its own beyond the injected fetcher, cache and state;
:func:`open_log` builds one from a location and vkeys, as the read commands do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tlog import layout, merkle, tree
from tlog.checkpoint import SignedCheckpoint, evidence, log_origin, open_checkpoint
from tlog.errors import (
    ConfigError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.fetch import Fetcher, open_fetcher
from tlog.fetch.cache import DiskTileCache, TileCache, default_cache_dir
from tlog.fetch.partial import read_covers
from tlog.fetch.readahead import PARALLEL, default_parallel
from tlog.fetch.tiles import TileReader
from tlog.index.head import MAX_HEAD_SIZE, IndexHead, open_head
from tlog.index.keys import key_hash
from tlog.index.lookup import Stats, lookup
from tlog.note import Verifier
from tlog.policy import MAX_POLICY_SIZE, Policy
from tlog.proof import TlogProof, VerifiedEntry
from tlog.state import CheckpointState, default_state_dir
from tlog.tile import TILE_WIDTH
from tlog.vkey import parse_vkey, parse_vkeys

#: A vkey file holds a few lines; anything larger is not one.
MAX_VKEY_FILE = 64 * 1024


def load_policy(path: Path) -> Policy:
    """The C2SP tlog-policy file at ``path`` (:class:`tlog.policy.Policy`)."""
    try:
        with Path(path).expanduser().open("rb") as f:
            data = f.read(MAX_POLICY_SIZE + 1)
        return Policy.parse(data)
    except OSError as exc:
        raise ConfigError(f"cannot read witness policy {path}: {exc}") from exc
    except MalformedError as exc:
        raise ConfigError(f"witness policy {path}: {exc}") from exc


def load_vkeys(values: Sequence[str]) -> list[Verifier]:
    """Each value is a vkey string or a file of vkey lines (blank, ``#`` ignored)."""
    if not values:
        raise ConfigError("give the log's vkey with --vkey (a vkey or a file of vkey lines)")
    out: list[Verifier] = []
    for value in values:
        path = Path(value).expanduser()
        if "+" in value and not path.exists():
            out.append(parse_vkey(value))
            continue
        try:
            with path.open("rb") as f:  # read bounded: st_size is 0 for /dev/zero
                data = f.read(MAX_VKEY_FILE + 1)
            if len(data) > MAX_VKEY_FILE:
                raise ConfigError(f"vkey file {path} is too large to be a vkey file")
            text = data.decode("utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"--vkey {value!r} is neither a vkey nor an existing file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read vkey file {path}: {exc}") from exc
        out.extend(parse_vkeys(text, f"vkey file {path}"))
    return out


def open_log(
    location: str,
    vkeys: Sequence[str | Verifier],
    *,
    endpoint_url: str | None = None,
    state_dir: Path | None = None,
    cache_dir: Path | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    cache: bool = True,
    policy: Policy | None = None,
    parallel: int | None = None,
) -> Client:
    """A verifying :class:`Client` of the log at ``location`` (a folder,
    ``s3://bucket/prefix`` or an ``http(s)://`` URL), trusting ``vkeys``: verifiers, vkey
    strings or vkey files (:func:`load_vkeys`).

    The last verified checkpoint is remembered in ``state_dir`` (default
    ``$XDG_STATE_HOME/tlog``) and authenticated tiles cached in ``cache_dir`` (default
    ``$XDG_CACHE_HOME/tlog``; none with ``cache=False``). With ``policy``, checkpoints
    need its quorum of witness cosignatures. ``parallel`` bounds the fetches in flight
    (:func:`tlog.fetch.readahead.read_ahead`; default
    :func:`~tlog.fetch.readahead.default_parallel`: 64 over HTTP, 16 otherwise). No IO
    happens here.
    """
    strings = [v for v in vkeys if isinstance(v, str)]
    verifiers = [v for v in vkeys if not isinstance(v, str)]
    if strings or not verifiers:
        verifiers += load_vkeys(strings)
    origin = log_origin(verifiers)
    fetcher = open_fetcher(location, endpoint_url, timeout=timeout, retries=retries)
    state = CheckpointState(state_dir if state_dir is not None else default_state_dir())
    tiles = None
    if cache:
        tiles = DiskTileCache(cache_dir if cache_dir is not None else default_cache_dir(), origin)
    return Client(
        fetcher,
        verifiers,
        origin=origin,
        cache=tiles,
        state=state,
        policy=policy,
        parallel=default_parallel(location) if parallel is None else parallel,
    )


@dataclass(frozen=True)
class ConsistencyProof:
    """A verified RFC 6962 consistency proof between two sizes of one log."""

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    hashes: tuple[bytes, ...]
    #: The verified checkpoint whose tiles the proof was computed from.
    checkpoint: SignedCheckpoint


class Client:
    """Verified reads of one log through a :class:`~tlog.fetch.Fetcher`.

    ``origin`` defaults to the name of the log vkey. The latest checkpoint is fetched
    once per client (:meth:`latest`); make a new client to see a newer one.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        verifiers: Sequence[Verifier],
        *,
        origin: str | None = None,
        cache: TileCache | None = None,
        state: CheckpointState | None = None,
        parallel: int = PARALLEL,
        policy: Policy | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.verifiers = list(verifiers)
        self.origin = origin if origin is not None else log_origin(self.verifiers)
        self.cache = cache
        self.state = state
        #: Fetches in flight at once, for every read of this client (and for scans by
        #: its users: ``client.reader.scan``, :func:`tlog.fetch.readahead.read_ahead`).
        self.parallel = max(1, parallel)
        self.policy = policy
        self._latest: SignedCheckpoint | None = None
        self._reader: TileReader | None = None
        self._history: dict[int, SignedCheckpoint] = {}
        self._index: IndexHead | None = None

    # -- checkpoints ------------------------------------------------------------------

    def verify_checkpoint(self, data: bytes, what: str) -> SignedCheckpoint:
        """Verify a signed checkpoint fetched from ``what`` (errors name the object) and,
        with a policy, its quorum of witness cosignatures (:meth:`Policy.check`)."""
        try:
            signed = open_checkpoint(data, self.verifiers, self.origin)
            if self.policy is not None:
                self.policy.check(signed.note, int(time.time()))
            return signed
        except TlogError as exc:
            raise _renamed(exc, f"{what}: {exc}") from exc

    def latest(self) -> SignedCheckpoint:
        """The log's current checkpoint, verified and consistent with the remembered one."""
        if self._latest is None:
            data = self.fetcher.fetch(layout.CHECKPOINT, layout.MAX_CHECKPOINT_SIZE)
            signed = self.verify_checkpoint(data, layout.CHECKPOINT)
            reader = TileReader(signed.checkpoint, self.fetcher, self.cache, parallel=self.parallel)
            if self.state is not None:
                self.state.accept(
                    signed,
                    self.verifiers,
                    lambda a, b: merkle.consistency_proof(a, b, reader.read),
                )
            self._latest, self._reader = signed, reader
        return self._latest

    @property
    def reader(self) -> TileReader:
        """The authenticating tile reader of the latest checkpoint."""
        self.latest()
        assert self._reader is not None
        return self._reader

    @property
    def size(self) -> int:
        return self.latest().checkpoint.size

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        """The published checkpoint of ``size`` (``checkpoints/<size>``), verified and
        proven consistent with the latest one.
        """
        latest = self.latest()
        if size == latest.checkpoint.size:
            return latest
        if not 0 <= size < latest.checkpoint.size:
            raise NotFoundError(f"no checkpoint of size {size} in a log of size {self.size}")
        if size in self._history:
            return self._history[size]
        key = layout.history_key(size)
        signed = self.verify_checkpoint(self.fetcher.fetch(key, layout.MAX_CHECKPOINT_SIZE), key)
        cp = signed.checkpoint
        if cp.size != size:
            raise VerificationError(f"{key} holds a checkpoint of size {cp.size}")
        proof = merkle.consistency_proof(size, self.size, self.reader.read)
        try:
            if size == 0:
                if cp.root != merkle.EMPTY_ROOT:
                    raise VerificationError("size 0 with a root other than the empty tree's")
            else:
                merkle.verify_consistency(size, self.size, cp.root, latest.checkpoint.root, proof)
        except VerificationError as exc:
            raise InconsistencyError(
                f"{key} is not consistent with the latest checkpoint of size {self.size} ({exc})",
                evidence=evidence(latest, signed, proof),
            ) from exc
        self._history[size] = signed
        return signed

    def covering_size(self, index: int) -> int | None:
        """The size of the first checkpoint covering ``index``, per the covers objects
        of its entry bundle at the latest checkpoint's width (a hint, see the module
        docstring); None if the log publishes none that names one.
        """
        size = self._check_index(index)
        s = tree.covering_size(index, size, read_covers(self.fetcher))
        if s is not None and s > size:
            key = layout.cover_for(index, size)
            raise VerificationError(
                f"covers objects for {key} name size {s}, past the log's {size}"
            )
        return s

    def covering(self, index: int) -> SignedCheckpoint:
        """The first checkpoint covering ``index`` (verified, consistent with the latest);
        the latest one if the log publishes no covers objects.
        """
        s = self.covering_size(index)
        return self.latest() if s is None else self.checkpoint_at(s)

    def integrated_time(self, index: int) -> int | None:
        """The verified cosignature time of the first checkpoint covering ``index``."""
        return self.covering(index).timestamp

    # -- entries and proofs -----------------------------------------------------------

    def _check_index(self, index: int) -> int:
        size = self.size
        if not 0 <= index < size:
            raise NotFoundError(f"no entry {index} in log {self.origin} of size {size}")
        return size

    def entry(self, index: int) -> bytes:
        """The entry at ``index``, checked against its authenticated leaf hash."""
        self._check_index(index)
        return self.reader.entry(index)

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index)
        return self.reader.read([(0, index)])[0]

    def inclusion(self, index: int, at: SignedCheckpoint | None = None) -> list[bytes]:
        """The verified audit path of ``index`` in the tree of ``at`` (default: latest).

        ``at`` must be the latest checkpoint or come from :meth:`checkpoint_at`.
        """
        signed = at or self.latest()
        cp = signed.checkpoint
        self._check_index(index)
        if cp.size > self.size:
            raise NotFoundError(f"no checkpoint of size {cp.size} in a log of size {self.size}")
        if not 0 <= index < cp.size:
            raise NotFoundError(f"entry {index} is not in the tree of size {cp.size}")
        proof = merkle.inclusion_proof(index, cp.size, self.reader.read)
        merkle.verify_inclusion(index, cp.size, self.leaf_hash(index), proof, cp.root)
        return proof

    def consistency(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """A verified consistency proof from ``size1`` to ``size2`` (default: latest),
        with both roots computed from tiles authenticated by the latest checkpoint.
        """
        latest = self.latest()
        size2 = self.size if size2 is None else size2
        if not 0 <= size1 <= size2 <= self.size:
            raise NotFoundError(
                f"no consistency proof from size {size1} to {size2} in a log of size {self.size}"
            )
        read = self.reader.read
        root1, root2 = merkle.tree_root(size1, read), merkle.tree_root(size2, read)
        hashes = merkle.consistency_proof(size1, size2, read)
        if size1 > 0:
            merkle.verify_consistency(size1, size2, root1, root2, hashes)
        return ConsistencyProof(size1, size2, root1, root2, tuple(hashes), latest)

    def prove(self, index: int, *, latest: bool = False) -> tuple[TlogProof, VerifiedEntry]:
        """An offline proof for ``index`` (c2sp.org/tlog-proof@v1, entry in ``extra``),
        against the first checkpoint covering it (so the proof carries the integrated
        time), or the latest one with ``latest=True``. Verified before it is returned.
        """
        at = self.latest() if latest else self.covering(index)
        entry = self.entry(index)
        hashes = self.inclusion(index, at)
        proof = TlogProof(index, tuple(hashes), at.format(), extra=entry)
        return proof, proof.verify(self.verifiers, self.origin)

    # -- the index (docs/index.md) ---------------------------------------------------

    def index_head(self) -> IndexHead:
        """The verified index head of the latest checkpoint.

        ``index/heads/<size>`` of the size the checkpoint names is fetched (immutable:
        a CDN caches it for good; docs/index.md "Lookups"). A head that does not verify,
        or that names another root for this size, is a VerificationError.
        """
        if self._index is None:
            cp = self.latest().checkpoint
            key = layout.index_history_key(cp.size)
            try:
                data = self.fetcher.fetch(key, MAX_HEAD_SIZE)
            except NotFoundError:
                raise NotFoundError(
                    f"{self.origin} has no search index at size {cp.size} (no {key}): "
                    "its operator can build one with 'tlog index rebuild'"
                ) from None
            head = open_head(data, self.verifiers)
            if not head.indexes(cp):
                raise VerificationError(
                    f"index head for size {head.size} has root {head.root.hex()}, the "
                    f"checkpoint {cp.root.hex()}: the index is not this log's"
                )
            self._index = head
        return self._index

    def search(
        self, keys: Sequence[tuple[str, str]], stats: Stats | None = None
    ) -> dict[tuple[str, str], list[int]]:
        """Each (kind, value) key → the ascending indices of the entries the index lists
        for it, proven complete against the verified head (absence included). Hits are
        not re-checked here: :meth:`entry` and :func:`tlog.index.keys.index_keys` do it.
        """
        head = self.index_head()
        hashes = {key: key_hash(*key) for key in keys}
        with ThreadPoolExecutor(self.parallel) as pool:

            def run(reads: list[Callable[[], bytes]]) -> list[bytes]:
                return list(pool.map(lambda r: r(), reads))

            found = lookup(
                head, list(hashes.values()), self.fetcher.fetch_range, run=run, stats=stats
            )
        return {key: found[h] for key, h in hashes.items()}

    def find(self, leaf_hash: bytes) -> int:
        """The index of the entry whose leaf hash (UUID) is ``leaf_hash``, through the
        index (its hit re-checked against the authenticated leaf hash). A log without an
        index is scanned: one 8 KiB GET per 256 entries (cached tiles cost nothing).
        """
        if len(leaf_hash) != merkle.HASH_SIZE:
            raise MalformedError(f"a UUID is a 32-byte leaf hash, not {len(leaf_hash)} bytes")
        try:
            self.index_head()
        except NotFoundError:
            return self._scan(leaf_hash)
        for index in self.search([("uuid", leaf_hash.hex())])[("uuid", leaf_hash.hex())]:
            if self.leaf_hash(index) == leaf_hash:
                return index
        raise NotFoundError(f"no entry with UUID {leaf_hash.hex()} in {self.origin}")

    def _scan(self, leaf_hash: bytes) -> int:
        """The first index whose authenticated leaf hash is ``leaf_hash``: the level-0
        tiles read :attr:`parallel` at a time (:meth:`TileReader.scan`)."""
        for k, hashes, _ in self.reader.scan(entries=False):
            for i, h in enumerate(hashes):
                if h == leaf_hash:
                    return k * TILE_WIDTH + i
        raise NotFoundError(f"no entry with UUID {leaf_hash.hex()} in {self.origin}")


def _renamed(exc: TlogError, message: str) -> TlogError:
    """The same kind of error with a message that names the object."""
    if isinstance(exc, InconsistencyError):
        return InconsistencyError(message, evidence=exc.evidence)
    try:
        return type(exc)(message)
    except TypeError:
        return exc
