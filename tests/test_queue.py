"""The submission queue: admitted before queueing, drained oldest first, and its status
readable with a submitter's permissions."""

from __future__ import annotations

import itertools
from typing import cast

import pytest
from clirun import signed_request
from logcheck import check_log

from tlog import layout, merkle
from tlog.admission import Candidate, admit_rekor
from tlog.errors import MalformedError, NothingAdmitted, StorageError, TlogError
from tlog.keys import generate
from tlog.queue import pending_candidates, public_size, status, submit, uuid_of
from tlog.sequencer import Sequencer
from tlog.storage import Store
from tlog.storage.memory import MemoryStore

KEYS = generate("queue.example/log").keys


def new_log() -> MemoryStore:
    store = MemoryStore()
    Sequencer(store, KEYS).init()
    return store


def drain(store: MemoryStore, limit: int = 100) -> list[str]:
    """One ``sequence --pending`` run; the sources it sequenced, in log order."""
    cands = [c for c in pending_candidates(store, limit) if isinstance(c, Candidate)]
    result = Sequencer(store, KEYS).sequence(cands, admit_rekor)
    return [o.source for o in result.outcomes if o.ok]


def uuid(doc: bytes) -> str:
    return merkle.leaf_hash(admit_rekor(doc)).hex()


def test_an_earlier_submission_is_never_logged_after_a_later_one() -> None:
    store = new_log()
    docs = [signed_request(i) for i in range(6)]
    # Submitted in this order, whatever their hashes (content-addressed keys would
    # list them by hash).
    order = sorted(docs, key=uuid, reverse=True)
    clock = itertools.count(1_700_000_000_000_000_000)
    keys = [submit(store, d, clock=lambda: next(clock)) for d in order]
    logged = drain(store, limit=2) + drain(store, limit=2) + drain(store, limit=2)
    assert logged == [f"pending:{k[len(layout.PENDING_PREFIX) :]}" for k in keys]
    entries = check_log(store, KEYS)
    assert [merkle.leaf_hash(e).hex() for e in entries] == [uuid(d) for d in order]


def test_the_same_entry_is_queued_once_while_it_waits() -> None:
    store = new_log()
    first = submit(store, signed_request(1))
    assert submit(store, signed_request(1)) == first
    assert store.list(layout.PENDING_PREFIX) == [first]
    assert uuid_of(first) == uuid(signed_request(1))


def test_submit_refuses_what_sequence_would_refuse_and_queues_nothing() -> None:
    store = new_log()
    for doc in (b"not json at all", b'{"kind": "x", "apiVersion": "1", "spec": {}}'):
        with pytest.raises(TlogError):
            submit(store, doc)
    assert store.list(layout.PENDING_PREFIX) == []


def test_status_follows_an_item_from_queued_to_logged() -> None:
    store = new_log()
    drain_first = submit(store, signed_request(0))
    key = submit(store, signed_request(1))
    name = key[len(layout.PENDING_PREFIX) :]
    st = status(store, name)
    assert (st.state, st.name, st.uuid) == ("queued", name, uuid(signed_request(1)))
    assert status(store, uuid(signed_request(1))).state == "queued"
    assert drain_first  # two items: the scan has to look past the other one
    drain(store)
    for ref in (name, uuid(signed_request(1)), uuid(signed_request(1)).upper()):
        st = status(store, ref)
        assert (st.state, st.log_index) == ("logged", 1), ref
    assert status(store, "ab" * 32).state == "unknown"


def test_a_refused_queue_item_says_why_to_its_submitter() -> None:
    store = new_log()
    good = submit(store, signed_request(1))
    bad = submit(store, b'{"kind": "nosuchkind", "apiVersion": "1", "spec": {}}', admit=None)
    drain(store)
    st = status(store, bad[len(layout.PENDING_PREFIX) :])
    assert st.state == "refused" and st.reason is not None and "nosuchkind" in st.reason
    assert status(store, good[len(layout.PENDING_PREFIX) :]).state == "logged"
    # The reason is under private/refused/, the document under private/rejected/.
    name = bad[len(layout.PENDING_PREFIX) :]
    assert store.list(layout.REFUSED_PREFIX) == [layout.refused_key(name)]
    assert store.list(layout.REJECTED_PREFIX) == [layout.REJECTED_PREFIX + name]


HOSTILE = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": ' + b"1" * 5000 + b"}",
    b'{"hashedRekordRequestV002": {"digest": "\\ud800"}}',
    b"\xff\xfe\x00garbage",
]


def test_hostile_queue_items_never_jam_the_queue() -> None:
    store = new_log()
    for doc in HOSTILE:
        submit(store, doc, admit=None)
    good = submit(store, signed_request(3))
    assert drain(store) == [f"pending:{good[len(layout.PENDING_PREFIX) :]}"]
    assert store.list(layout.PENDING_PREFIX) == []
    assert len(store.list(layout.REFUSED_PREFIX)) == len(HOSTILE)
    with pytest.raises(NothingAdmitted, match="empty"):
        drain(store)  # the next run finds nothing left to choke on


def test_status_refuses_what_is_no_queue_key() -> None:
    with pytest.raises(MalformedError):
        status(new_log(), "../lock")


class SubmitterView:
    """A log's store as a submitter sees it: write private/pending/ only; read it,
    private/refused/ and the public log; nothing else (a bucket policy would say so)."""

    READ = (
        layout.PENDING_PREFIX,
        layout.REFUSED_PREFIX,
        layout.CHECKPOINT,
        "tile/",
        "checkpoints/",
        "index/",
    )

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def _may(self, key: str, prefixes: tuple[str, ...]) -> None:
        if not key.startswith(prefixes):
            raise StorageError(f"access denied: {key}")

    def read(self, key: str, limit: int) -> bytes:
        self._may(key, self.READ)
        return self.inner.read(key, limit)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        self._may(key, self.READ)
        return self.inner.read_range(key, start, length)

    def list(self, prefix: str) -> list[str]:
        self._may(prefix, self.READ)
        return self.inner.list(prefix)

    def create(self, key: str, data: bytes) -> None:
        self._may(key, (layout.PENDING_PREFIX,))
        self.inner.create(key, data)


def test_a_submitter_needs_no_access_to_the_lock_or_rejected_documents() -> None:
    store = new_log()
    view = cast(Store, SubmitterView(store))
    assert public_size(view) == 0
    good = submit(view, signed_request(5))[len(layout.PENDING_PREFIX) :]
    bad = submit(store, b'{"kind": "nosuchkind", "apiVersion": "1"}', admit=None)
    assert status(view, good).state == "queued"
    drain(store)
    assert (status(view, good).state, status(view, good).log_index) == ("logged", 0)
    refused = status(view, bad[len(layout.PENDING_PREFIX) :])
    assert refused.state == "refused" and refused.reason and "nosuchkind" in refused.reason
