"""Hostile documents cost one refusal each: admission and the proposal builders raise
nothing but TlogError, whatever the input (issue: "one document stops a whole batch").

The inputs that once escaped as other exceptions (the six of the red-team report, and
what the fuzz found since) are fixed examples; a bounded fuzz (hypothesis) then mutates
valid documents, their keys and signatures at the JSON and at the byte level.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog.codec import encode_pem, pem_blocks
from tlog.entries import Entry, admit_json
from tlog.entries.pgp_packet import armor, dearmor
from tlog.entries.proposal import build_proposal
from tlog.errors import MalformedError, TlogError

from .helpers import ARTIFACT, b64, data

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def admit_or_refuse(doc: bytes) -> Entry | TlogError:
    """Admission's result: an entry or a TlogError; any other exception fails the test."""
    try:
        return admit_json(doc)
    except TlogError as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)
        return exc


# --- fixed examples ----------------------------------------------------------------------

_NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_DIGEST = bytes(range(32))
_SIG = _KEY.sign(_DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, *, ca: bool) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(_NOW)
        .not_valid_after(_NOW + datetime.timedelta(days=1))
    )
    if ca:
        unused = ("digital_signature", "content_commitment", "key_encipherment")
        unused += ("data_encipherment", "key_agreement", "encipher_only", "decipher_only")
        usage = dict.fromkeys(unused, False)
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(key_cert_sign=True, crl_sign=True, **usage), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(_CA_KEY.public_key())
        builder = builder.add_extension(aki, False)
    return builder.sign(_CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 128:
        return bytes([tag, size]) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _element(buf: bytes, at: int) -> int:
    """The end of the DER element that starts at ``at``."""
    size, head = buf[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, head = int.from_bytes(buf[head : head + count], "big"), head + count
    return head + size


def _resigned(cert: bytes, old: bytes, new: bytes) -> bytes:
    """``cert`` with ``old`` replaced by ``new`` in its TBS, signed again by the CA, so that
    only the edit (not a broken signature) makes it bad."""
    start = 2 + (cert[1] & 0x7F if cert[1] & 0x80 else 0)
    tbs_end = _element(cert, start)
    tbs, algorithm = cert[start:tbs_end], cert[tbs_end : _element(cert, tbs_end)]
    assert old in tbs and _element(cert, 0) == len(cert)
    tbs = tbs.replace(old, new, 1)
    signature = _CA_KEY.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _der(0x30, tbs + algorithm + _der(0x03, b"\0" + signature))


def _hashedrekord(key_pem: bytes, digest_hex: str = _DIGEST.hex()) -> bytes:
    return json.dumps(
        {
            "kind": "hashedrekord",
            "apiVersion": "0.0.1",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
                "signature": {"content": b64(_SIG), "publicKey": {"content": b64(key_pem)}},
            },
        }
    ).encode()


def _ssh_compressed_point() -> bytes:
    """A rekord ssh entry whose ECDSA key holds its point compressed."""
    line = _KEY.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(line.split()[1])
    full = _KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    short = _KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    blob = blob.replace(struct.pack(">I", 65) + full, struct.pack(">I", 33) + short)
    key = b"ecdsa-sha2-nistp256 " + base64.b64encode(blob)
    return _rekord("ssh", data("ssh/ecdsa.sig"), key)


def _rekord(fmt: str, sig: bytes, key: bytes, content: bytes = ARTIFACT) -> bytes:
    spec = {
        "data": {"content": b64(content)},
        "signature": {"format": fmt, "content": b64(sig), "publicKey": {"content": b64(key)}},
    }
    return json.dumps({"kind": "rekord", "apiVersion": "0.0.1", "spec": spec}).encode()


def _dsse_surrogate() -> bytes:
    envelope = '{"payloadType": "\\ud800", "payload": "aGk=", "signatures": [{"sig": "AAAA"}]}'
    verifiers = [b64(data("x509/p256.pub.pem"))]
    spec = {"proposedContent": {"envelope": envelope, "verifiers": verifiers}}
    return json.dumps({"kind": "dsse", "apiVersion": "0.0.1", "spec": spec}).encode()


def _intoto_surrogate() -> bytes:
    sig = {"sig": b64(b"AAAA"), "publicKey": b64(data("x509/p256.pub.pem"))}
    envelope = {"payload": b64(b"aGk="), "payloadType": "\ud800", "signatures": [sig]}
    content = {"envelope": envelope, "hash": {"algorithm": "sha256", "value": "0" * 64}}
    doc = {"kind": "intoto", "apiVersion": "0.0.2", "spec": {"content": content}}
    return json.dumps(doc).encode()  # ensure_ascii: the surrogate is written \ud800


_CA = _cert("ca", "ca", _CA_KEY, ca=True)
_LEAF = _cert("leaf", "ca", _KEY, ca=False)
FIXED = {
    "deeply nested JSON": b"[" * 100_000 + b"]" * 100_000,
    "integer of 5000 digits": b'{"kind": "rekord", "apiVersion": 1' + b"0" * 5000 + b"}",
    "lone surrogate in a dsse payloadType": _dsse_surrogate(),
    "lone surrogate in an intoto payloadType": _intoto_surrogate(),
    "X.509 certificate of version 6": _hashedrekord(
        encode_pem(
            "CERTIFICATE", _resigned(_LEAF, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")
        )
    ),
    "chain whose leaf has a malformed subject": _hashedrekord(
        encode_pem("CERTIFICATE", _resigned(_LEAF, b"\x0c\x04leaf", b"\x0c\x04\xff\xfe\xfd\xfc"))
        + encode_pem("CERTIFICATE", _CA)
    ),
    "leaf whose subject has a string of unknown type": _hashedrekord(
        encode_pem("CERTIFICATE", _resigned(_LEAF, b"\x0c\x04leaf", b"\x0e\x04leaf"))
    ),
    "SSH ECDSA key with a compressed point": _ssh_compressed_point(),
    # Found by the fuzz below.
    "certificate with a negative serial number": _hashedrekord(
        encode_pem("CERTIFICATE", _resigned(_LEAF, b"\x02\x01\x01", b"\x02\x01\xff"))
    ),
    "member name holding a newline": b'{"hashedRekordRequestV002": {"\\n": null}}',
    "hex digest with a trailing newline": _hashedrekord(
        encode_pem("CERTIFICATE", _LEAF), digest_hex=_DIGEST.hex()[:-1] + "\n"
    ),
}


@pytest.mark.parametrize("doc", FIXED.values(), ids=FIXED.keys())
def test_fixed_hostile_documents_are_refused_in_one_line(doc: bytes) -> None:
    assert isinstance(admit_or_refuse(doc), TlogError)


def test_the_fixed_certificates_are_bad_only_where_edited() -> None:
    """The control: the same leaf, unedited, is admitted (alone and chained)."""
    assert isinstance(admit_or_refuse(_hashedrekord(encode_pem("CERTIFICATE", _LEAF))), Entry)
    chain = encode_pem("CERTIFICATE", _LEAF) + encode_pem("CERTIFICATE", _CA)
    assert isinstance(admit_or_refuse(_hashedrekord(chain)), Entry)


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (b'{"payloadType": "\xff\xfe", "payload": "", "signatures": []}', "UTF-8"),
        (b'{"payloadType": "\\udc00", "payload": "aGk=", "signatures": []}', "surrogate"),
        (
            b'{"payloadType": "t", "payload": "aGk=", "signatures": [], "n": 1'
            + b"0" * 5000
            + b"}",
            "not valid JSON",
        ),
    ],
)
@pytest.mark.parametrize("entry_type", ["dsse", "intoto"])
def test_upload_of_a_hostile_envelope_is_refused(
    entry_type: str, envelope: bytes, reason: str
) -> None:
    with pytest.raises(MalformedError, match=reason) as info:
        build_proposal(entry_type, artifact=envelope, public_keys=[data("x509/p256.pub.pem")])
    assert "\n" not in str(info.value)


