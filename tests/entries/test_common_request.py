"""The common Rekor v2 request's fast path (``hashedrekord._common_request``) accepts
only what the general reader (``_from_request``) accepts, with the same bytes, and
takes the common requests of every algorithm."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog.entries import _canonicalizer, _load_document, admit_json, load_types
from tlog.entries.entry import Entry
from tlog.entries.hashedrekord import _common_request, _from_request, admit_request_bytes
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError

from .helpers import b64, data, flip
from .test_hashedrekord import KEYS, VER, W, cert_request, der, request

POLICIES = [
    DEFAULT_POLICY,
    AdmissionPolicy.from_options(["rsa-sign-pkcs1-3072-sha256"]),
    AdmissionPolicy(ca_bundle=data("x509/ca.pem")),
]


def general(req: dict[str, Any], policy: AdmissionPolicy) -> Entry | str:
    try:
        return _from_request(req[W], W, policy)
    except TlogError as exc:
        return f"{type(exc).__name__}: {exc}"


def agree(req: dict[str, Any], policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry | None:
    """The fast path's answer, checked against the general one's."""
    fast = _common_request(copy.deepcopy(req[W]), policy)
    if fast is not None:
        assert fast == general(req, policy)
    return fast


def edited(path: str, value: Any, name: str = "p256") -> dict[str, Any]:
    req = request(name)
    node: Any = req
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return req


_DELETE = object()
DIGEST, CONTENT, RAW, DETAILS = (
    f"{W}.digest",
    f"{W}.signature.content",
    f"{VER}.publicKey.rawBytes",
    f"{VER}.keyDetails",
)


def variants() -> list[dict[str, Any]]:
    """Requests of the common shape and around it, valid and not."""
    sig = request()[W]["signature"]["content"]
    out = [request(name) for name in sorted(KEYS)] + [cert_request()]
    for path in (DIGEST, CONTENT, RAW):
        value = _get(request(), path)
        for spelled in (
            value.rstrip("="),  # unpadded
            value.replace("+", "-").replace("/", "_"),  # URL-safe
            stray(value),
            "",
            None,
            7,
            value + "AAAA",
        ):
            out.append(edited(path, spelled))
    out += [
        edited(DETAILS, 5),  # the enum's number
        edited(DETAILS, "PKIX_RSA_PKCS1V15_2048_SHA256"),
        edited(DETAILS, "PKIX_ED25519"),
        edited(DETAILS, "NOT_AN_ALGORITHM"),
        edited(DETAILS, ""),
        edited(f"{VER}.extra", 1),
        edited(f"{W}.extra", None),
        edited(f"{VER}.publicKey.extra", "x"),
        edited(CONTENT, b64(flip(data("x509/p256.sig"), 10))),
        edited(CONTENT, sig, "p384"),
        edited(RAW, b64(der("x509/leaf.pem"))),
        edited(RAW, b64(der("x509/p384.pub.pem"))),
        edited(DIGEST, b64(bytes(31))),
        edited(DIGEST, b64(bytes(32))),
        edited(DIGEST, _DELETE),
        edited(f"{VER}.publicKey", _DELETE),
    ]
    req = request()
    verifier = req[W]["signature"]["verifier"]
    verifier["public_key"] = verifier.pop("publicKey")  # the proto name
    out.append(req)
    return out


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def stray(value: str) -> str:
    """``value`` with a stray bit before its padding (not canonical), or cut short."""
    if not value.endswith("="):
        return value[:-1]
    i = len(value.rstrip("=")) - 1
    return value[:i] + _ALPHABET[_ALPHABET.index(value[i]) | 1] + value[i + 1 :]


def _get(req: dict[str, Any], path: str) -> Any:
    node: Any = req
    for key in path.split("."):
        node = node[key]
    return node


@pytest.mark.parametrize("policy", range(len(POLICIES)))
def test_the_fast_path_accepts_only_what_the_general_one_does(policy: int) -> None:
    for req in variants():
        agree(req, POLICIES[policy])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_the_fast_path_takes_the_common_request_of_every_algorithm(name: str) -> None:
    entry = agree(request(name))
    assert entry is not None
    assert admit_json(entry.body).body == entry.body  # a canonical body, as always


def test_the_fast_path_leaves_what_it_does_not_take_to_the_general_one() -> None:
    assert agree(cert_request()) is None
    assert agree(edited(CONTENT, b64(flip(data("x509/p256.sig"), 10)))) is None
    assert agree(request(), POLICIES[1]) is None


_VALUES: st.SearchStrategy[object] = (
    st.none() | st.integers() | st.text(max_size=12) | st.just({}) | st.just([])
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(KEYS)),
    st.sampled_from([DIGEST, CONTENT, RAW, DETAILS, f"{W}.signature", f"{VER}.publicKey"]),
    _VALUES,
)
def test_any_one_field_changed_gives_the_general_answer(
    name: str, path: str, value: object
) -> None:
    agree(edited(path, value, name))


# -- the same request read from its bytes, without a JSON parse -----------------------


def parsed(data: bytes, policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry | str:
    """Admission of ``data`` by its JSON parse (what the byte reader must agree with)."""
    try:
        doc = _load_document(data)
        return _canonicalizer(doc, load_types())(doc, policy)
    except TlogError as exc:
        return f"{type(exc).__name__}: {exc}"


def agree_bytes(data: bytes, policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry | None:
    fast = admit_request_bytes(data, policy)
    if fast is not None:
        assert fast == parsed(data, policy)
        assert admit_json(data, policy) == fast
    return fast


def spellings(req: dict[str, Any]) -> list[bytes]:
    """``req`` written compactly, with Python's default spaces, indented, and with
    another member order."""
    out = [json.dumps(req, separators=(",", ":")), json.dumps(req), json.dumps(req, indent=2)]
    out.append(json.dumps(req, sort_keys=True))
    return [s.encode() for s in out]


@pytest.mark.parametrize("policy", range(len(POLICIES)))
def test_the_byte_reader_accepts_only_what_the_parse_does(policy: int) -> None:
    for req in variants():
        for doc in spellings(req):
            agree_bytes(doc, POLICIES[policy])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_the_byte_reader_takes_protojson_spellings(name: str) -> None:
    compact, spaced, indented, _ = spellings(request(name))
    for doc in (compact, spaced, indented, b" \r\n" + compact + b"\t\n"):
        assert agree_bytes(doc) is not None
    assert agree_bytes(spellings(request(name))[3]) is None  # keyDetails first: parsed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 600), st.binary(min_size=1, max_size=3), st.booleans())
def test_a_changed_request_gives_the_parse_s_answer(at: int, new: bytes, insert: bool) -> None:
    doc = spellings(request())[0]
    agree_bytes(doc[:at] + new + doc[at + (0 if insert else len(new)) :])


@pytest.mark.parametrize(
    "spelled",
    [
        lambda v: v[:4] + "\\u0041" + v[5:],  # an escape the parse decodes
        lambda v: v[:4] + "\\/" + v[5:],
        lambda v: v[:3] + "\\\\" + v[4:],
        lambda v: v[:3] + "\u00e9" + v[4:],  # not ASCII
        lambda v: v[:3] + "\x7f" + v[4:],
        lambda v: "=" + v[1:],
    ],
)
@pytest.mark.parametrize("field", ["digest", "content", "rawBytes"])
def test_a_value_that_is_not_plain_base64_goes_to_the_parse(field: str, spelled: Any) -> None:
    doc = spellings(request())[0].decode()
    value = doc.split(f'"{field}":"')[1].split('"')[0]
    changed = doc.replace(f'"{field}":"{value}"', f'"{field}":"{spelled(value)}"')
    assert changed != doc
    data = changed.encode()
    assert agree_bytes(data) is None
    want = parsed(data)
    if isinstance(want, Entry):
        assert admit_json(data) == want
    else:
        with pytest.raises(TlogError):
            admit_json(data)
