"""Dispatch in admit_json, the admission policy and its passing to worker processes,
Ed25519ph, proposals (rekor-cli upload) and descriptions (rekor-cli get)."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from tlog.codec import pem_blocks
from tlog.entries import MAX_INPUT_SIZE, Entry, admit_json, ed25519ph, load_types
from tlog.entries.describe import artifact_digests, describe
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.entries.proposal import build_proposal, parse_digest
from tlog.errors import ConfigError, MalformedError, OversizeError, UnsupportedEntryError

from .helpers import ARTIFACT, SHA256, admit, data


def matches_artifact(body: bytes, artifact: bytes) -> bool:
    """True if ``artifact`` is what the entry is about (any of its digests matches)."""
    return any(d.matches(artifact) for d in artifact_digests(body))


# --- dispatch ------------------------------------------------------------------------------


def test_registered_types() -> None:
    registry = load_types()
    assert set(registry.kinds) == {
        ("hashedrekord", "0.0.1"),
        ("hashedrekord", "0.0.2"),
        ("rekord", "0.0.1"),
        ("dsse", "0.0.1"),
        ("intoto", "0.0.2"),
    }
    assert set(registry.requests) == {"hashedRekordRequestV002", "dsseRequestV002"}


@pytest.mark.parametrize(
    ("doc", "error", "text"),
    [
        (b"not json", MalformedError, "not a JSON document"),
        (b"[1]", MalformedError, "must be a JSON object"),
        (b'{"kind": "rekord"}', MalformedError, "'kind' and 'apiVersion'"),
        (
            b'{"kind": "jar", "apiVersion": "0.0.1", "spec": {}}',
            UnsupportedEntryError,
            "'jar' version '0.0.1'",
        ),
        (
            b'{"kind": "rekord", "apiVersion": "0.0.2", "spec": {}}',
            UnsupportedEntryError,
            "not supported",
        ),
        (
            b'{"kind": "intoto", "apiVersion": "0.0.1", "spec": {}}',
            UnsupportedEntryError,
            "not supported",
        ),
        (b'{"intotoRequestV002": {}}', UnsupportedEntryError, "request type 'intotoRequestV002'"),
        (b'{"dsseRequestV002": {}}', MalformedError, "dsseRequestV002.envelope: missing"),
        (b'{"kind": "rekord", "apiVersion": "0.0.1"}', MalformedError, "spec: missing"),
        (
            b'{"kind": "rekord", "apiVersion": "0.0.1", "spec": []}',
            MalformedError,
            "spec: expected a JSON object",
        ),
    ],
)
def test_dispatch_refusals(doc: bytes, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        admit_json(doc)


def test_oversize_input() -> None:
    with pytest.raises(OversizeError, match=f"over {MAX_INPUT_SIZE}"):
        admit_json(b" " * (MAX_INPUT_SIZE + 1))


# --- policy --------------------------------------------------------------------------------


def test_policy_options() -> None:
    policy = AdmissionPolicy.from_options(["ecdsa-sha2-256-nistp256", "PKIX_ED25519_PH"])
    assert policy.algorithms == {"PKIX_ECDSA_P256_SHA_256", "PKIX_ED25519_PH"}
    with pytest.raises(ConfigError, match="unknown signing algorithm 'md5-rsa'"):
        AdmissionPolicy.from_options(["md5-rsa"])
    with pytest.raises(ConfigError, match="empty"):
        AdmissionPolicy.from_options([])
    with pytest.raises(ConfigError, match="unknown PKI format"):
        AdmissionPolicy.from_options(pki_formats=["x509", "tuf"])
    with pytest.raises(ConfigError, match="CA bundle"):
        AdmissionPolicy.from_options(ca_bundle=b"not pem")
    assert AdmissionPolicy.from_options() == DEFAULT_POLICY


def test_policy_is_picklable_and_explicit() -> None:
    policy = AdmissionPolicy.from_options(
        ["PKIX_ECDSA_P256_SHA_256"], ca_bundle=data("x509/ca.pem")
    )
    assert pickle.loads(pickle.dumps(policy)) == policy
    # No process-wide policy: what is not passed is the default.
    assert inspect.signature(admit_json).parameters["policy"].default is DEFAULT_POLICY
    with pytest.raises(ConfigError, match="CA bundle"):
        AdmissionPolicy(ca_bundle=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def _admit_p384(doc: bytes, policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry | str:
    try:
        return admit_json(doc, policy)
    except UnsupportedEntryError as exc:
        return str(exc)


def test_policy_reaches_worker_processes() -> None:
    """The sequencer's way: the policy travels with the function the pool runs."""
    doc = build_proposal(
        "hashedrekord",
        artifact=ARTIFACT,
        signature=data("x509/p384.sig"),
        public_keys=[data("x509/p384.pub.pem")],
    )
    narrow = AdmissionPolicy.from_options(["PKIX_ECDSA_P256_SHA_256"])
    with ProcessPoolExecutor(1) as pool:
        result = pool.submit(functools.partial(_admit_p384, policy=narrow), doc).result()
        default = pool.submit(_admit_p384, doc).result()
    assert isinstance(result, str) and "not allowed by this log's policy" in result
    assert isinstance(default, Entry)
    assert isinstance(_admit_p384(doc), Entry)