# --- fuzz ----------------------------------------------------------------------------------

#: Valid proposals (as rekor-cli builds them), one per type and PKI format; the fuzz
#: starts from these, and a control test checks that each is admitted.
_PROPOSALS = [
    build_proposal(t, pki_format=f, artifact=ARTIFACT, signature=data(s), public_keys=[data(k)])
    for t, f, s, k in [
        ("hashedrekord", "x509", "x509/p256.sig", "x509/p256.pub.pem"),
        ("hashedrekord:0.0.2", "x509", "x509/leaf.sig", "x509/leaf.pem"),
        ("rekord", "x509", "x509/leaf.sig", "x509/chain.pem"),
        ("rekord", "ssh", "ssh/ecdsa.sig", "ssh/ecdsa.pub"),
        ("rekord", "minisign", "minisign/prehashed.minisig", "minisign/key.pub"),
        ("rekord", "pgp", "pgp/subkey.sig.asc", "pgp/subkey.pub.asc"),
    ]
] + [
    build_proposal(
        t,
        artifact=data("dsse/envelope.json"),
        public_keys=[data("x509/ed25519.pub.pem"), data("x509/p256.pub.pem")],
    )
    for t in ("dsse", "intoto")
]


def test_the_fuzz_starts_from_admitted_documents() -> None:
    assert all(isinstance(admit_or_refuse(doc), Entry) for doc in _PROPOSALS)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@st.composite
