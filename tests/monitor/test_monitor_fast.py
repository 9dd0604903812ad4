"""The scan's fast paths agree with the general ones, and fixed memory misses nothing:
hashedrekord bodies read once (tlog.monitor.hashedrekord), the Bloom filter of leaf
hashes (tlog.monitor.seen), leaf tiles authenticated without the reader's cache."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.index.signing import entry, identity
from tests.monitor.logs import Harness, Log
from tlog import layout
from tlog.codec import b64decode, encode_pem
from tlog.entries import admit_json
from tlog.entries.algorithm import HASH_SIZE, algorithm_for
from tlog.entries.fields import lower_hex
from tlog.entries.pkix import PkixKey, certificate_key, key_from_spki, parse_certificate
from tlog.errors import TlogError
from tlog.index.keys import certificate_keys, index_keys, key_hash, normalize
from tlog.monitor import hashedrekord
from tlog.monitor.examine import _KeyHashes, examine
from tlog.monitor.seen import SeenFilter

ALICE = identity("Alice@Example.com")


def general(body: bytes, uuid: str) -> tuple[list[tuple[str, str]], bool]:
    """index_keys and whether re-admission returns the body (the general path)."""
    try:
        valid = admit_json(body).body == body
    except TlogError:
        valid = False
    return index_keys(body, uuid), valid


def variants() -> list[bytes]:
    """Stored bodies, valid and not, of the shape the fast path reads and around it."""
    good = [entry(ALICE, b"a"), entry(ALICE, b"b", cert=False)]
    out = list(good)
    doc = json.loads(good[0])
    sig = base64.b64decode(doc["spec"]["signature"]["content"])
    pem = base64.b64decode(doc["spec"]["signature"]["publicKey"]["content"])

    def with_(sig_b: bytes = sig, pem_b: bytes = pem, value: str | None = None) -> bytes:
        d = json.loads(good[0])
        d["spec"]["signature"]["content"] = base64.b64encode(sig_b).decode()
        d["spec"]["signature"]["publicKey"]["content"] = base64.b64encode(pem_b).decode()
        if value is not None:
            d["spec"]["data"]["hash"]["value"] = value
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()

    out.append(with_())  # the same body re-encoded: equal bytes, valid
    out.append(with_(sig_b=sig[:-1] + bytes([sig[-1] ^ 1])))  # a bad signature
    out.append(with_(value="00" * 32))  # another digest
    out.append(with_(value="ab" * 31))  # a short digest
    out.append(with_(pem_b=pem.replace(b"\n", b"\r\n")))  # not canonical PEM
    out.append(with_(pem_b=pem + pem))  # a chain of two (the general path's)
    out.append(with_(pem_b=pem[:200] + b"A" + pem[201:]))  # a changed certificate
    out.append(good[0].replace(b'"sha256"', b'"sha512"'))  # a hash of the wrong size
    out.append(good[0].replace(b'"content":"', b'"content":"AAAA', 1))  # another signature
    out.append(good[0][:-1] + b" }")  # not canonical JSON
    out.append(good[0].replace(b"=", b"", 1))  # base64 without its padding
    return out + v2_variants()


def v2_request(
    artifact: bytes, *, cert: bool = True, details: str = "PKIX_ECDSA_P256_SHA_256"
) -> bytes:
    digest = hashlib.sha256(artifact).digest()
    sig = ALICE.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    if cert:
        der = x509.load_pem_x509_certificate(ALICE.cert_pem).public_bytes(Encoding.DER)
        verifier = {"x509Certificate": {"rawBytes": base64.b64encode(der).decode()}}
    else:
        der = ALICE.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        verifier = {"publicKey": {"rawBytes": base64.b64encode(der).decode()}}
    verifier["keyDetails"] = details  # type: ignore[assignment]
    request = {
        "digest": base64.b64encode(digest).decode(),
        "signature": {"content": base64.b64encode(sig).decode(), "verifier": verifier},
    }
    return json.dumps({"hashedRekordRequestV002": request}).encode()


def v2_variants() -> list[bytes]:
    """Rekor v2 (0.0.2) stored bodies, valid and not."""
    good = [admit_json(v2_request(b"x")).body, admit_json(v2_request(b"y", cert=False)).body]
    doc = json.loads(good[0])
    inner = doc["spec"]["hashedRekordV002"]
    sig = base64.b64decode(inner["signature"]["content"])

    def edit(path: list[str], value: str) -> bytes:
        d = json.loads(good[0])
        node = d["spec"]["hashedRekordV002"]
        for name in path[:-1]:
            node = node[name]
        node[path[-1]] = value
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()

    bad_sig = base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode()
    return [
        *good,
        edit(["signature", "content"], bad_sig),
        edit(["signature", "verifier", "keyDetails"], "PKIX_ECDSA_P384_SHA_384"),
        edit(["signature", "verifier", "keyDetails"], "PKIX_ED25519"),
        edit(["data", "algorithm"], "SHA2_384"),
        edit(["data", "digest"], base64.urlsafe_b64encode(b"\xff" * 32).decode().rstrip("=")),
        edit(["data", "digest"], base64.b64encode(b"\x00" * 31).decode()),
    ]


@pytest.mark.parametrize("n", range(21))
def test_the_fast_path_accepts_only_what_admission_does_with_the_same_keys(n: int) -> None:
    body = variants()[n]
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    keys, valid = general(body, uuid)
    fast = hashedrekord.read(body, uuid)
    if fast is not None:
        assert valid and fast == keys
    ex = examine(body, uuid, validate=True)
    assert (ex.invalid is None) == valid
    assert list(ex.keys) == keys


def test_the_fast_path_takes_the_common_bodies() -> None:
    for body in [*variants()[:3], *v2_variants()[:2]]:
        uuid = hashlib.sha256(b"\x00" + body).hexdigest()
        assert hashedrekord.read(body, uuid) == index_keys(body, uuid)


def test_the_filter_never_misses_a_hash_added_before() -> None:
    hashes = [os.urandom(32) for _ in range(2000)]
    seen = SeenFilter(1 << 12)  # small: many false hits
    first = seen.add(b"".join(hashes[:1000]))
    again = seen.add(b"".join(hashes[500:1500]))
    assert set(range(500)) <= set(again)  # hashes 500..999 again: every one hits
    assert len(first) < 1000


@pytest.mark.parametrize("index", [True, False])
def test_duplicates_are_confirmed_exactly_whatever_the_filter_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: bool
) -> None:
    # A filter of one 512-bit block flags many entries; only the two copies are reported,
    # confirmed through the index, or by reading the leaf tiles again without one.
    monkeypatch.setattr("tlog.monitor.seen.BITS", 512)
    monkeypatch.setattr("tlog.index.writer.known", lambda store, head, hashes: {})
    log = Log()
    log.raw(*[b"e%d" % i for i in range(300)])
    log.raw(b"new", b"e3", b"e200")
    if not index:
        for key in [k for k in log.store.objects if k.startswith("index")]:
            del log.store.objects[key]
    h = Harness(log, tmp_path)
    assert h.run().findings == ["duplicate", "duplicate"]
    assert [(f.index, f.evidence["first_index"]) for f in h.found] == [(301, 3), (302, 200)]


def test_a_tampered_full_leaf_tile_is_an_error(tmp_path: Path) -> None:
    log = Log()
    log.raw(*[b"e%d" % i for i in range(300)])
    data = bytearray(log.store.objects["tile/0/000"])
    data[40] ^= 1
    log.store.objects["tile/0/000"] = bytes(data)
    result = Harness(log, tmp_path).run()
    assert "error" in result.findings and result.scanned == 0
    assert layout.CHECKPOINT in log.store.objects


@pytest.mark.parametrize("text", [b"AB==", b"AAE", b"AA==", b"AAAA", b"A===", b"AQ=="])
def test_canonical_base64_is_what_the_strict_reader_takes(text: bytes) -> None:
    strict, fast = _both_readings(text)
    assert fast == strict


def _both_readings(text: bytes) -> tuple[bytes | None, bytes | None]:
    """``text`` as the strict reader and as the fast path read it (None: refused)."""
    try:
        strict: bytes | None = b64decode(text.decode(), "x")
    except (TlogError, ValueError):
        strict = None
    try:
        fast: bytes | None = hashedrekord._b64(text)
    except ValueError:
        fast = None
    return strict, fast


#: The canonical 0.0.1 shape as a regular expression: what the fast path read before it
#: cut bodies at their quotes (the oracle of the test below).
BODY = re.compile(
    rb'\{"apiVersion":"0\.0\.1","kind":"hashedrekord","spec":\{"data":\{"hash":\{'
    rb'"algorithm":"(sha256|sha384|sha512)","value":"([0-9a-f]+)"\}\},"signature":\{'
    rb'"content":"([A-Za-z0-9+/]+={0,2})","publicKey":\{"content":"([A-Za-z0-9+/]+={0,2})"'
    rb"\}\}\}\}"
)


def by_regex(entry: bytes) -> object:
    """The 0.0.1 reading as it was: the body matched by BODY, then each value checked."""
    m = BODY.fullmatch(entry)
    if m is None:
        return None
    hash_name, value, content, pem_b64 = m.groups()
    signature = hashedrekord._b64(content)
    if signature is None:
        return None
    name = hash_name.decode("ascii")
    digest = lower_hex(value.decode("ascii"), "value", HASH_SIZE[name])
    key, keys = old_key(binascii.a2b_base64(pem_b64), pem_b64)
    alg = algorithm_for(key.shape, name) if key is not None else None
    if key is None or alg is None:
        return None
    keys.add((name, value.decode("ascii")))
    return alg, key.spki, keys, signature, digest


def old_key(pem: bytes, pem_b64: bytes) -> tuple[PkixKey | None, set[tuple[str, str]]]:
    """The key and keys of a PEM as the fast path read them before (the oracle)."""
    for label, read in (("CERTIFICATE", certificate_of), ("PUBLIC KEY", public_key_of)):
        if pem.startswith(b"-----BEGIN " + label.encode() + b"-----\n"):
            der = binascii.a2b_base64(pem[len(label) + 17 : -(len(label) + 15)])
            if base64.b64encode(encode_pem(label, der)) != pem_b64:
                return None, set()
            return read(der)
    return None, set()


def certificate_of(der: bytes) -> tuple[PkixKey, set[tuple[str, str]]]:
    cert = parse_certificate(der)
    key = certificate_key(cert, der)
    return key, set(certificate_keys(cert, der, key.spki))


def public_key_of(der: bytes) -> tuple[PkixKey, set[tuple[str, str]]]:
    key = key_from_spki(der, "key")
    return key, {("key", hashlib.sha256(key.spki).hexdigest())}


def outcome(read: Callable[[bytes], object], entry: bytes) -> object:
    """What ``read`` takes from ``entry``, None if nothing (hashedrekord.read then
    returns None whether it raised or not)."""
    try:
        found = read(entry)
    except (TlogError, *hashedrekord._UNREADABLE):
        return None
    if isinstance(found, tuple) and not isinstance(found[1], bytes):
        alg, key, keys, signature, digest = found
        return alg, key.spki, keys, signature, digest
    return found


EDITS = st.sampled_from([b'"', b"=", b"A", b"a", b"F", b"0", b"\\", b"}", b" ", b"", b"+"])


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(0, 2),
    at=st.floats(0, 1),
    width=st.integers(0, 3),
    put=st.lists(EDITS, max_size=3).map(b"".join),
)
def test_cutting_a_body_at_its_quotes_reads_what_the_regex_did(
    decoder: None, n: int, at: float, width: int, put: bytes
) -> None:
    body = variants()[n]
    i = int(at * len(body))
    edited = body[:i] + put + body[i + width :]
    assert outcome(hashedrekord._v001, edited) == outcome(by_regex, edited)


def test_empty_values_are_not_taken() -> None:
    body = variants()[0]
    doc = json.loads(body)
    for path in (("signature", "content"), ("signature", "publicKey", "content")):
        d = json.loads(body)
        node = d["spec"]
        for name in path[:-1]:
            node = node[name]
        node[path[-1]] = ""
        edited = json.dumps(d, separators=(",", ":"), sort_keys=True).encode()
        assert outcome(hashedrekord._v001, edited) is None
        assert outcome(by_regex, edited) is None
    assert doc["kind"] == "hashedrekord"


@settings(max_examples=200, deadline=None)
@given(der=st.binary(max_size=300), label=st.sampled_from(["CERTIFICATE", "PUBLIC KEY"]))
def test_the_pem_written_here_is_codecs(der: bytes, label: str) -> None:
    assert hashedrekord._pem(label, der) == encode_pem(label, der)


@pytest.fixture(params=["installed", "standard library"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's base64 as installed (pybase64 if it is), and the standard
    library's, which it falls back to."""
    if request.param == "standard library":
        monkeypatch.setattr(hashedrekord, "_decode", binascii.a2b_base64)
        monkeypatch.setattr(hashedrekord, "_encode", base64.b64encode)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet="AQgwBz+/=\n", max_size=12).map(str.encode))
