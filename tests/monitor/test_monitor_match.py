"""The watch list: rekor-monitor's YAML, and which entries match it."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.index.signing import ISSUER, Identity, entry, identity
from tests.monitor.logs import Harness, Log
from tlog.errors import ConfigError
from tlog.index.keys import index_keys
from tlog.monitor.config import MonitorConfig
from tlog.monitor.match import Roots, match_entry

REKOR_MONITOR_EXAMPLE = r"""
startIndex: 1000
endIndex: 2000
monitoredValues:
  certIdentities:
    - certSubject: user@domain\.com
    - certSubject: otheruser@domain\.com
      issuers:
        - https://accounts\.google\.com
        - https://github\.com/login
  subjects:
    - subject@domain\.com
  fingerprints:
    - A0B1C2D3E4F5
  fulcioExtensions:
    build-config-uri:
      - https://example.com/owner/repository/build-config.yml
  customExtensions:
    - objectIdentifier: 1.3.6.1.4.1.57264.1.9
      extensionValues: https://github.com/slsa-framework/slsa-github-generator@v1
outputIdentities: identities.txt
logInfoFile: logInfo.txt
"""
BUILD_CONFIG = "https://example.com/owner/repository/build-config.yml"
NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def test_rekor_monitors_own_example_config_loads() -> None:
    config = MonitorConfig.parse(REKOR_MONITOR_EXAMPLE)
    assert (config.start_index, config.end_index) == (1000, 2000)
    assert [c.subject.pattern for c in config.cert_identities] == [
        r"user@domain\.com",
        r"otheruser@domain\.com",
    ]
    assert len(config.cert_identities[1].issuers) == 2
    assert config.fingerprints == {"a0b1c2d3e4f5"}
    assert [(m.oid, m.values) for m in config.oid_matchers] == [
        ("1.3.6.1.4.1.57264.1.18", (BUILD_CONFIG,)),
        ("1.3.6.1.4.1.57264.1.9", ("https://github.com/slsa-framework/slsa-github-generator@v1",)),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("monitoredValues: [1]", "expected a mapping"),
        ("monitoredValues:\n  certIdentities: [{issuers: [a]}]", "certSubject is required"),
        ("monitoredValues:\n  subjects: ['(']", "bad regular expression"),
        ("monitoredValues:\n  fulcioExtensions: {nope: [a]}", "unknown 'nope'"),
        ("monitoredValues:\n  oidExtensions: [{objectIdentifier: x}]", "dotted OID"),
        ("monitoredValues:\n  digests: [md5:00]", "hex digest"),
        ("startIndex: 5\nendIndex: 4", "before startIndex"),
        ("a: [", "not YAML"),
    ],
)
def test_a_bad_config_says_which_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MonitorConfig.parse(text)


def ca_and_leaf(email: str) -> tuple[bytes, Identity]:
    """A CA certificate and an identity whose certificate it issued (Fulcio-like)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())

    def utf8(oid: str, text: str) -> x509.UnrecognizedExtension:
        return x509.UnrecognizedExtension(
            x509.ObjectIdentifier(oid), b"\x0c" + bytes([len(text)]) + text.encode()
        )

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(utf8("1.3.6.1.4.1.57264.1.8", ISSUER), critical=False)
        .add_extension(utf8("1.3.6.1.4.1.57264.1.18", BUILD_CONFIG), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = ca.public_bytes(serialization.Encoding.PEM)
    return pem, Identity(email, key, leaf.public_bytes(serialization.Encoding.PEM))


def rules(config: str, body: bytes, roots: Roots | None = None) -> list[tuple[str, bool]]:
    found = match_entry(MonitorConfig.parse(config), body, index_keys(body), roots)
    return [(m.rule, m.verified) for m in found]


def test_identities_in_certificates_the_roots_do_not_vouch_for_are_unverified() -> None:
    ca_pem, alice = ca_and_leaf("alice@example.com")
    spoof = identity("alice@example.com")  # self-signed, claiming the same identity
    roots = Roots.parse(ca_pem)
    config = "monitoredValues:\n  certIdentities: [{certSubject: ^alice@example\\.com$}]\n"
    assert rules(config, entry(alice, b"x"), roots) == [("certIdentity", True)]
    assert rules(config, entry(spoof, b"x"), roots) == [("certIdentity", False)]
    assert rules(config, entry(spoof, b"x")) == [("certIdentity", True)]  # no roots given


def test_fulcio_and_custom_extensions_match_exact_values() -> None:
    _, alice = ca_and_leaf("alice@example.com")
    body = entry(alice, b"x")
    config = f"monitoredValues:\n  fulcioExtensions: {{build-config-uri: [{BUILD_CONFIG}]}}\n"
    assert rules(config, body) == [("oidExtension", True)]
    other = "monitoredValues:\n  oidMatchers:\n    oidExtensions:\n"
    other += "      - {objectIdentifier: 1.3.6.1.4.1.57264.1.18, extensionValues: [other]}\n"
    assert rules(other, body) == []


def test_subjects_match_user_ids_but_not_certificate_names() -> None:
    alice = identity("alice@example.com")
    config = "monitoredValues:\n  subjects: [alice@example\\.com]\n"
    assert rules(config, entry(alice, b"x")) == []


def test_unverified_identities_are_their_own_kind_in_a_run(tmp_path: Path) -> None:
    ca_pem, alice = ca_and_leaf("alice@example.com")
    log = Log()
    log.signed((alice, b"a"), (identity("alice@example.com"), b"b"))
    config = "monitoredValues:\n  certIdentities: [{certSubject: ^alice@example\\.com$}]\n"
    h = Harness(log, tmp_path, config)
    assert h.run(roots=Roots.parse(ca_pem)).findings == ["match", "unverified-identity"]


def test_the_raw_fast_path_watches_the_only_keys_a_raw_entry_has() -> None:
    # The scan matches raw entries by SHA-256 alone: that must stay all index_keys gives.
    body = b"some raw entry"
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    assert index_keys(body) == [("sha256", hashlib.sha256(body).hexdigest()), ("uuid", uuid)]
