"""Index keys: what each kind of entry is found by (docs/index.md "Keys")."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.entries.helpers import data
from tests.index.signing import ISSUER, entry, identity
from tlog.errors import MalformedError
from tlog.index.keys import index_keys, key_hash, key_hashes, normalize, public_key_fingerprint


def test_a_raw_entry_is_found_by_its_uuid_and_sha256() -> None:
    raw = b"not json at all"
    keys = index_keys(raw)
    uuid = hashlib.sha256(b"\x00" + raw).hexdigest()
    assert keys == [("sha256", hashlib.sha256(raw).hexdigest()), ("uuid", uuid)]


def test_a_certificate_entry_yields_digest_key_fingerprints_and_identity() -> None:
    who = identity("Alice@Example.com")
    body = entry(who, b"artifact")
    keys = dict.fromkeys(index_keys(body))
    assert ("sha256", hashlib.sha256(b"artifact").hexdigest()) in keys
    assert ("key", who.spki_sha256) in keys
    assert ("email", "alice@example.com") in keys
    assert ("email+issuer", f"alice@example.com\n{ISSUER}") in keys
    kinds = [k for k, _ in keys]
    assert kinds.count("key") == 2  # the SPKI and the certificate


def test_a_bare_public_key_entry_yields_the_same_key_fingerprint() -> None:
    who = identity("bob@example.com")
    keys = index_keys(entry(who, b"x", cert=False))
    assert ("key", who.spki_sha256) in keys
    assert not [k for k, _ in keys if k == "email"]
    assert public_key_fingerprint("x509", who.public_pem()) == who.spki_sha256


def test_ssh_and_minisign_fingerprints() -> None:
    ssh = public_key_fingerprint("ssh", data("ssh/ed25519.pub"))
    assert ssh.startswith("SHA256:") and "=" not in ssh
    assert len(public_key_fingerprint("minisign", data("minisign/key.pub"))) == 16


def test_pgp_v4_fingerprint() -> None:
    assert len(public_key_fingerprint("pgp", data("pgp/ed25519.pub.asc"))) == 40


def test_key_hash_normalizes_hex_and_email_case() -> None:
    assert key_hash("sha256", "AB" * 32) == key_hash("sha256", "ab" * 32)
    assert key_hash("email", "A@B.C") == key_hash("email", "a@b.c")
    assert key_hash("uri", "https://A") != key_hash("uri", "https://a")
    assert normalize("key", "SHA256:AbC") == "SHA256:AbC"
    assert len(key_hash("uuid", "00" * 32)) == 16


def test_unreadable_bodies_never_raise() -> None:
    assert [k for k, _ in index_keys(b'{"kind":"rekord","spec":{"data":7}}')] == ["uuid"]
    assert [k for k, _ in index_keys(b"{broken")] == ["sha256", "uuid"]


def test_a_uuid_key_hash_is_the_leaf_hash_prefix() -> None:
    uuid = hashlib.sha256(b"\x00raw").hexdigest()
    assert key_hash("uuid", uuid.upper()) == bytes.fromhex(uuid)[:16]
    assert key_hash("uuid", uuid) != key_hash("sha256", uuid)
    with pytest.raises(MalformedError, match="64 hex digits"):
        key_hash("uuid", "zz" * 32)


# -- the canonical 0.0.2 body's fast path -------------------------------------------


def bodies() -> list[bytes]:
    """A stored body of every entry kind the fixtures make, and the monitor's variants
    of the hashedrekord shapes (valid and not)."""
    from tests.entries.test_hostile import _PROPOSALS
    from tests.monitor.test_monitor_fast import v2_request, variants
    from tlog.entries import admit_json

    out = [admit_json(doc).body for doc in _PROPOSALS]
    out.append(admit_json(v2_request(b"z", cert=False)).body)
    return out + variants()


def v2_mutants(body: bytes) -> list[bytes]:
    """``body`` (a 0.0.2 bare-key body) with a value that decodes oddly, or not at all."""
    digest = body.split(b'"digest":"')[1].split(b'"')[0]
    raw = body.split(b'"rawBytes":"')[1].split(b'"')[0]
    out = []
    for value in (digest, raw):
        for odd in (value.rstrip(b"="), value[:-4], value[:1], value + b"A", b"AB=="):
            out.append(body.replace(b'"' + value + b'"', b'"' + odd + b'"'))
    return out


def agree(body: bytes) -> None:
    from tlog.index.keys import _parsed_keys

    leaf = hashlib.sha256(b"\x00" + body).digest()
    general = _parsed_keys(body, leaf.hex())
    assert index_keys(body, leaf.hex()) == general
    assert index_keys(body) == general
    assert sorted(key_hashes(body, leaf)) == sorted(key_hash(k, v) for k, v in general)


def test_every_kind_of_body_gets_the_keys_of_its_parse() -> None:
    for body in bodies():
        agree(body)


def test_a_bare_key_v002_body_takes_the_fast_path_and_odd_values_agree() -> None:
    from tests.monitor.test_monitor_fast import v2_request
    from tlog.entries import admit_json
    from tlog.index.keys import _bare_key_v002

    body = admit_json(v2_request(b"z", cert=False)).body
    assert _bare_key_v002(body) is not None
    for mutant in v2_mutants(body):
        agree(mutant)
    assert _bare_key_v002(admit_json(v2_request(b"z")).body) is None  # a certificate's


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_a_changed_v002_body_gets_the_keys_of_its_parse(at: int, new: bytes) -> None:
    from tests.monitor.test_monitor_fast import v2_request
    from tlog.entries import admit_json

    body = admit_json(v2_request(b"z", cert=False)).body
    agree(body[:at] + new + body[at + len(new) :])
