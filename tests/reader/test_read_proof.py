"""Offline proofs: c2sp.org/tlog-proof@v1 and Sigstore TransparencyLogEntry JSON round
trips, any edit fails, artifact matching, and sigstore-python's own verifier."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tlog.client import Client
from tlog.codec import b64encode
from tlog.entries.describe import artifact_digests, describe
from tlog.errors import MalformedError, TlogError, VerificationError
from tlog.fetch.store import StoreFetcher
from tlog.note import ECDSAVerifier, Ed25519Verifier
from tlog.proof import HEADER, TlogProof, check_artifact
from tlog.sigstore import RAW_KIND, TransparencyLogEntry, kind_version, log_id

from .conftest import BuiltLog


@pytest.fixture(scope="module")
def logs() -> dict[str, BuiltLog]:
    from tlog.storage.memory import MemoryStore

    from .conftest import BuiltLog, keys_for

    out = {}
    for kt in ("ed25519", "ecdsa-p256"):
        log = BuiltLog(MemoryStore(), keys_for(f"proof-{kt}.example/log", kt))
        for n in (3, 300, 40):
            log.append(n)
        out[kt] = log
    return out


def proofs(log: BuiltLog, index: int) -> tuple[bytes, bytes]:
    c = Client(StoreFetcher(log.store), log.verifiers)
    proof, verified = c.prove(index)
    tle = TransparencyLogEntry.from_verified(proof, verified, log.verifiers)
    return proof.format(), tle.format()


@pytest.mark.parametrize("kt", ["ed25519", "ecdsa-p256"])
def test_round_trips(logs: dict[str, BuiltLog], kt: str) -> None:
    log = logs[kt]
    text, js = proofs(log, 100)
    assert text.startswith(HEADER.encode() + b"\nextra ")
    proof = TlogProof.parse(text)
    assert proof.format() == text
    v = proof.verify(log.verifiers)
    assert (v.index, v.entry) == (100, log.entry(100))
    assert v.integrated_time == log.checkpoints[2].timestamp
    tle = TransparencyLogEntry.parse(js)
    assert tle.format() == js
    v2 = tle.verify(log.verifiers)
    assert (v2.index, v2.entry, v2.leaf_hash) == (100, log.entry(100), v.leaf_hash)
    doc = json.loads(js)
    assert doc["logIndex"] == "100" and doc["inclusionProof"]["treeSize"] == "303"
    assert doc["integratedTime"] == str(log.checkpoints[2].timestamp)
    assert base64.b64decode(doc["canonicalizedBody"]) == log.entry(100)
    # logId is the full key ID whose first 4 bytes are the note key hint.
    key_id = base64.b64decode(doc["logId"]["keyId"])
    assert len(key_id) == 32 and key_id[:4] == log.keys.log.key_id


def test_log_id_definitions(logs: dict[str, BuiltLog]) -> None:
    ed = logs["ed25519"].verifiers[0]
    assert isinstance(ed, Ed25519Verifier)
    assert log_id(ed) == hashlib.sha256(ed.name.encode() + b"\n\x01" + ed.public).digest()
    ec = logs["ecdsa-p256"].verifiers[0]
    assert isinstance(ec, ECDSAVerifier)
    assert log_id(ec) == hashlib.sha256(ec.spki).digest()


def test_every_byte_edit_of_a_tlog_proof_fails(logs: dict[str, BuiltLog]) -> None:
    log = logs["ed25519"]
    text, _ = proofs(log, 7)
    for pos in range(len(text)):
        for bit in (0, 5):
            bad = bytearray(text)
            bad[pos] ^= 1 << bit
            with pytest.raises(TlogError):
                TlogProof.parse(bytes(bad)).verify(log.verifiers)
    lines = text.split(b"\n")
    for i in range(len(lines) - 1):
        dropped = b"\n".join(lines[:i] + lines[i + 1 :])
        with pytest.raises(TlogError):
            TlogProof.parse(dropped).verify(log.verifiers)
        doubled = b"\n".join(lines[: i + 1] + lines[i:])
        with pytest.raises(TlogError):
            TlogProof.parse(doubled).verify(log.verifiers)


def _edit(js: bytes, path: list[str | int], value: object) -> bytes:
    doc = json.loads(js)
    node = doc
    for p in path[:-1]:
        node = node[p]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc).encode()


_DELETE = object()


def test_every_field_edit_of_a_transparency_log_entry_fails(logs: dict[str, BuiltLog]) -> None:
    log = logs["ed25519"]
    _, js = proofs(log, 7)
    doc = json.loads(js)
    h0 = base64.b64decode(doc["inclusionProof"]["hashes"][0])
    other_hash = b64encode(bytes([h0[0] ^ 1]) + h0[1:])
    edits: list[tuple[list[str | int], object]] = [
        (["logIndex"], "8"),
        (["logIndex"], "-1"),
        (["logIndex"], "07"),
        (["inclusionProof", "logIndex"], "8"),
        (["logId", "keyId"], b64encode(b"\1" * 32)),
        (["kindVersion", "kind"], "hashedrekord"),
        (["kindVersion", "version"], "0.0.2"),
        (["integratedTime"], str(int(doc["integratedTime"]) - 1)),
        (["integratedTime"], _DELETE),
        (["inclusionProof", "rootHash"], b64encode(b"\0" * 32)),
        (["inclusionProof", "treeSize"], "304"),
        (["inclusionProof", "hashes", 0], other_hash),
        (["inclusionProof", "hashes"], doc["inclusionProof"]["hashes"][:-1]),
        (
            ["inclusionProof", "checkpoint", "envelope"],
            doc["inclusionProof"]["checkpoint"]["envelope"].replace("\n303\n", "\n302\n"),
        ),
        (["canonicalizedBody"], b64encode(b"entry 8\n")),
        (["canonicalizedBody"], "not base64!"),
        (["inclusionPromise"], {"signedEntryTimestamp": "AA=="}),
        (["logId"], _DELETE),
    ]
    for path, value in edits:
        with pytest.raises(TlogError):
            TransparencyLogEntry.parse(_edit(js, path, value)).verify(log.verifiers)
    # Without the timestamp key, a claimed integrated time cannot be vouched for.
    with pytest.raises(VerificationError, match="integratedTime"):
        TransparencyLogEntry.parse(js).verify(log.verifiers[:1])


def test_integer_fields_as_json_numbers_are_accepted(logs: dict[str, BuiltLog]) -> None:
    log = logs["ed25519"]
    _, js = proofs(log, 7)
    v = TransparencyLogEntry.parse(_edit(js, ["logIndex"], 7)).verify(log.verifiers)
    assert v.index == 7


def test_tlog_proof_without_extra_needs_the_entry(logs: dict[str, BuiltLog]) -> None:
    log = logs["ed25519"]
    text, _ = proofs(log, 7)
    proof = TlogProof.parse(text)
    bare = TlogProof(proof.index, proof.hashes, proof.checkpoint)
    assert b"extra" not in bare.format()
    with pytest.raises(VerificationError, match="no entry"):
        bare.verify(log.verifiers)
    assert bare.verify(log.verifiers, entry=log.entry(7)).index == 7
    with pytest.raises(VerificationError):
        bare.verify(log.verifiers, entry=log.entry(8))


def test_spec_example_shape_parses() -> None:
    with pytest.raises(MalformedError, match="index"):
        TlogProof.parse(b"c2sp.org/tlog-proof@v1\nindex 01\n\nx\n")
    with pytest.raises(MalformedError, match="empty line"):
        TlogProof.parse(b"c2sp.org/tlog-proof@v1\nindex 1\n")
    p = TlogProof.parse(b"c2sp.org/tlog-proof@v1\nindex 0\n\nlog\n1\nAAAA\n\n- x y\n")
    assert p.index == 0 and p.hashes == () and p.extra is None


# -- artifacts -------------------------------------------------------------------------


def test_check_artifact_raw() -> None:
    art = b"my artifact\n"
    sha = hashlib.sha256(art).digest()
    assert "is the artifact" in check_artifact(art, art)
    assert "digest" in check_artifact(sha, art)
    assert "digest" in check_artifact(sha.hex().encode() + b"\n", art)
    with pytest.raises(VerificationError, match="not about this artifact"):
        check_artifact(b"something else", art)


def test_check_artifact_rekor_bodies() -> None:
    art = b"release.tar.gz contents"
    sha = hashlib.sha256(art).digest()
    v1 = json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {"data": {"hash": {"algorithm": "sha256", "value": sha.hex()}}},
        }
    ).encode()
    v2 = json.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": "SHA2_256", "digest": b64encode(sha)},
                    "signature": {},
                }
            },
        }
    ).encode()
    assert [(d.algorithm, d.digest) for d in artifact_digests(v1)] == [("sha256", sha)]
    assert [(d.algorithm, d.digest) for d in artifact_digests(v2)] == [("sha256", sha)]
    assert kind_version(v2) == ("hashedrekord", "0.0.2")
    assert kind_version(b"raw bytes") == RAW_KIND
    for body in (v1, v2):
        assert "sha" in check_artifact(body, art).lower()
        with pytest.raises(VerificationError, match="not about this artifact"):
            check_artifact(body, art + b"!")


def test_protobuf_json_may_omit_zeros_and_empty_lists() -> None:
    # protobuf's JSON mapping leaves out default values: index 0, no hashes (size 1).
    from tlog.storage.memory import MemoryStore

    from .conftest import BuiltLog, keys_for

    log = BuiltLog(MemoryStore(), keys_for("proof-one.example/log"))
    log.append(1)
    _, js = proofs(log, 0)
    doc = json.loads(js)
    assert doc["logIndex"] == "0" and doc["inclusionProof"]["hashes"] == []  # we write them
    for path in (["logIndex"], ["inclusionProof", "logIndex"], ["inclusionProof", "hashes"]):
        js = _edit(js, path, _DELETE)
    v = TransparencyLogEntry.parse(js).verify(log.verifiers)
    assert (v.index, v.entry) == (0, log.entry(0))


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MalformedError, match="nests deeper than"):
        TransparencyLogEntry.parse(deep)
    assert kind_version(deep) == RAW_KIND
    with pytest.raises(MalformedError, match="nests deeper than"):
        describe(deep)
    with pytest.raises(MalformedError, match="nests deeper than"):
        artifact_digests(deep)


def test_lone_surrogate_in_a_string_is_malformed(logs: dict[str, BuiltLog]) -> None:
    log = logs["ed25519"]
    _, js = proofs(log, 7)
    envelope = json.loads(js)["inclusionProof"]["checkpoint"]["envelope"]
    bad = _edit(js, ["inclusionProof", "checkpoint", "envelope"], "\ud800" + envelope)
    assert b"\\ud800" in bad  # json.dumps escapes it; json.loads gives it back
    with pytest.raises(MalformedError, match="lone UTF-16 surrogate"):
        TransparencyLogEntry.parse(bad)


def test_non_ascii_base64_digest_is_malformed() -> None:
    body = json.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {"hashedRekordV002": {"data": {"algorithm": "SHA2_256", "digest": "\u00e9"}}},
        }
    ).encode()
    with pytest.raises(MalformedError, match="lacks its digest"):
        artifact_digests(body)
    with pytest.raises(VerificationError, match="no digest tlog knows how to read"):
        check_artifact(body, b"artifact")


# -- sigstore-python ------------------------------------------------------------------


def _trusted_root(tmp_path: Path, log: BuiltLog) -> Path:
    v = log.verifiers[0]
    if isinstance(v, Ed25519Verifier):
        from cryptography.hazmat.primitives.asymmetric import ed25519

        pub = ed25519.Ed25519PublicKey.from_public_bytes(v.public)
        spki = pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        details = "PKIX_ED25519"
    else:
        assert isinstance(v, ECDSAVerifier)
        spki, details = v.spki, "PKIX_ECDSA_P256_SHA_256"
    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://log.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64encode(spki),
                    "keyDetails": details,
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64encode(log_id(v))},
            }
        ],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("kt", ["ed25519", "ecdsa-p256"])
def test_sigstore_python_accepts_our_entries(
    logs: dict[str, BuiltLog], kt: str, tmp_path: Path
) -> None:
    """sigstore-python's TransparencyLogEntry model parses our JSON, and the log-entry
    verification its Verifier runs (step 4: Merkle inclusion + signed checkpoint against
    the trusted root's Rekor keyring) accepts it, and refuses a tampered one."""
    pytest.importorskip("sigstore")
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import VerificationError as SigstoreError
    from sigstore.models import TransparencyLogEntry as SigstoreEntry
    from sigstore.models import TrustedRoot
    from sigstore_models.rekor.v1 import TransparencyLogEntry as Inner

    log = logs[kt]
    keyring = TrustedRoot.from_file(str(_trusted_root(tmp_path, log))).rekor_keyring(
        KeyringPurpose.VERIFY
    )
    for index in (0, 2, 3, 150, 302, 342):
        _, js = proofs(log, index)
        entry = SigstoreEntry(Inner.from_json(js))
        entry._verify(keyring)
        assert entry._inner.log_index == index
        assert entry._inner.canonicalized_body == log.entry(index)
    _, js = proofs(log, 150)
    doc = json.loads(js)
    for path, value in [
        (["canonicalizedBody"], b64encode(b"entry 151\n")),
        (["inclusionProof", "logIndex"], "151"),
        (["inclusionProof", "rootHash"], b64encode(b"\0" * 32)),
    ]:
        bad = SigstoreEntry(Inner.from_json(_edit(js, path, value)))
        with pytest.raises(SigstoreError):
            bad._verify(keyring)
    assert doc["kindVersion"]["version"] in ("0.0.1", "0.0.2")  # what its Bundle accepts
