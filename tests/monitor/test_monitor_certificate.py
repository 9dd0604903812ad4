"""The monitor's certificate reader (tlog.monitor.certificate) takes a certificate only
when admission does (pkix.parse_certificate, certificate_key), with the same SPKI and
the same index keys as certificate_keys, whatever parts it remembered before."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tlog.entries.pkix import certificate_key, parse_certificate
from tlog.index.keys import certificate_keys, normalize
from tlog.monitor import certificate
from tlog.monitor.certificate import Parts

CA = ec.generate_private_key(ec.SECP256R1())
NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
SAN_OID = x509.ObjectIdentifier("2.5.29.17")
SKI_OID = x509.ObjectIdentifier("2.5.29.14")
ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
Result = tuple[bytes, list[tuple[str, str]]] | str


def general(der: bytes) -> Result:
    """What admission and index_keys make of ``der``: (SPKI, keys) or "refused"."""
    try:
        cert = parse_certificate(der)
        key = certificate_key(cert, der)
    except Exception:  # any refusal
        return "refused"
    return key.spki, sorted(
        {(k, normalize(k, v)) for k, v in certificate_keys(cert, der, key.spki)}
    )


def fast(der: bytes, parts: Parts) -> Result | None:
    try:
        found = certificate.read(der, parts)
    except Exception:  # any refusal
        return "refused"
    if found is None:
        return None
    key, keys = found
    return key.spki, sorted({(k, normalize(k, v)) for k, v in keys})


def build(
    extensions: list[tuple[x509.ExtensionType, bool]],
    key: object = None,
    subject: x509.Name | None = None,
) -> bytes:
    public = key if key is not None else ec.generate_private_key(ec.SECP256R1()).public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject if subject is not None else x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(minutes=10))
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical)
    return builder.sign(CA, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def utf8(oid: str, text: str) -> x509.UnrecognizedExtension:
    raw = text.encode()
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x0c" + bytes([len(raw)]) + raw)


def fulcio(san: x509.GeneralName, issuer: str = "https://issuer.example") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return build(
        [
            (x509.KeyUsage(True, *[False] * 8), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
            (x509.SubjectKeyIdentifier.from_public_key(key), False),
            (x509.SubjectAlternativeName([san]), True),
            (x509.UnrecognizedExtension(x509.ObjectIdentifier(ISSUER_V1), issuer.encode()), False),
            (utf8(ISSUER_V2, issuer), False),
        ],
        key,
    )


def agree(der: bytes, parts: Parts) -> Result | None:
    """Assert that the fast reading, if any, is the general one; return it."""
    mine = fast(der, parts)
    if mine is not None:
        assert mine == general(der)
    return mine


def test_fulcio_certificates_are_read_here_after_the_first() -> None:
    parts = Parts()
    first = fulcio(x509.RFC822Name("Alice@Example.com"))
    assert agree(first, parts) not in (None, "refused")
    for san in [x509.RFC822Name("bob@example.com"), x509.UniformResourceIdentifier("https://x/y")]:
        der = fulcio(san)
        assert agree(der, parts) not in (None, "refused")
    assert parts.unparsed  # Fulcio's issuer extensions
    assert parts.extensions  # the key usages, remembered by their bytes


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
    ],
)
def test_other_keys_agree(key: object) -> None:
    der = build([(x509.SubjectAlternativeName([x509.DNSName("a.example")]), False)], key)
    assert agree(der, Parts()) not in (None, "refused")


def test_a_duplicate_extension_is_refused_even_when_its_parts_are_known() -> None:
    parts = Parts()
    der = fulcio(x509.RFC822Name("a@example.com"))
    agree(der, parts)
    twice = der.replace(
        bytes.fromhex("2b0601040183bf300108"), bytes.fromhex("2b0601040183bf300101")
    )
    assert general(twice) == "refused"
    assert fast(twice, parts) == "refused"


def test_an_extension_unlike_the_remembered_one_is_decoded_again() -> None:
    parts = Parts()
    der = fulcio(x509.RFC822Name("a@example.com"))
    agree(der, parts)
    # the key usage's BIT STRING (03 02 07 80) made invalid: 8 unused bits
    bad = der.replace(bytes.fromhex("040403020780"), bytes.fromhex("040403020880"), 1)
    assert bad != der
    assert general(bad) == "refused"
    assert fast(bad, parts) == "refused"


def test_a_name_that_does_not_convert_is_refused_after_others_did() -> None:
    parts = Parts()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zz")])
    agree(build([], subject=name), parts)
    der = build([], subject=name)
    bad = der.replace(b"\x0c\x02zz", b"\x1f\x02zz")  # a string type cryptography lacks
    assert general(bad) == "refused"
    assert fast(bad, parts) == "refused"


def tlv(tag: int, content: bytes, form: int) -> bytes:
    """A DER element, its length in the short form if it fits (``form`` 0), else (or
    with ``form`` 1) the long one; ``form`` 2: the long form with a leading zero (BER)."""
    n = len(content)
    if n < 0x80 and not form:
        return bytes([tag, n]) + content
    size = (b"\x00" if form == 2 else b"") + n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


#: GeneralName tags: e-mail, DNS and URI names (read here), and others (left to cryptography).
TAGS = st.sampled_from([0x81, 0x82, 0x86, 0x87, 0x88, 0xA0, 0xA4, 0x80, 0x04, 0x30])
CONTENT = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=40),
    st.binary(min_size=120, max_size=300),
    st.sampled_from([b"", b"1234", b"0123456789abcdef", b"a@b", b"\xff\xfe"]),
)
#: A subject key identifier's value: an OCTET STRING, cut short, or with a byte more.
SKI = st.tuples(st.binary(max_size=30), st.integers(0, 2), st.integers(-1, 1)).map(
    lambda t: (tlv(4, t[0], t[1]) + b"\x00")[: len(tlv(4, t[0], t[1])) + t[2]]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.tuples(TAGS, CONTENT, st.integers(0, 2)), max_size=4),
    outer=st.integers(0, 2),
    cut=st.integers(0, 2),
    trailing=st.sampled_from([b"", b"", b"\x00", b"\x05\x00"]),
    warm=st.booleans(),
)
@example(names=[(0x87, b"1234", 0)], outer=0, cut=0, trailing=b"", warm=False)
@example(names=[(0x81, b"a@b", 2)], outer=0, cut=0, trailing=b"", warm=False)
@example(names=[(0x81, b"a@b", 0)], outer=2, cut=0, trailing=b"", warm=False)
@example(names=[(0x81, b"a@b", 0)], outer=0, cut=1, trailing=b"", warm=False)
@example(names=[(0x81, b"a" * 200, 0)], outer=0, cut=0, trailing=b"", warm=True)
@example(names=[(0x81, b"a" * 200, 2)], outer=0, cut=0, trailing=b"", warm=True)
def test_any_subject_alt_name_agrees(
    names: list[tuple[int, bytes, int]], outer: int, cut: int, trailing: bytes, warm: bool
) -> None:
    inner = b"".join(tlv(t, c, form) for t, c, form in names)
    san = tlv(0x30, inner[: len(inner) - cut], outer) + trailing
    check(san, tlv(4, b"k" * 20, 0), warm)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ski=st.one_of(SKI, st.binary(max_size=30)), warm=st.booleans())
def test_any_subject_key_identifier_agrees(ski: bytes, warm: bool) -> None:
    check(tlv(0x30, tlv(0x81, b"a@example.com", 0), 0), ski, warm)


def check(san: bytes, ski: bytes, warm: bool) -> None:
    """The certificate with this SAN and SKI value, read after a Fulcio certificate
    taught the reader Fulcio's unparsed OIDs (``warm``: and its SAN's bytes)."""
    parts = Parts()
    agree(fulcio(x509.RFC822Name("w@example.com")), parts)
    if not warm:
        parts.extensions.clear()
    der = build(
        [
            (x509.UnrecognizedExtension(SAN_OID, san), False),
            (x509.UnrecognizedExtension(SKI_OID, ski), False),
            (utf8(ISSUER_V2, "https://issuer.example"), False),
        ]
    )
    agree(der, parts)
    agree(der, parts)  # again, with its parts remembered


@settings(max_examples=100, deadline=None)
@given(
    v2=st.one_of(st.none(), st.binary(max_size=200)),
    v1=st.one_of(st.none(), st.binary(max_size=50)),
    email=st.emails(),
)
def test_any_oidc_issuer_agrees(v2: bytes | None, v1: bytes | None, email: str) -> None:
    exts: list[tuple[x509.ExtensionType, bool]] = [
        (x509.SubjectAlternativeName([x509.RFC822Name(email)]), False)
    ]
    if v1 is not None:
        exts.append((x509.UnrecognizedExtension(x509.ObjectIdentifier(ISSUER_V1), v1), False))
    if v2 is not None:
        exts.append((x509.UnrecognizedExtension(x509.ObjectIdentifier(ISSUER_V2), v2), False))
    parts = Parts()
    agree(build(exts), parts)
    assert agree(build(exts), parts) is not None


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_a_p256_spki_is_what_cryptography_encodes(seed: int) -> None:
    key = ec.derive_private_key(seed + 1, ec.SECP256R1()).public_key()
    der = build([], key)
    found = certificate.read(der, Parts())
    assert found is not None
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert found[0].spki == spki
    assert found[1][0] == ("key", hashlib.sha256(spki).hexdigest())


SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def sct(
    version: int, ext: bytes, hash_alg: int, sig_alg: int, sig: bytes, extra: bytes, lie: int = 0
) -> bytes:
    """An SCT (RFC 6962 §3.2) as a TLS vector; ``lie``: 1 or 2 overstate the signature's
    length or the SCT's by one."""
    sig_len = len(sig) + (lie == 1)
    body = (
        bytes([version]) + b"L" * 32 + b"\x00" * 8 + len(ext).to_bytes(2, "big") + ext
        + bytes([hash_alg, sig_alg]) + sig_len.to_bytes(2, "big") + sig + extra
    )  # fmt: skip
    return (len(body) + (lie == 2)).to_bytes(2, "big") + body