def _mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out)))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del out[at : at + draw(st.integers(1, 64))]
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(out)


def _decoded(text: bytes) -> tuple[bytes, Any]:
    """The binary inside a key or signature file, and how to wrap it again."""
    if text.startswith(b"-----BEGIN PGP"):
        label = text.split(b"-----")[1].decode()[6:]
        return dearmor(text, {label[4:]}, "fuzz"), lambda raw: armor(label, raw)
    if text.startswith(b"-----BEGIN"):
        blocks = pem_blocks(text, "fuzz")
        rest = b"".join(encode_pem(label, der) for label, der in blocks[1:])
        return blocks[0][1], lambda raw: encode_pem(blocks[0][0], raw) + rest
    fields = text.split(b" ")
    if len(fields) >= 2 and fields[0].startswith((b"ssh-", b"ecdsa-")):
        return base64.b64decode(fields[1]), lambda raw: fields[0] + b" " + base64.b64encode(raw)
    return text, lambda raw: raw


@st.composite
def _hostile_documents(draw: st.DrawFn) -> bytes:
    doc = json.loads(draw(st.sampled_from(_PROPOSALS)))
    path = draw(st.sampled_from(_paths(doc)))
    node: Any = doc
    for key in path:
        node = node[key]
    choice = draw(st.integers(0, 2))
    if choice == 0 or not isinstance(node, str):
        return json.dumps(_set(doc, path, draw(_JSON))).encode()
    try:  # a base64 field (key, signature, content), or text (a dsse envelope)
        raw, encode = base64.b64decode(node, validate=True), b64
    except ValueError:
        raw, encode = node.encode(), lambda r: r.decode("utf-8", "replace")
    if choice == 1:
        inner, wrap = _decoded(raw)
        raw = wrap(draw(_mutated_bytes(inner)))
    else:
        raw = draw(_mutated_bytes(raw))
    return json.dumps(_set(doc, path, encode(raw))).encode()


@FUZZ
@given(_hostile_documents())
def test_fuzzed_documents_give_an_entry_or_a_refusal(doc: bytes) -> None:
    admit_or_refuse(doc)


@FUZZ
@given(st.binary(max_size=300) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_input_gives_a_refusal(doc: bytes) -> None:
    assert isinstance(admit_or_refuse(doc), TlogError)


@FUZZ
@given(
    st.sampled_from(["hashedrekord", "hashedrekord:0.0.2", "rekord", "dsse", "intoto"]),
    st.sampled_from(["x509", "ssh", "minisign", "pgp"]),
    st.sampled_from(["x509/p256.pub.pem", "x509/leaf.pem", "x509/chain.pem", "ssh/ecdsa.pub"]),
    st.data(),
)
def test_fuzzed_proposals_give_a_document_or_a_refusal(
    entry_type: str, pki_format: str, key: str, draw: st.DataObject
) -> None:
    envelope = data("dsse/envelope.json")
    artifact = draw.draw(_mutated_bytes(envelope) | st.just(envelope) | st.binary(max_size=64))
    public_key = draw.draw(_mutated_bytes(data(key)) | st.just(data(key)))
    try:
        doc = build_proposal(
            entry_type,
            pki_format=pki_format,
            artifact=artifact,
            signature=data("x509/p256.sig"),
            public_keys=[public_key],
        )
    except TlogError as exc:
        assert "\n" not in str(exc)
        return
    admit_or_refuse(doc)
