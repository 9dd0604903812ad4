"""Admission and placement: one record per input, and no input can stop a batch."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog import merkle
from tlog.admission import (
    Accepted,
    AlreadyLogged,
    Candidate,
    Refused,
    TakenByAnotherRun,
    admit_all,
    admit_rekor,
    leaf_hashes,
    place,
)
from tlog.errors import MalformedError, TlogError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
KINDS = ["hashedrekord", "rekord", "dsse", "intoto", "x"]
VERSIONS = ["0.0.1", "0.0.2", "0.0.3", "1"]
WRAPPERS = ["hashedRekordRequestV002", "dsseRequestV002"]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """Rekor-shaped documents with fuzzed insides, or any bytes at all."""
    shape = draw(st.sampled_from(["proposal", "request", "json", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    if shape == "json":
        doc: object = draw(JSON)
    elif shape == "request":
        doc = {draw(st.sampled_from(WRAPPERS)): draw(JSON)}
    else:
        doc = {
            "kind": draw(st.sampled_from(KINDS)),
            "apiVersion": draw(st.sampled_from(VERSIONS)),
            "spec": draw(JSON),
        }
    return json.dumps(doc).encode()


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=8))
def test_fuzzed_documents_raise_only_the_projects_errors(docs: list[bytes]) -> None:
    """Admission of hostile documents: a TlogError with a reason, never anything else
    (admit_all would contain it, but as an "internal error" without a reason)."""
    for doc in docs:
        try:
            admit_rekor(doc)
        except TlogError as exc:
            assert str(exc)
    out = admit_all([Candidate(str(i), d) for i, d in enumerate(docs)], admit_rekor)
    assert len(out) == len(docs)
    assert all(isinstance(leaf, bytes | Refused) for leaf in out)


class Weird(Exception):
    pass


def hostile_admit(data: bytes) -> bytes:
    """An admission function that fails in every way a parser bug could."""
    if data == b"recursion":
        raise RecursionError("maximum recursion depth exceeded")
    if data == b"value":
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
    if data == b"unicode":
        "\ud800".encode()
    if data == b"weird":
        raise Weird
    if data == b"ours":
        raise MalformedError("a reason of our own")
    return data


@pytest.mark.parametrize("executor", [None, "threads"])
def test_any_exception_becomes_that_inputs_refusal(executor: str | None) -> None:
    datas = [b"ok1", b"recursion", b"value", b"unicode", b"weird", b"ours", b"ok2"] * 100
    pool = ThreadPoolExecutor(2) if executor else None
    try:
        out = admit_all([Candidate("", d) for d in datas], hostile_admit, pool, chunk=16)
    finally:
        if pool:
            pool.shutdown()
    reasons = [x.reason if isinstance(x, Refused) else x for x in out[:7]]
    assert reasons == [
        b"ok1",
        "internal error admitting this entry: RecursionError",
        "internal error admitting this entry: ValueError",
        "internal error admitting this entry: UnicodeEncodeError",
        "internal error admitting this entry: Weird",
        "a reason of our own",
        b"ok2",
    ]
    assert out[7:] == out[:7] * 99


def test_an_interrupt_is_not_swallowed() -> None:
    def interrupted(data: bytes) -> bytes:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        admit_all([Candidate("", b"x")], interrupted)


def test_progress_can_stop_admission_between_chunks() -> None:
    class Stop(BaseException):
        pass

    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 20:
            raise Stop

    with ThreadPoolExecutor(1) as pool, pytest.raises(Stop):
        admit_all([Candidate("", b"x")] * 100, hostile_admit, pool, chunk=10, progress=progress)
    assert seen == [(10, 100), (20, 100)]


def test_placement_records_each_input() -> None:
    cands = [
        Candidate(s, d, p)
        for s, d, p in [
            ("new", b"a", None),
            ("bad", b"", None),
            ("again", b"a", None),
            ("old", b"logged", None),
            ("gone", b"q", "private/pending/1-x"),
            ("next", b"b", None),
        ]
    ]
    leaves: list[bytes | Refused] = [b"a", Refused("no"), b"a", b"logged", b"q", b"b"]
    hashes = leaf_hashes(leaves)
    tail = [b"x"] * 7 + [b"logged"] + [b"y"] * 2  # the log's last entries, 0..9
    p = place(cands, leaves, hashes, start=10, taken={"private/pending/1-x"}, tail=tail)
    h = merkle.leaf_hash
    assert p.slots == [
        Accepted(0),
        Refused("no"),
        Accepted(0, True),
        AlreadyLogged(7, h(b"logged")),
        TakenByAnotherRun(h(b"q")),
        Accepted(1),
    ]
    assert p.leaves == [b"a", b"b"]
    assert [(o.log_index, o.duplicate, o.error) for o in p.outcomes()] == [
        (10, False, None),
        (None, False, "no"),
        (10, True, None),
        (7, True, None),
        (None, True, None),
        (11, False, None),
    ]


@given(st.lists(st.binary(min_size=1, max_size=4), unique=True, max_size=50))
def test_the_fast_path_says_what_the_records_would(datas: list[bytes]) -> None:
    cands = [Candidate(str(i), d) for i, d in enumerate(datas)]
    leaves: list[bytes | Refused] = list(datas)
    fast = place(cands, leaves, leaf_hashes(leaves), start=3, taken=set())
    assert fast.slots is None
    # A logged entry nobody resubmits forces the per-input records.
    slow = place(cands, leaves, leaf_hashes(leaves), start=3, taken={"x"})
    assert slow.slots == [Accepted(i) for i in range(len(datas))]
    assert list(fast.outcomes()) == list(slow.outcomes())
    assert fast.leaves == slow.leaves == datas


def test_an_operators_policy_reaches_every_worker_of_the_pool() -> None:
    """The policy travels with the admission function (a picklable partial), so a
    narrower policy applies in the worker processes as in this one."""
    from entries.test_hashedrekord import request

    from tlog.admission import parallel_admission, rekor_admission
    from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy

    doc = json.dumps(request("p256")).encode()
    no_p256 = AdmissionPolicy(algorithms=DEFAULT_POLICY.algorithms - {"PKIX_ECDSA_P256_SHA_256"})
    docs = [doc] * 1100  # more than two chunks: admitted in the workers
    with parallel_admission(2) as pool:
        allowed = admit_all([Candidate("x", d) for d in docs], admit_rekor, pool)
        narrowed = admit_all([Candidate("x", d) for d in docs], rekor_admission(no_p256), pool)
    assert all(isinstance(x, bytes) for x in allowed)
    assert all(isinstance(x, Refused) for x in narrowed)
    assert "ECDSA" in narrowed[0].reason or "P256" in narrowed[0].reason


def _upper(data: bytes) -> bytes:
    return data.upper()


def test_a_stream_is_admitted_in_order_reading_only_so_far_ahead() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tlog.admission import admit_stream

    pulled = []

    def inputs():  # type: ignore[no-untyped-def]
        for i in range(100):
            pulled.append(i)
            yield Candidate(f"s{i}", b"doc %d" % i)

    with ThreadPoolExecutor(2) as pool:
        stream = admit_stream(inputs(), _upper, pool, chunk=5, ahead=3, ahead_bytes=1 << 20)
        piece, leaves = next(stream)
        assert [c.source for c in piece] == [f"s{i}" for i in range(5)]
        assert leaves == [b"DOC %d" % i for i in range(5)]
        assert len(pulled) <= 5 * 3 + 5  # three pieces in flight, one being cut
        rest = [leaf for _, lv in stream for leaf in lv]
    assert rest == [b"DOC %d" % i for i in range(5, 100)]


def test_a_stream_holds_about_ahead_bytes_in_flight() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tlog.admission import admit_stream

    pulled = []

    def inputs():  # type: ignore[no-untyped-def]
        for i in range(100):
            pulled.append(i)
            yield Candidate(f"s{i}", b"x" * 100)

    with ThreadPoolExecutor(2) as pool:
        stream = admit_stream(inputs(), _upper, pool, chunk=5, ahead=50, ahead_bytes=1000)
        next(stream)
        assert len(pulled) <= 5 * 3 + 5  # 1,000 bytes: two pieces of 500
        stream.close()