SCTS = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 1]),
        st.binary(max_size=4),
        st.integers(0, 7),
        st.integers(0, 4),
        st.binary(max_size=72),
        st.sampled_from([b"", b"", b"\x00"]),
        st.sampled_from([0, 0, 0, 1, 2]),
    ).map(lambda t: sct(*t)),
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scts=SCTS,
    cut=st.integers(0, 3),
    trailing=st.sampled_from([b"", b"", b"\x01"]),
    form=st.integers(0, 2),
    warm=st.booleans(),
)
@example(scts=[sct(0, b"", 4, 3, b"s" * 70, b"")], cut=0, trailing=b"", form=0, warm=True)
@example(scts=[sct(0, b"", 4, 3, b"s" * 70, b"", 1)], cut=0, trailing=b"", form=0, warm=True)
@example(scts=[sct(0, b"", 4, 3, b"s" * 70, b"", 2)], cut=0, trailing=b"", form=0, warm=True)
def test_any_sct_list_agrees(
    scts: list[bytes], cut: int, trailing: bytes, form: int, warm: bool
) -> None:
    listed = b"".join(scts)
    data = len(listed).to_bytes(2, "big") + listed + trailing
    value = tlv(4, data[: len(data) - cut], form)
    parts = Parts()
    agree(fulcio(x509.RFC822Name("w@example.com")), parts)
    if not warm:
        parts.extensions.clear()
    der = build(
        [
            (x509.SubjectAlternativeName([x509.RFC822Name("a@example.com")]), False),
            (x509.UnrecognizedExtension(SCT_OID, value), False),
        ]
    )
    agree(der, parts)
    agree(der, parts)


