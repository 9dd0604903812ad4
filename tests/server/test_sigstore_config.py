"""``tlog sigstore-config``: entries sigstore-python's trust-config models accept."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from sigstore._internal.trust import KeyringPurpose
from sigstore.models import SigningConfig, TrustedRoot
from sigstore_models.common.v1 import PublicKeyDetails
from sigstore_models.trustroot import v1 as trustroot_v1

from tests.server.helpers import make_log, tlog
from tlog.client import load_vkeys
from tlog.note import ECDSAVerifier, Ed25519Verifier

URL = "https://log2026.example.dev"


def config(vkey: str, *extra: str) -> dict:  # type: ignore[type-arg]
    return json.loads(tlog("sigstore-config", "--log", URL, "--vkey", vkey, *extra).stdout)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519"])
def test_entries_parse_as_sigstore_trust_config(tmp_path, key_type: str) -> None:  # type: ignore[no-untyped-def]
    log = make_log(tmp_path, key_type)
    out = config(str(log.vkey), "--valid-from", "2026-01-01T00:00:00Z", "--operator", "ops")
    root = trustroot_v1.TrustedRoot.from_json(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": out["tlogs"],
                "certificateAuthorities": [],
                "ctlogs": [],
            }
        )
    )
    (tl,) = root.tlogs
    verifiers = load_vkeys([str(log.vkey)])
    principal = next(v for v in verifiers if isinstance(v, ECDSAVerifier | Ed25519Verifier))
    if key_type == "ed25519":
        assert isinstance(principal, Ed25519Verifier)
        expected_id = hashlib.sha256(f"{log.origin}\n\x01".encode() + principal.public).digest()
        assert tl.public_key.key_details == PublicKeyDetails.PKIX_ED25519
        assert (
            serialization.load_der_public_key(tl.public_key.raw_bytes).public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            == principal.public
        )
    else:
        assert isinstance(principal, ECDSAVerifier)
        expected_id = hashlib.sha256(principal.spki).digest()
        assert tl.public_key.key_details == PublicKeyDetails.PKIX_ECDSA_P256_SHA_256
        assert tl.public_key.raw_bytes == principal.spki
    assert tl.log_id.key_id == expected_id and tl.checkpoint_key_id is not None
    assert tl.checkpoint_key_id.key_id == expected_id
    assert expected_id[:4] == principal.key_id  # the hint on checkpoint signature lines
    assert tl.base_url == URL and tl.operator == "ops"
    assert tl.public_key.valid_for.start == datetime(2026, 1, 1, tzinfo=UTC)
    TrustedRoot(root).rekor_keyring(KeyringPurpose.VERIFY)  # the key loads
    signing = trustroot_v1.SigningConfig.from_json(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [{"url": "https://ca.example", "majorApiVersion": 1, "operator": "x"}],
                "rekorTlogUrls": out["rekorTlogUrls"],
            }
        )
    )
    (svc,) = signing.rekor_tlog_urls
    assert (svc.url, svc.major_api_version, svc.operator) == (URL, 2, "ops")
    (client,) = SigningConfig(signing).get_tlogs()
    assert client.url == f"{URL}/api/v2"  # type: ignore[attr-defined]


def test_valid_to_closes_both_entries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = make_log(tmp_path)
    out = config(
        str(log.vkey), "--valid-from", "2026-01-01T00:00:00Z", "--valid-to", "2026-07-01T00:00:00Z"
    )
    assert out["tlogs"][0]["publicKey"]["validFor"]["end"] == "2026-07-01T00:00:00Z"
    assert out["rekorTlogUrls"][0]["validFor"]["end"] == "2026-07-01T00:00:00Z"
    assert out["rekorTlogUrls"][0]["operator"] == "log2026.example.dev"
    backwards = ("--valid-from", "2026-02-01T00:00:00Z", "--valid-to", "2026-01-01T00:00:00Z")
    done = tlog("sigstore-config", "--log", URL, "--vkey", str(log.vkey), *backwards, check=False)
    assert done.returncode != 0 and "must be after" in done.stderr


def test_refuses_a_url_that_is_not_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = make_log(tmp_path)
    done = tlog("sigstore-config", "--log", "ftp://x", "--vkey", str(log.vkey), check=False)
    assert done.returncode != 0 and "http(s)://" in done.stderr
