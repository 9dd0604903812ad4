"""Index keys: what each kind of entry is found by (docs/index.md "Keys")."""

from __future__ import annotations

import hashlib

import pytest

from tests.entries.helpers import data
from tests.index.signing import ISSUER, entry, identity
from tlog.errors import MalformedError
from tlog.index.keys import index_keys, key_hash, normalize, public_key_fingerprint


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