def test_a_fulcio_certificate_with_scts_is_read_here() -> None:
    parts = Parts()
    agree(fulcio(x509.RFC822Name("w@example.com")), parts)
    value = tlv(
        4,
        len(sct(0, b"", 4, 3, b"s" * 70, b"")).to_bytes(2, "big")
        + sct(0, b"", 4, 3, b"s" * 70, b""),
        0,
    )
    der = build(
        [
            (x509.SubjectAlternativeName([x509.RFC822Name("a@example.com")]), False),
            (x509.UnrecognizedExtension(SCT_OID, value), False),
        ]
    )
    assert agree(der, parts) not in (None, "refused")
    assert certificate._scts(certificate._fields(der)[3][1][2])  # type: ignore[index]


def test_big_parts_are_proved_each_time_never_remembered() -> None:
    """What is remembered is bounded in bytes: a 1.5 KB SAN (anyone can log one) is read
    right every time but not kept, where a small one is."""
    for local, kept in [("a", True), ("a" * 1500, False)]:
        parts = Parts()
        san = x509.SubjectAlternativeName([x509.RFC822Name(local + "@x.com")])
        der = build([(san, False)])
        first = agree(der, parts)
        assert first not in (None, "refused")
        assert bool(parts.extensions) == kept
        assert agree(der, parts) == first