# --- Ed25519ph -----------------------------------------------------------------------------


def test_ed25519ph_rfc8032_vector() -> None:
    """RFC 8032 §7.3, test "abc" of Ed25519ph."""
    pub = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    sig = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    digest = hashlib.sha512(b"abc").digest()
    assert ed25519ph.verify(pub, sig, digest)
    assert not ed25519ph.verify(pub, sig, hashlib.sha512(b"abd").digest())
    assert not ed25519ph.verify(pub, sig[:63] + bytes([sig[63] ^ 1]), digest)
    assert not ed25519ph.verify(pub, sig, digest, context=b"ctx")
    # S >= L is refused (malleability), as is a key that is not a curve point.
    big_s = sig[:32] + (2**253).to_bytes(32, "little")
    assert not ed25519ph.verify(pub, big_s, digest)
    assert not ed25519ph.verify(b"\xff" * 32, sig, digest)
    assert not ed25519ph.verify(pub[:31], sig, digest)


# --- proposals (rekor-cli upload) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("entry_type", "pki_format", "sig", "key"),
    [
        ("hashedrekord", "x509", "x509/p256.sig", "x509/p256.pub.pem"),
        ("hashedrekord", "x509", "x509/p521.sig", "x509/p521.pub.pem"),
        ("hashedrekord:0.0.2", "x509", "x509/rsa2048.sig", "x509/rsa2048.pub.pem"),
        ("hashedrekord:0.0.2", "x509", "x509/ed25519ph.sig", "x509/ed25519ph.pub.pem"),
        ("hashedrekord:0.0.2", "x509", "x509/leaf.sig", "x509/leaf.pem"),
        ("rekord", "x509", "x509/ed25519.sig", "x509/ed25519.pub.pem"),
        ("rekord", "ssh", "ssh/rsa.sig", "ssh/rsa.pub"),
        ("rekord", "minisign", "minisign/prehashed.minisig", "minisign/key.pub"),
        ("rekord", "pgp", "pgp/p256.sig.asc", "pgp/p256.pub.asc"),
    ],
)
def test_proposals_are_admitted(entry_type: str, pki_format: str, sig: str, key: str) -> None:
    doc = build_proposal(
        entry_type,
        pki_format=pki_format,
        artifact=ARTIFACT,
        signature=data(sig),
        public_keys=[data(key)],
    )
    entry = admit_json(doc)
    assert entry.kind == entry_type.split(":")[0]
    assert matches_artifact(entry.body, ARTIFACT)
    assert not matches_artifact(entry.body, ARTIFACT + b"x")


def test_proposal_with_digest_only() -> None:
    for digest in (SHA256, SHA256.hex(), "sha256:" + SHA256.hex()):
        doc = build_proposal(
            "hashedrekord",
            digest=digest,
            signature=data("x509/p256.sig"),
            public_keys=[data("x509/p256.pub.pem")],
        )
        admit_json(doc)
    der_key = build_proposal(
        "hashedrekord:0.0.2",
        digest=SHA256,
        signature=data("x509/p256.sig"),
        public_keys=[pem_blocks(data("x509/p256.pub.pem"), "k")[0][1]],
    )
    admit_json(der_key)