def test_canonical_base64_is_canonical_whichever_decoder(decoder: None, text: bytes) -> None:
    strict, fast = _both_readings(text)
    assert fast == (strict if text else b"")


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["sha256", "sha384", "key", "email", "uri", "dns", "email+issuer"]),
    value=st.text(min_size=1, max_size=40),
)
def test_row_key_hashes_are_the_index_s(kind: str, value: str) -> None:
    normalized = normalize(kind, value)  # examine's keys are normalized
    hashed = _KeyHashes()
    assert hashed.get(kind, normalized) == key_hash(kind, normalized)
    assert hashed.get(kind, normalized) == key_hash(kind, value)  # remembered or not


@pytest.mark.parametrize("n", range(21))
def test_examined_keys_are_normalized(n: int) -> None:
    body = variants()[n]
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    keys = examine(body, uuid, validate=True).keys
    assert all(normalize(k, v) == v for k, v in keys)
    hashed = _KeyHashes()
    assert [hashed.get(k, v) for k, v in keys] == [key_hash(k, v) for k, v in keys]


def test_a_certificate_the_walk_cannot_cut_goes_the_general_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cannot(der: bytes) -> None:
        raise IndexError("index out of range")

    monkeypatch.setattr("tlog.monitor.certificate._fields", cannot)
    body = variants()[0]
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    assert hashedrekord.read(body, uuid) == index_keys(body, uuid)
