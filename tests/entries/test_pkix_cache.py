"""Parsed keys and certificates: remembered only when small, and P-256's canonical form
read without re-encoding it (tlog.entries.pkix)."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlog.entries import pkix
from tlog.errors import MalformedError

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def p256() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.public_key().public_bytes(*SPKI)


def test_a_p256_key_reads_as_the_general_path_reads_it() -> None:
    for _ in range(8):
        _, der = p256()
        got = pkix._parse_spki(der)
        assert got.spki == der == got.key.public_bytes(*SPKI)
        assert got.shape == pkix.shape_of(got.key, "") == pkix._P256


def test_a_compressed_p256_point_is_still_refused() -> None:
    key, der = p256()
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    compressed = bytes([0x30, 0x39]) + der[2:24] + bytes([0x22, 0x00]) + point
    assert serialization.load_der_public_key(compressed).public_bytes(*SPKI) == der
    with pytest.raises(MalformedError, match="canonical DER"):
        pkix.key_from_spki(compressed, "key")


def big_certificate() -> bytes:
    """A self-signed certificate of more than :data:`pkix.MAX_CACHED` bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    sans = [x509.DNSName(f"host{i}.example.com") for i in range(300)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    assert len(der) > pkix.MAX_CACHED
    return der


def test_only_small_keys_and_certificates_are_remembered() -> None:
    _, der = p256()
    pkix.key_from_spki(der, "key")
    assert pkix.key_from_spki(der, "key") is pkix.key_from_spki(der, "key")
    big = big_certificate()
    before = pkix._cached_cert.cache_info().currsize
    first, second = pkix.key_from_cert(big, "cert"), pkix.key_from_cert(big, "cert")
    assert first == second and first is not second
    assert pkix._cached_cert.cache_info().currsize == before