def test_dsse_and_intoto_proposals() -> None:
    envelope = data("dsse/envelope.json")
    keys = [data("x509/ed25519.pub.pem"), data("x509/p256.pub.pem"), data("x509/rsa2048.pub.pem")]
    for entry_type in ("dsse", "intoto"):
        entry = admit_json(build_proposal(entry_type, artifact=envelope, public_keys=keys))
        digests = {d.subject: d for d in artifact_digests(entry.body)}
        assert digests["envelope"].matches(envelope)
        assert matches_artifact(entry.body, envelope)
    with pytest.raises(ConfigError, match="signature 1 is not verified"):
        build_proposal("dsse", artifact=envelope, public_keys=[data("x509/p256.pub.pem")])


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"entry_type": "jar"}, "not one of"),
        ({"entry_type": "rekord", "pki_format": "tuf"}, "PKI format"),
        ({"entry_type": "hashedrekord", "pki_format": "ssh"}, "x509"),
        ({"entry_type": "hashedrekord:0.0.3", "signature": b"s", "public_keys": [b"k"]}, "version"),
        ({"entry_type": "rekord", "signature": b"s", "public_keys": []}, "exactly one public key"),
        ({"entry_type": "dsse", "public_keys": [b"k"]}, "envelope"),
    ],
)
def test_proposal_errors(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        build_proposal(**kwargs)  # type: ignore[arg-type]


def test_parse_digest() -> None:
    assert parse_digest("sha512:" + "00" * 64) == ("sha512", bytes(64))
    with pytest.raises(ConfigError):
        parse_digest("sha256:" + "00" * 48)
    with pytest.raises(ConfigError):
        parse_digest("zz")


# --- descriptions (rekor-cli get) ----------------------------------------------------------


def test_describe() -> None:
    hr = admit_json(
        build_proposal(
            "hashedrekord",
            artifact=ARTIFACT,
            signature=data("x509/p256.sig"),
            public_keys=[data("x509/p256.pub.pem")],
        )
    )
    view = describe(hr.body)
    assert list(view) == ["HashedRekordObj"]
    assert view["HashedRekordObj"]["data"]["hash"]["value"] == SHA256.hex()
    hr2 = admit_json(
        build_proposal(
            "hashedrekord:0.0.2",
            artifact=ARTIFACT,
            signature=data("x509/p256.sig"),
            public_keys=[data("x509/p256.pub.pem")],
        )
    )
    assert describe(hr2.body)["HashedRekordObj"]["data"]["algorithm"] == "SHA2_256"
    (d,) = artifact_digests(hr2.body)
    assert (d.algorithm, d.digest, d.subject) == ("sha256", SHA256, "artifact")
    envelope = data("dsse/envelope.json")
    keys = [data("x509/p256.pub.pem"), data("x509/ed25519.pub.pem")]
    assert list(
        describe(admit_json(build_proposal("dsse", artifact=envelope, public_keys=keys)).body)
    ) == ["DSSEObj"]
    assert list(
        describe(admit_json(build_proposal("intoto", artifact=envelope, public_keys=keys)).body)
    ) == ["IntotoObj"]
    rekord = admit_json(
        build_proposal(
            "rekord",
            pki_format="ssh",
            artifact=ARTIFACT,
            signature=data("ssh/ecdsa.sig"),
            public_keys=[data("ssh/ecdsa.pub")],
        )
    )
    assert describe(rekord.body)["RekordObj"]["signature"]["format"] == "ssh"
    with pytest.raises(MalformedError):
        describe(b"\x00raw entry")
    with pytest.raises(UnsupportedEntryError):
        describe(json.dumps({"kind": "jar", "apiVersion": "0.0.1", "spec": {}}).encode())


def test_admitted_entries_are_values() -> None:
    entry = admit(
        json.loads(
            build_proposal(
                "rekord",
                artifact=ARTIFACT,
                signature=data("x509/p256.sig"),
                public_keys=[data("x509/p256.pub.pem")],
            )
        )
    )
    with pytest.raises(AttributeError):
        entry.body = b""  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(entry)) == entry


def test_entries_package_is_pure() -> None:
    """Importing every entry type pulls in no storage, network or orchestration code."""
    code = (
        "import sys, tlog.entries, tlog.entries.proposal, tlog.entries.describe\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'urllib3', 'requests', 'httpx', 'click', 'zstandard')"
        " or m.startswith(('tlog.storage', 'tlog.cli', 'tlog.sequencer', 'tlog.client',"
        " 'tlog.fetch'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
