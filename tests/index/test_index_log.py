"""The index of a sequenced log: exact dedup, complete search, tampering refused."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logcheck import check_log

from tests.index.signing import ISSUER, document, identity
from tlog import layout
from tlog.admission import Candidate, rekor_admission
from tlog.client import Client
from tlog.entries.policy import DEFAULT_POLICY
from tlog.errors import VerificationError
from tlog.fetch.store import StoreFetcher
from tlog.index.keys import index_keys
from tlog.keys import generate
from tlog.queue import pending_candidates, status, submit
from tlog.sequencer import Sequencer
from tlog.storage.memory import MemoryStore

KEYS = generate("test.example/index").keys
ADMIT = rekor_admission(DEFAULT_POLICY)


def new_log() -> tuple[MemoryStore, Sequencer]:
    store = MemoryStore()
    seq = Sequencer(store, KEYS)
    seq.init()
    return store, seq


def client(store: MemoryStore) -> Client:
    return Client(StoreFetcher(store), KEYS.verifiers())


def raw(tag: str, n: int) -> list[Candidate]:
    return [Candidate(f"{tag}{i}", f"entry {i}".encode()) for i in range(n)]


def test_sequencing_the_same_file_twice_logs_each_entry_once() -> None:
    store, seq = new_log()
    seq.sequence(raw("first", 700))
    again = seq.sequence(raw("again", 700) + raw("more", 710))
    outcomes = list(again.outcomes)
    assert again.checkpoint.checkpoint.size == 710
    assert [o.log_index for o in outcomes[:700]] == list(range(700))
    assert all(o.duplicate for o in outcomes[:710])
    assert [o.log_index for o in outcomes[700:]] == list(range(700)) + list(range(700, 710))
    assert len(check_log(store, KEYS)) == 710


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=40), min_size=1, max_size=6))
def test_search_equals_a_naive_scan_over_batch_splits(batches: list[list[int]]) -> None:
    store, seq = new_log()
    for b in batches:
        seq.sequence([Candidate(str(n), f"entry {n}".encode()) for n in b])
    entries = check_log(store, KEYS)
    assert len(entries) == len({n for b in batches for n in b})
    queries = [("sha256", hashlib.sha256(f"entry {n}".encode()).hexdigest()) for n in range(65)]
    queries += [("uuid", hashlib.sha256(b"\x00" + e).hexdigest()) for e in entries[:5]]
    found = client(store).search(queries)
    for q in queries:
        assert found[q] == [i for i, e in enumerate(entries) if q in index_keys(e)]


IDENTITIES = [identity(f"user{i}@example.com") for i in range(3)]
#: A pool of admitted Rekor entries: three identities, some artifacts signed by several,
#: half of them with bare keys (no identity).
POOL = [
    (i, n, document(IDENTITIES[i], b"artifact %d" % n, cert=n % 2 == 0))
    for i in range(3)
    for n in range(i, i + 8)
]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=12), min_size=1, max_size=4
    )
)
def test_search_equals_a_naive_scan_for_every_key_kind(batches: list[list[int]]) -> None:
    store, seq = new_log()
    for b in batches:
        seq.sequence([Candidate(str(p), POOL[p][2]) for p in b], ADMIT)
    entries = check_log(store, KEYS)
    queries = [("key", who.spki_sha256) for who in IDENTITIES]
    queries += [("email", who.email) for who in IDENTITIES]
    queries += [("email+issuer", f"{who.email}\n{ISSUER}") for who in IDENTITIES]
    queries += [("sha256", hashlib.sha256(b"artifact %d" % n).hexdigest()) for n in range(11)]
    queries += [("uuid", hashlib.sha256(b"\x00" + e).hexdigest()) for e in entries[:3]]
    found = client(store).search(queries)
    for q in queries:
        assert found[q] == [i for i, e in enumerate(entries) if q in index_keys(e)]
    assert any(found[q] for q in queries[:3])


def test_search_by_key_identity_and_issuer_finds_every_entry() -> None:
    store, seq = new_log()
    alice, bob = identity("alice@example.com"), identity("bob@example.com")
    docs = [document(alice, f"a{i}".encode()) for i in range(300)]
    docs += [document(bob, b"b", cert=False)]
    seq.sequence([Candidate(str(i), d) for i, d in enumerate(docs[:120])], ADMIT)
    seq.sequence([Candidate(str(i), d) for i, d in enumerate(docs[120:])], ADMIT)
    c = client(store)
    q_key, q_mail = ("key", alice.spki_sha256), ("email", "Alice@example.com".lower())
    q_iss, q_bob = ("email+issuer", f"alice@example.com\n{ISSUER}"), ("key", bob.spki_sha256)
    q_none = ("email", "nobody@example.com")
    found = c.search([q_key, q_mail, q_iss, q_bob, q_none])
    assert found[q_key] == found[q_mail] == found[q_iss] == list(range(300))
    assert found[q_bob] == [300] and found[q_none] == []


def test_find_by_uuid_goes_through_the_index() -> None:
    store, seq = new_log()
    res = seq.sequence(raw("e", 600))
    uuid = [o.uuid for o in res.outcomes][444]
    assert uuid is not None
    c = client(store)
    assert c.find(bytes.fromhex(uuid)) == 444
    reads = StoreFetcher(store)
    calls: list[str] = []
    fetch = reads.fetch

    def counting(path: str, limit: int) -> bytes:
        calls.append(path)
        return fetch(path, limit)

    reads.fetch = counting  # type: ignore[method-assign]
    assert Client(reads, KEYS.verifiers()).find(bytes.fromhex(uuid)) == 444
    assert "tile/0/000" not in calls  # no scan from the start


def test_a_queued_entry_already_logged_is_reported_not_appended() -> None:
    store, seq = new_log()
    seq.sequence(raw("e", 300))
    submit(store, b"entry 5", None)
    submit(store, b"entry new", None)
    cands = [c for c in pending_candidates(store, 10) if isinstance(c, Candidate)]
    res = seq.sequence(cands)
    assert [(o.log_index, o.duplicate) for o in res.outcomes] == [(5, True), (300, False)]
    assert store.list(layout.PENDING_PREFIX) == []
    uuid = hashlib.sha256(b"\x00entry 5").hexdigest()
    assert status(store, uuid).log_index == 5


def test_the_loser_of_a_race_dedups_against_the_winners_index() -> None:
    store, _ = new_log()
    orig = store.swap
    raced = {"done": False}

    def swap(key: str, data: bytes, expect: str | None) -> str:
        if key == layout.LOCK and not raced["done"]:
            raced["done"] = True
            store.swap = orig  # type: ignore[method-assign]
            Sequencer(store, KEYS).sequence(raw("w", 400))
        return orig(key, data, expect)

    store.swap = swap  # type: ignore[method-assign]
    res = Sequencer(store, KEYS).sequence([*raw("l", 300)[100:], Candidate("x", b"other")])
    assert [o.log_index for o in res.outcomes] == [*range(100, 300), 400]
    assert len(check_log(store, KEYS)) == 401


# -- tampering ---------------------------------------------------------------------


def tampered_log() -> tuple[MemoryStore, Sequencer]:
    store, seq = new_log()
    for n in (300, 20, 5):
        seq.sequence([Candidate(str(i), f"t{n}-{i}".encode()) for i in range(n)])
    return store, seq


QUERY = [("sha256", hashlib.sha256(f"t300-{i}".encode()).hexdigest()) for i in range(0, 300, 7)]


def test_a_segment_missing_a_row_is_refused() -> None:
    store, _ = tampered_log()
    head = client(store).index_head()
    seg = head.segments[0]
    data = store.objects[seg.key]
    store.objects[seg.key] = data[:24] + data[48:] + bytes(24)
    with pytest.raises(VerificationError, match="does not match"):
        client(store).search(QUERY)


def test_a_swapped_segment_object_is_refused() -> None:
    store, _ = tampered_log()
    head = client(store).index_head()
    a, b = head.segments[0], head.segments[-1]
    store.objects[a.key] = store.objects[b.key]
    with pytest.raises(VerificationError):
        client(store).search(QUERY)


def test_a_stale_head_is_refused() -> None:
    store, _ = tampered_log()
    size = client(store).latest().checkpoint.size
    old = store.objects[layout.index_history_key(320)]
    store.objects[layout.index_history_key(size)] = old
    with pytest.raises(VerificationError, match=r"stale or foreign|not this log"):
        client(store).search(QUERY)


def test_a_head_for_another_checkpoint_is_refused() -> None:
    store, _ = tampered_log()
    other, seq = new_log()
    seq.sequence([Candidate(str(i), f"x{i}".encode()) for i in range(325)])
    store.objects[layout.index_history_key(325)] = other.objects[layout.index_history_key(325)]
    with pytest.raises(VerificationError, match="not this log"):
        client(store).search(QUERY)


def test_a_head_signed_by_another_key_is_refused() -> None:
    store, _ = tampered_log()
    stranger = generate("test.example/index").keys
    head = client(store).index_head()
    forged = head.sign(stranger.signers(int))
    store.objects[layout.index_history_key(325)] = forged
    with pytest.raises(VerificationError):
        client(store).search(QUERY)


def test_a_changed_segment_stops_the_next_batch() -> None:
    # Three batches make three segments of one level; the next batch's dedup reads them
    # (and its merge would), each authenticated against the head's root: nothing is
    # logged on top of an index that does not match.
    store, seq = new_log()
    batch = lambda i: [Candidate(str(i), b"batch %d entry %d" % (i, j)) for j in range(2)]  # noqa: E731
    for i in range(3):
        seq.sequence(batch(i))
    head = client(store).index_head()
    seg = head.segments[-1]
    data = bytearray(store.objects[seg.key])
    data[0] ^= 1
    store.objects[seg.key] = bytes(data)
    with pytest.raises(VerificationError, match="does not match the head"):
        seq.sequence(batch(3))
    assert client(store).latest().checkpoint.size == 6
